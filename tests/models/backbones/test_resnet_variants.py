"""ResNetV1d, ResNeXt and SEResNet: what each changes in ResNet, MMPose's widths and parameter
counts, and their config errors (the key layouts: test_mmpose_layouts.py)."""
import pytest
import torch

from mlpose.config import load_config, resolve_config_path
from mlpose.errors import ConfigError
from mlpose.models import ResNet, ResNetV1d, ResNeXt, SEResNet
from mlpose.models.backbones.blocks import SELayer
from mlpose.registry import MODELS, build

# MMPose 1.3.2: sum(p.numel() for p in Backbone(depth=50).parameters())
MMPOSE_PARAMS_50 = {ResNetV1d: 23_527_264, ResNeXt: 22_979_904, SEResNet: 26_039_024}


@pytest.mark.parametrize("cls", list(MMPOSE_PARAMS_50), ids=lambda c: c.__name__)
def test_depth_50_has_mmposes_parameter_count(cls):
    assert sum(p.numel() for p in cls(depth=50).parameters()) == MMPOSE_PARAMS_50[cls]


@pytest.mark.parametrize("cls", [ResNetV1d, ResNeXt, SEResNet], ids=lambda c: c.__name__)
def test_shapes_and_output_size_as_resnet(cls):
    kw = dict(groups=4, width_per_group=2) if cls is ResNeXt else {}
    model = cls(depth=50, base_channels=8, out_indices=(0, 3), **kw).eval()
    feats = model(torch.randn(2, 3, 64, 48))
    assert [tuple(f.shape[1:]) for f in feats] == [(32, 16, 12), (256, 2, 2)]
    assert model.out_channels == (32, 256) and model.output_size((48, 64)) == (2, 2)


def test_resnetv1d_is_resnet_with_deep_stem_and_avg_down():
    model = ResNetV1d(depth=50, base_channels=8)
    assert model.deep_stem and not hasattr(model, "conv1") and len(model.stem) == 3
    assert isinstance(model.layer3[0].downsample[0], torch.nn.AvgPool2d)
    same = ResNet(depth=50, base_channels=8, deep_stem=True, avg_down=True)
    assert {k: v.shape for k, v in same.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


def test_resnext_widens_the_grouped_3x3_conv():
    model = ResNeXt(depth=50)  # 32x4d
    assert [getattr(model, f"layer{i}")[0].conv2.groups for i in range(1, 5)] == [32] * 4
    assert [getattr(model, f"layer{i}")[0].conv2.in_channels for i in range(1, 5)] == [128, 256, 512, 1024]
    assert model.layer4[0].conv3.out_channels == 2048
    plain = ResNeXt(depth=50, base_channels=8, groups=1)  # MMPose: groups=1 keeps ResNet's widths
    assert plain.layer1[0].conv2.in_channels == 8 and plain.layer1[0].conv2.groups == 1


def test_seresnet_gates_every_bottleneck():
    model = SEResNet(depth=50, base_channels=8, se_ratio=4, zero_init_residual=False).eval()
    gates = [m for m in model.modules() if isinstance(m, SELayer)]
    assert len(gates) == 16 and gates[0].conv1.conv.out_channels == 32 // 4
    x = torch.randn(1, 3, 64, 48)
    before = model(x)[0]
    with torch.no_grad():  # a closed gate changes the output: the gate is on the path
        model.layer4[2].se_layer.conv2.conv.bias.fill_(-30)
    assert not torch.allclose(model(x)[0], before)


@pytest.mark.parametrize("cfg, needle", [
    (dict(type="ResNeXt", depth=18), r"ResNeXt.depth=18 is invalid; use \[50, 101, 152\]"),
    (dict(type="SEResNet", depth=34), r"SEResNet.depth=34 is invalid"),
    (dict(type="SEResNet", depth=50, se_ratio=0), "se_ratio=0 must be a positive number"),
    (dict(type="ResNeXt", depth=50, groups=0), "groups=0 and width_per_group=4 must be >= 1"),
    (dict(type="ResNetV1d", depth=50, deep_stem=False), "unexpected 'deep_stem'"),
    (dict(type="ResNeXt", depth=50, widht_per_group=4), "unexpected 'widht_per_group' \\(did you mean 'width_per_group'"),
])
def test_bad_arguments_are_one_config_error_line(cfg, needle):
    with pytest.raises(ConfigError, match=needle):
        build(cfg, MODELS, "model.backbone")


def test_config_check_at_load_sees_resnets_arguments_too(tmp_path):
    """The variants pass ResNet's arguments on; the check at load must accept and check them."""
    config = tmp_path / "se.py"
    body = "model = dict(backbone=dict(_delete_=True, type='SEResNet', depth=50, {}))"
    config.write_text(f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n" + body.format("frozen_stages=1"))
    assert load_config(config).model.backbone.frozen_stages == 1
    config.write_text(f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n" + body.format("frozen=1"))
    with pytest.raises(ConfigError, match=r"se.py: model.backbone: bad arguments for SEResNet: unexpected 'frozen'"):
        load_config(config)
