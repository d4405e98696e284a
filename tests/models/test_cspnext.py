"""CSPNeXt backbone: mmdet's layout (parameter counts, key names), shapes, freezing, errors."""
import pytest
import torch
from torch import nn

from mlpose.errors import ConfigError
from mlpose.models import CSPNeXt
from mlpose.registry import MODELS, build

# (deepen, widen) -> parameters of mmdet's CSPNeXt (P5, out_indices=(4,)) built in MMPose 1.3.2
# from the RTMPose-t/s/m/l COCO configs
MMDET_PARAMS = {(0.167, 0.375): 2_348_700, (0.33, 0.5): 4_378_320, (0.67, 0.75): 12_279_432, (1.0, 1.0): 26_138_912}
TINY = dict(deepen_factor=0.167, widen_factor=0.125)  # mmdet: 264,916 parameters, 206 state-dict keys


@pytest.mark.parametrize("factors", sorted(MMDET_PARAMS))
def test_param_count_matches_mmdet(factors):
    model = CSPNeXt(deepen_factor=factors[0], widen_factor=factors[1], out_indices=(4,), norm_cfg=dict(type="SyncBN"))
    assert sum(p.numel() for p in model.parameters()) == MMDET_PARAMS[factors]


def test_scoped_name_builds_and_key_layout_is_mmdets():
    model = build(dict(type="mmdet.CSPNeXt", out_indices=(1, 2, 3, 4), **TINY), MODELS, "model.backbone")
    keys = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == 264_916 and len(keys) == 206
    for key in ("stem.0.conv.weight", "stem.2.bn.running_var", "stage1.0.conv.weight",
                "stage1.1.main_conv.conv.weight", "stage1.1.blocks.0.conv1.conv.weight",
                "stage1.1.blocks.0.conv2.depthwise_conv.conv.weight", "stage1.1.blocks.0.conv2.pointwise_conv.bn.bias",
                "stage1.1.attention.fc.bias", "stage1.1.final_conv.bn.num_batches_tracked",
                "stage4.1.conv1.conv.weight", "stage4.1.conv2.bn.weight", "stage4.2.short_conv.conv.weight"):
        assert key in keys, key
    assert tuple(keys["stage4.1.conv2.conv.weight"].shape) == (128, 256, 1, 1)  # SPP: 4 x 64 -> 128


def test_output_shapes_channels_and_output_size():
    model = CSPNeXt(out_indices=(0, 1, 2, 3, 4), **TINY)
    feats = model(torch.randn(2, 3, 64, 48))
    assert [tuple(f.shape[1:]) for f in feats] == [(8, 32, 24), (16, 16, 12), (32, 8, 6), (64, 4, 3), (128, 2, 2)]
    assert model.out_channels == (8, 16, 32, 64, 128)
    assert model.output_size((48, 64)) == (2, 2) and model.output_size((192, 256)) == (6, 8)


def test_norm_and_activation_configs():
    sync = CSPNeXt(norm_cfg=dict(type="SyncBN"), act_cfg=dict(type="ReLU"), **TINY)
    bn = sync.stem[0].bn
    assert isinstance(bn, nn.BatchNorm2d) and bn.eps == 1e-5 and bn.momentum == 0.1
    assert isinstance(sync.stem[0].activate, nn.ReLU)
    default = CSPNeXt(**TINY).stem[0].bn  # mmdet's default BN settings
    assert default.eps == 1e-3 and default.momentum == 0.03
    assert not CSPNeXt(norm_cfg=dict(type="BN", requires_grad=False), **TINY).stem[0].bn.weight.requires_grad


def test_frozen_stages_and_norm_eval():
    model = CSPNeXt(frozen_stages=1, norm_eval=True, **TINY).train()
    assert not any(p.requires_grad for p in model.stem.parameters())
    assert not any(p.requires_grad for p in model.stage1.parameters())
    assert all(p.requires_grad for p in model.stage2.parameters())
    assert not model.stage1.training and model.stage2.training
    assert all(not m.training for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    stats = model.stage3[0].bn.running_mean.clone()
    model(torch.randn(2, 3, 64, 48))
    assert torch.equal(stats, model.stage3[0].bn.running_mean)


def test_depthwise_and_p6():
    model = CSPNeXt(arch="P6", use_depthwise=True, out_indices=(5,), **TINY)
    assert model.eval()(torch.randn(1, 3, 64, 64))[0].shape == (1, 128, 1, 1)
    assert hasattr(model.stage1[0], "depthwise_conv")


@pytest.mark.parametrize("bad", [dict(arch="P7"), dict(out_indices=(5,)), dict(frozen_stages=5),
                                 dict(norm_cfg=dict(type="GN")), dict(act_cfg=dict(type="GELU")),
                                 dict(conv_cfg=dict(type="DCN")), dict(widen_factor=0),
                                 dict(init_cfg=dict(type="Kaiming"))])
def test_bad_arguments_raise_config_error(bad):
    with pytest.raises(ConfigError):
        CSPNeXt(**(TINY | bad))
