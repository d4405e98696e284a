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


def _backbone(cfg: dict) -> dict:
    """A pose model's backbone weights (``backbone.`` prefixed), without the head."""
    model = build(cfg, MODELS, "model.backbone")
    return {f"backbone.{k}": v for k, v in model.state_dict().items()}


def _hrnet(width: int) -> dict:
    w = (width, 2 * width, 4 * width, 8 * width)
    stage = lambda n: dict(num_modules=1, num_branches=n, block="BASIC", num_blocks=(1,) * n, num_channels=w[:n])  # noqa: E731
    extra = dict(stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(4,), num_channels=(8,)),
                 stage2=stage(2), stage3=stage(3), stage4=stage(4))
    return dict(type="HRNet", extra=extra)


RES50 = dict(type="ResNet", depth=50, base_channels=8)


@pytest.mark.parametrize("file_cfg, model_cfg, families", [
    (_hrnet(4), RES50, ("HRNet", "ResNet")),
    (RES50, _hrnet(4), ("ResNet", "HRNet")),
    (dict(type="ResNeXt", depth=50, base_channels=8, groups=4, width_per_group=4), RES50, ("ResNeXt", "ResNet")),
    (dict(type="SEResNet", depth=50, base_channels=8), dict(type="ResNetV1d", depth=50, base_channels=8),
     ("SEResNet", "ResNetV1d")),
])
def test_a_checkpoint_of_another_backbone_family_names_both(file_cfg, model_cfg, families):
    line = weight_mismatch(_backbone(model_cfg), _backbone(file_cfg))
    assert f"the file's backbone is {families[0]}, the model's is {families[1]} (model.backbone.type)" in line
    assert "depth" not in line and "\n" not in line  # an HRNet's layer1 is no ResNet depth


def test_hrnet_of_another_width_names_the_width():
    line = weight_mismatch(_backbone(_hrnet(4)), _backbone(_hrnet(6)))
    assert "HRNet width 6 in the file vs 4 (model.backbone.extra.stage2-4.num_channels)" in line
    assert "family" not in line and "depth" not in line


def test_resnetv1d_of_another_depth_names_the_depth():
    v1d = lambda depth: dict(type="ResNetV1d", depth=depth, base_channels=8)  # noqa: E731
    line = weight_mismatch(_backbone(v1d(50)), _backbone(v1d(101)))
    assert "backbone depth 101 in the file vs 50 (model.backbone.depth)" in line and "backbone is" not in line
