"""ResNet backbone: shapes and widths per depth, freezing, config errors, trainability."""
import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.models import ResNet
from mlpose.models.backbones.resnet import BasicBlock, Bottleneck
from mlpose.registry import MODELS, build

# Widths of the last stage at base_channels=64 (torchvision's resnetN without fc).
LAST_WIDTH = {18: 512, 34: 512, 50: 2048, 101: 2048, 152: 2048}
# Parameter counts of torchvision's resnetN minus its 1000-class fc layer.
TORCHVISION_PARAMS_NO_FC = {
    18: 11_689_512 - 513_000,
    34: 21_797_672 - 513_000,
    50: 25_557_032 - 2_049_000,
    101: 44_549_160 - 2_049_000,
    152: 60_192_808 - 2_049_000,
}


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_forward_shape_every_depth(depth):
    base = 64 if depth < 50 else 16
    model = build(dict(type="ResNet", depth=depth, base_channels=base), MODELS, "backbone")
    (feat,) = model(torch.randn(2, 3, 64, 48))
    expected_c = LAST_WIDTH[depth] * base // 64
    assert feat.shape == (2, expected_c, 2, 2)  # 64x48 / 32, rounded up by the paddings
    assert model.out_channels == (expected_c,)


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_param_count_matches_torchvision(depth):
    model = ResNet(depth)
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS_NO_FC[depth]


def test_block_types_and_stage_lengths():
    r50 = ResNet(50, base_channels=8)
    assert [len(getattr(r50, f"layer{i}")) for i in range(1, 5)] == [3, 4, 6, 3]
    assert isinstance(r50.layer1[0], Bottleneck)
    assert isinstance(ResNet(34, base_channels=8).layer3[5], BasicBlock)


def test_out_indices_and_num_stages():
    model = ResNet(18, base_channels=8, out_indices=(0, 1, 2, 3))
    feats = model(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(8, 16, 16), (16, 8, 8), (32, 4, 4), (64, 2, 2)]
    short = ResNet(18, base_channels=8, num_stages=2, out_indices=(1,))
    assert not hasattr(short, "layer3")
    assert short(torch.randn(1, 3, 64, 64))[0].shape == (1, 16, 8, 8)


def test_strides_change_resolution():
    model = ResNet(18, base_channels=8, strides=(1, 2, 2, 1))
    assert model(torch.randn(1, 3, 64, 64))[0].shape[-2:] == (4, 4)


def test_half_width_resnet18_is_about_a_quarter_of_the_params():
    full = sum(p.numel() for p in ResNet(18).parameters())
    half = sum(p.numel() for p in ResNet(18, base_channels=32).parameters())
    assert ResNet(18, base_channels=32).conv1.out_channels == 32
    assert 0.24 < half / full < 0.26


def test_zero_init_residual_makes_blocks_start_as_identity():
    model = ResNet(50, base_channels=8)
    assert torch.all(model.layer1[0].bn3.weight == 0)
    assert torch.all(model.bn1.weight == 1)
    assert torch.all(ResNet(50, base_channels=8, zero_init_residual=False).layer1[0].bn3.weight == 1)


def test_frozen_stages_freeze_weights_and_bn_statistics():
    model = ResNet(18, base_channels=8, frozen_stages=1).train()
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert not model.bn1.training and not model.layer1[0].bn1.training
    assert model.layer2[0].bn1.training
    before = model.layer1[0].bn1.running_mean.clone()
    model(torch.randn(2, 3, 64, 64))
    assert torch.equal(model.layer1[0].bn1.running_mean, before)


def test_norm_eval_keeps_every_bn_in_eval_mode():
    model = ResNet(18, base_channels=8, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert model.conv1.weight.requires_grad  # norm_eval does not freeze weights


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        (dict(depth=20), "depth=20"),
        (dict(depth=18, num_stages=5), "num_stages"),
        (dict(depth=18, out_indices=(4,)), "out_indices"),
        (dict(depth=18, frozen_stages=7), "frozen_stages"),
        (dict(depth=18, init_cfg=dict(type="Kaiming")), "Pretrained"),
    ],
)
def test_bad_config_raises_config_error(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        build(dict(type="ResNet", **kwargs), MODELS, "model.backbone")


@pytest.mark.parametrize("size", [(48, 64), (37, 53), (192, 256)])
@pytest.mark.parametrize("strides", [(1, 2, 2, 2), (1, 2, 1, 1)])
def test_output_size_matches_forward(size, strides):
    model = ResNet(18, base_channels=4, strides=strides, out_indices=(2, 3)).eval()
    feat = model(torch.zeros(1, 3, size[1], size[0]))[-1]
    assert model.output_size(size) == (feat.shape[-1], feat.shape[-2])


def test_deep_stem_is_three_3x3_convs_and_freezes_with_stage_0():
    model = ResNet(18, base_channels=8, deep_stem=True, frozen_stages=0).train()
    assert not hasattr(model, "conv1")
    assert [m.conv.weight.shape[:3] for m in model.stem] == [(4, 3, 3), (4, 4, 3), (8, 4, 3)]
    assert not any(p.requires_grad for p in model.stem.parameters()) and not model.stem[0].bn.training
    assert model.layer1[0].conv1.weight.requires_grad
    assert model(torch.randn(1, 3, 64, 48))[0].shape == (1, 64, 2, 2)


def test_avg_down_pools_before_a_stride_1_projection():
    model = ResNet(50, base_channels=8, avg_down=True)
    pool, conv, _ = model.layer2[0].downsample
    assert isinstance(pool, torch.nn.AvgPool2d) and conv.stride == (1, 1)
    assert isinstance(model.layer1[0].downsample[0], torch.nn.Conv2d)  # stride 1: no pooling
    for size in [(48, 64), (37, 53)]:
        feat = model(torch.zeros(1, 3, size[1], size[0]))[-1]
        assert model.output_size(size) == (feat.shape[-1], feat.shape[-2])


def _saved_tensors(model, x) -> int:
    count = 0

    def pack(t):
        nonlocal count
        count += 1
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)[0]
    out.sum().backward()
    return count


def test_with_cp_stores_fewer_activations_and_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = ResNet(18, base_channels=4, zero_init_residual=False).train()
    cp = ResNet(18, base_channels=4, zero_init_residual=False, with_cp=True).train()
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    assert _saved_tensors(cp, x) < _saved_tensors(plain, x) / 2
    grads = [p.grad for p in plain.parameters()]
    assert all(torch.allclose(a, p.grad, atol=1e-5) for a, p in zip(grads, cp.parameters()))
