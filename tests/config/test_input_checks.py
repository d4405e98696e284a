"""Load-time checks of issue 15: ranges, --cfg-options splitting, component arguments, typos."""
import logging

import pytest

from mlpose.cli import _options
from mlpose.config import load_config, parse_options, split_options
from mlpose.config.typos import edit_distance, suspect_names
from mlpose.errors import ConfigError


@pytest.mark.parametrize("option, key", [
    ("train_dataloader.batch_size=-4", "train_dataloader.batch_size=-4"),
    ("train_dataloader.batch_size=0", "train_dataloader.batch_size=0"),
    ("train_cfg.max_epochs=-1", "train_cfg.max_epochs=-1"),
    ("train_cfg.max_epochs=0", "train_cfg.max_epochs=0"),
    ("val_dataloader.batch_size=0", "val_dataloader.batch_size=0"),
])
def test_counts_below_their_minimum_fail_at_load(option, key):
    with pytest.raises(ConfigError, match=f"tiny.py: {key} is out of range") as err:
        load_config("tiny", [option])
    assert "\n" not in str(err.value) and "1 or more" in str(err.value)


def test_positive_counts_load():
    cfg = load_config("tiny", ["train_dataloader.batch_size=1", "train_cfg.max_epochs=1"])
    assert (cfg.train_dataloader.batch_size, cfg.train_cfg.max_epochs) == (1, 1)


def test_cfg_options_split_only_at_top_level_white_space():
    assert split_options("a=1  key=[(a,b), [1,2], false] c='x y'") == ["a=1", "key=[(a,b), [1,2], false]", "c='x y'"]
    assert parse_options(_options(("key=[(a,b), [1,2], false]",))) == {"key": [("a", "b"), [1, 2], False]}
    with pytest.raises(ConfigError, match="unbalanced"):
        parse_options(_options(("key=[(a,b), [1,2]",)))


def test_a_constructor_argument_is_not_a_typo_but_a_misspelt_one_is():
    cfg = load_config("tiny", ["test_evaluator.nms_mode=none", "model.head.loss.use_target_weight=false"])
    assert cfg.test_evaluator.nms_mode == "none"
    with pytest.raises(ConfigError, match="closest existing keys: test_evaluator.nms_mode"):
        load_config("tiny", ["test_evaluator.nms_mod=none"])


def test_edit_distance_counts_a_swap_as_one():
    assert edit_distance("trian_cfg", "train_cfg") == 1
    assert edit_distance("modle", "model") == 1 and edit_distance("codec", "model") == 2


def test_misspelt_sections_are_suspects_and_free_variables_are_not():
    names = ["trian_cfg", "optim_wraper", "tracknig", "codec", "data_root", "train_pipeline", "my_lr", "base_lr"]
    assert suspect_names(names) == [("trian_cfg", "train_cfg"), ("optim_wraper", "optim_wrapper"),
                                    ("tracknig", "tracking")]


@pytest.fixture
def typo_config(tmp_path):
    from mlpose.config import resolve_config_path

    path = tmp_path / "typo.py"
    path.write_text(f"_base_ = [{str(resolve_config_path('tiny').resolve())!r}]\ntrian_cfg = dict(max_epochs=1)\n")
    return path


def test_a_misspelt_section_warns_and_fails_when_strict(typo_config, caplog):
    log = logging.getLogger("mlpose")
    extra = [] if log.propagate else [caplog.handler]
    for handler in extra:
        log.addHandler(handler)
    try:
        cfg = load_config(typo_config)
    finally:
        for handler in extra:
            log.removeHandler(handler)
    assert cfg.train_cfg.max_epochs != 1  # what the user did not get
    (warning,) = [r.getMessage() for r in caplog.records if "trian_cfg" in r.getMessage()]
    assert "did you mean 'train_cfg'" in warning and str(typo_config) in warning
    with pytest.raises(ConfigError, match="trian_cfg.*did you mean 'train_cfg'"):
        load_config(typo_config, strict=True)
    with pytest.raises(ConfigError, match="trian_cfg"):
        load_config(typo_config, ["strict_config=True"])
