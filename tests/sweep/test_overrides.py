"""An override that every trial replaces is an error naming the sweep key to use instead."""
import pytest

from mlpose.config import load_config
from mlpose.errors import ConfigError
from mlpose.sweep.overrides import check_overrides
from mlpose.sweep.space import parse_sweep


@pytest.fixture(scope="module")
def spec():
    cfg = load_config("tiny-sweep")
    return parse_sweep(cfg, cfg.filename)


def test_max_epochs_override_names_sweep_max_epochs(spec):
    with pytest.raises(ConfigError, match=r"train_cfg.max_epochs=1: every trial trains sweep.max_epochs=10 "
                                          r"epochs.*use --cfg-options sweep.max_epochs=1 instead"):
        check_overrides(spec, ["train_cfg.max_epochs=1"])


def test_a_searched_key_cannot_be_overridden(spec):
    with pytest.raises(ConfigError, match="optim_wrapper.optimizer.lr is searched"):
        check_overrides(spec, ["optim_wrapper.optimizer.lr=0.1"])


def test_other_overrides_and_sweep_keys_pass(spec):
    check_overrides(spec, ["train_dataloader.batch_size=4", "sweep.max_epochs=1"])
