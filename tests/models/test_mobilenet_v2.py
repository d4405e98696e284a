"""MobileNetV2 backbone: MMPose's layout (parameter counts, keys), shapes, freezing, errors."""
import pytest
import torch
from torch import nn

from mlpose.errors import ConfigError
from mlpose.models import MobileNetV2
from mlpose.models.backbones.mobilenet_v2 import make_divisible
from mlpose.registry import MODELS, build

# widen_factor -> parameters of MMPose's MobileNetV2 (out_indices=(7,)), built in MMPose 1.3.2
MMPOSE_PARAMS = {1.0: 2_223_872, 0.25: 238_112, 1.5: 4_937_152}


@pytest.mark.parametrize("widen", sorted(MMPOSE_PARAMS))
def test_param_count_matches_mmpose(widen):
    model = MobileNetV2(widen_factor=widen)
    assert sum(p.numel() for p in model.parameters()) == MMPOSE_PARAMS[widen]


def test_shapes_of_every_output_and_key_names():
    model = build(dict(type="MobileNetV2", widen_factor=0.25, out_indices=range(8)), MODELS, "model.backbone")
    feats = model(torch.randn(1, 3, 64, 48))
    assert [tuple(f.shape[1:]) for f in feats] == [(8, 32, 24), (8, 16, 12), (8, 8, 6), (16, 4, 3), (24, 4, 3),
                                                   (40, 2, 2), (80, 2, 2), (1280, 2, 2)]
    assert model.output_size((48, 64)) == (2, 2) and model.out_channels[-1] == 1280
    keys = model.state_dict()
    for key in ("conv1.conv.weight", "conv1.bn.running_mean", "layer1.0.conv.0.conv.weight",
                "layer2.0.conv.2.bn.bias", "layer7.0.conv.1.conv.weight", "conv2.conv.weight"):
        assert key in keys, key
    assert "layer1.0.conv.2.conv.weight" not in keys  # expand_ratio 1: no expansion conv


def test_make_divisible():
    assert [make_divisible(v, 8) for v in (32, 8, 3.5, 60, 52)] == [32, 8, 8, 64, 56]


def test_frozen_stages_and_norm_eval():
    model = MobileNetV2(widen_factor=0.25, frozen_stages=2, norm_eval=True).train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer2.parameters())
    assert all(p.requires_grad for p in model.layer3.parameters())
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("bad", [dict(out_indices=(8,)), dict(frozen_stages=8), dict(with_cp=True),
                                 dict(widen_factor=0), dict(norm_cfg=dict(type="LN"))])
def test_bad_arguments_raise_config_error(bad):
    with pytest.raises(ConfigError):
        MobileNetV2(**bad)
