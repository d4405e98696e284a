"""HRNet: MMPose's architecture from ``extra``, shapes per branch, freezing, init, config errors."""
import copy

import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.models import HRNet
from mlpose.models.backbones.blocks import BasicBlock, Bottleneck
from mlpose.registry import MODELS, build


def extra(width: int = 4, blocks: int = 1, modules: int = 1, stem_width: int = 8) -> dict:
    """MMPose's HRNet-W{width} ``extra`` (W32: width 32, blocks 4, modules (1, 4, 3), stem 64)."""
    w = (width, 2 * width, 4 * width, 8 * width)
    mods = (1, 4, 3) if modules == "mmpose" else (modules,) * 3
    return dict(
        stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(blocks,), num_channels=(stem_width,)),
        stage2=dict(num_modules=mods[0], num_branches=2, block="BASIC", num_blocks=(blocks,) * 2, num_channels=w[:2]),
        stage3=dict(num_modules=mods[1], num_branches=3, block="BASIC", num_blocks=(blocks,) * 3, num_channels=w[:3]),
        stage4=dict(num_modules=mods[2], num_branches=4, block="BASIC", num_blocks=(blocks,) * 4, num_channels=w))


def test_w32_has_mmposes_parameter_count():
    # MMPose 1.3.2: sum(p.numel() for p in HRNet(extra).parameters()) (W48: 63_594_912, the proof
    # against MMPose in benchmarks/zoo_weights.py covers it; building it here costs seconds)
    w32 = HRNet(extra(32, 4, "mmpose", 64))
    assert sum(p.numel() for p in w32.parameters()) == 28_535_552 and w32.out_channels == (32,)
    assert len(w32.stage3) == 4 and len(w32.stage4) == 3 and isinstance(w32.layer1[0], Bottleneck)


def test_output_is_the_highest_resolution_branch_at_a_quarter_of_the_input():
    model = HRNet(extra()).eval()
    (feat,) = model(torch.randn(2, 3, 64, 96))
    assert feat.shape == (2, 4, 16, 24) and model.output_size((96, 64)) == (24, 16)
    assert len(model.stage4[-1].fuse_layers) == 1  # the last module fuses into branch 0 only


def test_multiscale_output_returns_every_branch():
    cfg = extra()
    cfg["stage4"]["multiscale_output"] = True
    model = HRNet(cfg).eval()
    feats = model(torch.randn(1, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in feats] == [(4, 16, 16), (8, 8, 8), (16, 4, 4), (32, 2, 2)]
    assert model.out_channels == (4, 8, 16, 32) and model.output_size((64, 64)) == (2, 2)


def test_every_branch_reaches_the_output():
    """Fusion works: a change confined to the coarsest branch moves the high-resolution output."""
    torch.manual_seed(0)
    model = HRNet(extra()).eval()
    for m in model.modules():  # unit-scale weights: MMPose's N(0, 0.001) init all but zeroes the output
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight)
    x = torch.randn(1, 3, 64, 64)
    before = model(x)[0]
    with torch.no_grad():
        model.stage4[0].branches[3][0].conv2.weight.mul_(3)
    assert (model(x)[0] - before).abs().max() > 1e-3 * before.abs().max()


def test_bilinear_upsample_setting_is_used():
    cfg = dict(extra(), upsample=dict(mode="bilinear", align_corners=False))
    up = HRNet(cfg).stage2[0].fuse_layers[0][1][2]
    assert isinstance(up, torch.nn.Upsample) and up.mode == "bilinear" and up.scale_factor == 2.0


def test_init_is_mmposes_normal_0001_and_zero_init_residual_is_optional():
    model = HRNet(extra(8))
    assert abs(model.conv1.weight.std().item() - 0.001) < 3e-4
    assert torch.all(model.bn1.weight == 1)
    assert torch.all(model.stage2[0].branches[0][0].bn2.weight == 1)
    zero = HRNet(extra(8), zero_init_residual=True)
    assert torch.all(zero.stage2[0].branches[0][0].bn2.weight == 0) and torch.all(zero.layer1[0].bn3.weight == 0)


def test_frozen_stages_freeze_stem_stages_and_their_transitions():
    model = HRNet(extra(), frozen_stages=2).train()
    frozen = [model.conv1, model.bn2, model.layer1, model.transition1, model.stage2, model.transition2]
    assert not any(p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in (model.stage3, model.stage4, model.transition3) for p in m.parameters())
    assert not model.stage2[0].branches[0][0].bn1.training and model.stage3[0].branches[0][0].bn1.training
    before = model.layer1[0].bn1.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(model.layer1[0].bn1.running_mean, before)


def test_norm_eval_keeps_every_bn_in_eval_mode():
    model = HRNet(extra(), norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns) and model.conv1.weight.requires_grad


def test_with_cp_reaches_every_residual_block():
    """The blocks' checkpointing itself is tested with ResNet (tests/models/backbones/test_resnet.py)."""
    blocks = [m for m in HRNet(extra(), with_cp=True).modules() if isinstance(m, (BasicBlock, Bottleneck))]
    assert len(blocks) == 1 + 2 + 3 + 4 and all(b.with_cp for b in blocks)
    assert not any(b.with_cp for b in HRNet(extra()).modules() if isinstance(b, (BasicBlock, Bottleneck)))


def test_init_weights_takes_the_backbone_of_a_pose_checkpoint(tmp_path):
    source = HRNet(extra())
    torch.save({"state_dict": {f"backbone.{k}": v + 1 for k, v in source.state_dict().items()}}, tmp_path / "pose.pth")
    model = HRNet(extra(), init_cfg=dict(type="Pretrained", checkpoint=str(tmp_path / "pose.pth")))
    model.init_weights()
    assert torch.equal(model.stage4[0].branches[3][0].conv1.weight, source.stage4[0].branches[3][0].conv1.weight + 1)


def _edit(path: str, value) -> dict:
    cfg = copy.deepcopy(extra())
    *parents, last = path.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return cfg


@pytest.mark.parametrize("cfg, needle", [
    (_edit("stage4", None), "HRNet.extra.stage4 is missing"),
    (_edit("stage5", dict(num_modules=1)), "unknown key 'stage5'"),
    (_edit("stage2.block", "BOTTLE"), r"stage2.block='BOTTLE'; use one of BASIC, BOTTLENECK"),
    (_edit("stage3.num_blocks", (1, 1)), "stage3: num_branches=3 needs that many num_blocks"),
    (_edit("stage2.multiscale_output", True), "stage2: unknown key 'multiscale_output'"),
    (_edit("stage3.num_channels", None), "stage3: missing 'num_channels'"),
    (_edit("stage1.num_modules", 2), "stage1: only num_modules=1, num_branches=1"),
    (_edit("stage2.num_modules", 0), "stage2.num_modules=0 must be a positive integer"),
    (_edit("upsample", dict(mode="bicubic")), "upsample=.*use dict\\(mode=one of"),
])
def test_bad_extra_is_one_config_error_line(cfg, needle):
    with pytest.raises(ConfigError, match=needle) as err:
        build(dict(type="HRNet", extra=cfg), MODELS, "model.backbone")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("kwargs, needle", [
    (dict(frozen_stages=5), "frozen_stages=5 must be in -1..4"),
    (dict(norm_cfg=dict(type="SyncBN")), "unexpected 'norm_cfg'"),
    (dict(init_cfg=dict(type="Normal")), "Pretrained"),
])
def test_bad_arguments_are_config_errors(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        build(dict(type="HRNet", extra=extra(), **kwargs), MODELS, "model.backbone")
