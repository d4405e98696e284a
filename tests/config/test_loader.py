"""Config files: _base_ chains, _delete_, base references, formats, round trip, file errors."""
import json
import textwrap

import pytest

from mlpose.config import dump_config, load_config, resolve_config_path
from mlpose.errors import ConfigError


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def chain(tmp_path):
    """Three-deep _base_ chain: c.py -> b.py -> a.py (+ a yaml sibling base)."""
    (tmp_path / "base").mkdir()
    write(tmp_path / "base" / "a.py", """
        model = dict(backbone=dict(depth=50, frozen_stages=-1), head=dict(in_channels=2048, out_channels=17))
        optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4, weight_decay=0.0))
        max_epochs = 210
        pipeline = [dict(type='A'), dict(type='B')]
    """)
    write(tmp_path / "base" / "extra.yaml", "tracking:\n  uri: null\n  experiment: demo\n")
    write(tmp_path / "b.py", """
        _base_ = ['base/a.py', 'base/extra.yaml']
        model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
    """)
    return write(tmp_path / "c.py", """
        _base_ = 'b.py'
        optim_wrapper = dict(optimizer=dict(_delete_=True, type='SGD', lr=0.1))
        pipeline = _base_.pipeline[:1]
        epochs_copy = {{_base_.max_epochs}} + 1
        head = _base_.model.head
    """)


def test_three_deep_chain_merges(chain):
    cfg = load_config(chain, check=False)
    assert cfg.model.backbone == {"depth": 18, "frozen_stages": -1}
    assert cfg.model.head == {"in_channels": 512, "out_channels": 17}
    assert cfg.tracking.experiment == "demo"
    assert cfg.max_epochs == 210


def test_delete_replaces_instead_of_merging(chain):
    cfg = load_config(chain, check=False)
    assert cfg.optim_wrapper.optimizer == {"type": "SGD", "lr": 0.1}  # no weight_decay inherited


def test_base_references(chain):
    cfg = load_config(chain, check=False)
    assert cfg.pipeline == [{"type": "A"}]
    assert cfg.epochs_copy == 211
    assert cfg.head.in_channels == 512  # sees the merged base (b over a)


def test_round_trip_py_json_yaml(chain, tmp_path):
    cfg = load_config(chain, check=False)
    back = load_config(dump_config(cfg, tmp_path / "out" / "resolved.py"), check=False)
    assert back.to_dict() == cfg.to_dict()
    norm = json.loads(json.dumps(cfg.to_dict()))  # tuples -> lists
    for suffix in ("json", "yaml"):
        again = load_config(dump_config(cfg, tmp_path / "out" / f"resolved.{suffix}"), check=False)
        assert again.to_dict() == norm


def test_tuples_survive_py_dump(tmp_path):
    src = write(tmp_path / "t.py", "codec = dict(input_size=(192, 256), sigma=2.0)\n")
    back = load_config(dump_config(load_config(src, check=False), tmp_path / "r.py"), check=False)
    assert back.codec.input_size == (192, 256)


def test_syntax_error_names_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.py", "a = 1\nmodel = dict(type='X',\n\nb = 2\n")
    with pytest.raises(ConfigError, match=r"bad\.py:\d+: syntax error"):
        load_config(bad, check=False)


def test_runtime_error_names_file_and_line(tmp_path):
    bad = write(tmp_path / "bad.py", "a = 1\nb = undefined_name + 1\n")
    with pytest.raises(ConfigError, match=r"bad\.py:2: NameError"):
        load_config(bad, check=False)


def test_missing_base_and_unknown_base_key(tmp_path):
    with pytest.raises(ConfigError, match="_base_ file 'nope.py' not found"):
        load_config(write(tmp_path / "x.py", "_base_ = ['nope.py']\n"), check=False)
    write(tmp_path / "a.py", "x = 1\n")
    with pytest.raises(ConfigError, match=r"_base_\.y is not defined"):
        load_config(write(tmp_path / "y.py", "_base_ = 'a.py'\nz = _base_.y\n"), check=False)


def test_bad_yaml_and_json_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"c\.json:1: cannot parse json"):
        load_config(write(tmp_path / "c.json", "{bad json"), check=False)
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: cannot parse yaml"):
        load_config(write(tmp_path / "c.yaml", "a: [1, 2\nb: c: d\n"), check=False)


def test_short_names_resolve_to_experiments():
    assert resolve_config_path("res50").name == "res50.py"
    cfg = load_config("res50", check=False)
    assert cfg.model.backbone.depth == 50 and cfg.name == "res50"
    with pytest.raises(ConfigError, match="not found.*known names:.*res50"):
        resolve_config_path("res5O")


def test_cfg_options_applied_after_merge(chain):
    cfg = load_config(chain, ["model.backbone.depth=34", "pipeline.0.type=Z"], check=False)
    assert cfg.model.backbone.depth == 34 and cfg.pipeline[0].type == "Z"
