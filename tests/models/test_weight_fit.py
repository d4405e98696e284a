"""A checkpoint of another architecture is explained in one line: tensors, shapes, likely setting."""
import pytest

from mlpose.config import load_config
from mlpose.engine.checkpointer import ModelState
from mlpose.errors import ConfigError
from mlpose.models.weight_fit import weight_mismatch
from mlpose.registry import MODELS, build


def _model(name, **over):
    cfg = load_config(name, [f"{k}={v}" for k, v in over.items()])
    return build(cfg.model, MODELS, "model")


def test_res50_into_tiny_names_tensors_shapes_and_depth_and_width():
    tiny, res50 = _model("tiny"), _model("res50")
    line = weight_mismatch(tiny.state_dict(), res50.state_dict())
    assert "\n" not in line and len(line) < 700
    assert "backbone.conv1.weight [64,3,7,7] in the file vs [32,3,7,7] in the model" in line
    assert "backbone depth 50 in the file vs 18 (model.backbone.depth)" in line
    assert "width 64 in the file vs 32 (model.backbone.base_channels)" in line
    with pytest.raises(ConfigError, match="tensors differ in shape"):
        ModelState(tiny).load_state_dict(res50.state_dict())


def test_other_keypoint_count_is_named():
    a, b = _model("tiny"), _model("tiny", **{"model.head.out_channels": 14})
    line = weight_mismatch(a.state_dict(), b.state_dict())
    assert "2 tensors differ" in line and "14 keypoints in the file vs 17 (model.head.out_channels)" in line


def test_fitting_weights_load():
    a, b = _model("tiny"), _model("tiny")
    assert weight_mismatch(a.state_dict(), b.state_dict()) is None
    ModelState(a).load_state_dict(b.state_dict())
