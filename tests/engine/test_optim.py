import pytest
import torch
from torch import nn

from mlpose.engine.optim import (OptimWrapperSpec, auto_scale_lr, build_optimizer, make_grad_clipper,
                                 parse_optim_wrapper)
from mlpose.errors import ConfigError
from mlpose.registry import OPTIMIZERS


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.backbone.layer1 = nn.Conv2d(4, 4, 1)
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.backbone.layer1(self.backbone(x)))


def _groups_by_param(opt):
    return {id(p): g for g in opt.param_groups for p in g["params"]}


def test_registered_optimizers():
    assert {"Adam", "AdamW", "SGD"} <= set(OPTIMIZERS.names())


def test_custom_keys_longest_match_and_multipliers():
    torch.manual_seed(0)
    model = Tiny()
    cfg = dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=1e-4),
               paramwise_cfg=dict(custom_keys={"backbone": dict(lr_mult=0.1),
                                               "backbone.layer1": dict(lr_mult=0.5, decay_mult=0.0)}))
    opt = build_optimizer(model, cfg)
    assert isinstance(opt, torch.optim.SGD)
    by = _groups_by_param(opt)
    g_bb, g_l1, g_head = by[id(model.backbone[0].weight)], by[id(model.backbone.layer1.weight)], by[id(model.head.weight)]
    assert g_bb["lr"] == pytest.approx(0.01) and g_bb["weight_decay"] == pytest.approx(1e-4)
    assert g_l1["lr"] == pytest.approx(0.05) and g_l1["weight_decay"] == 0.0
    assert g_head["lr"] == pytest.approx(0.1) and g_head["lr_mult"] == 1.0
    for g in opt.param_groups:
        assert g["initial_lr"] == g["lr"]
    # same settings share a group: backbone conv and BN are one group
    assert by[id(model.backbone[1].weight)] is g_bb
    assert len(opt.param_groups) == 3
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_norm_and_bias_decay_mult_apply_only_without_custom_key():
    model = Tiny()
    cfg = dict(optimizer=dict(type="AdamW", lr=1e-3, weight_decay=0.05),
               paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.5,
                                  custom_keys={"head": dict(lr_mult=2.0)}))
    by = _groups_by_param(build_optimizer(model, cfg))
    assert by[id(model.backbone[1].weight)]["weight_decay"] == 0.0  # BN
    assert by[id(model.backbone[0].bias)]["weight_decay"] == pytest.approx(0.025)
    assert by[id(model.backbone[0].weight)]["weight_decay"] == pytest.approx(0.05)
    assert by[id(model.head.bias)]["weight_decay"] == pytest.approx(0.05)  # custom key wins


def test_adamw_default_weight_decay_scaled_by_decay_mult():
    model = Tiny()
    cfg = dict(optimizer=dict(type="AdamW", lr=1e-3), paramwise_cfg=dict(custom_keys={"head": dict(decay_mult=0.5)}))
    by = _groups_by_param(build_optimizer(model, cfg))
    assert by[id(model.head.weight)]["weight_decay"] == pytest.approx(0.005)  # AdamW default 0.01


def test_frozen_parameters_do_not_change_bit_for_bit():
    torch.manual_seed(0)
    model = Tiny()
    cfg = dict(type="AmpOptimWrapper", optimizer=dict(type="AdamW", lr=0.1, weight_decay=0.5),
               paramwise_cfg=dict(custom_keys={"backbone.layer1": dict(lr_mult=0, decay_mult=0),
                                               "backbone.0": dict(lr_mult=0, decay_mult=0)}))
    opt = build_optimizer(model, cfg)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters()
              if n.startswith(("backbone.layer1", "backbone.0"))}
    assert len(frozen) == 4
    assert all(not p.requires_grad for n, p in model.named_parameters() if n in frozen)
    in_opt = {id(p) for g in opt.param_groups for p in g["params"]}
    head_before = model.head.weight.detach().clone()
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(2, 3, 8, 8)).square().mean().backward()
        opt.step()
    for n, p in model.named_parameters():
        if n in frozen:
            assert id(p) not in in_opt
            assert torch.equal(p, frozen[n]), n
    assert not torch.equal(model.head.weight, head_before)


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "SGD"])
def test_fused_kernels_by_default_unless_the_config_chooses(kind):
    def built(**extra):
        return build_optimizer(Tiny(), dict(optimizer=dict(type=kind, lr=0.1, **extra))).defaults

    assert built()["fused"] is True
    assert not built(foreach=True)["fused"] and built(foreach=True)["foreach"] is True
    assert not built(fused=False)["fused"]


def test_everything_frozen_is_a_config_error():
    cfg = dict(optimizer=dict(type="Adam", lr=1e-3), paramwise_cfg=dict(custom_keys={"": dict(lr_mult=0, decay_mult=0)}))
    with pytest.raises(ConfigError, match="every parameter is frozen"):
        build_optimizer(Tiny(), cfg)


def test_custom_key_extra_options_pass_through_or_fail():
    model = Tiny()
    cfg = dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9),
               paramwise_cfg=dict(custom_keys={"head": dict(momentum=0.5)}))
    assert _groups_by_param(build_optimizer(model, cfg))[id(model.head.weight)]["momentum"] == 0.5
    cfg["paramwise_cfg"]["custom_keys"]["head"] = dict(betas=(0.9, 0.99))
    with pytest.raises(ConfigError, match="betas is not an option of SGD"):
        build_optimizer(model, cfg)


@pytest.mark.parametrize("cfg, match", [
    (dict(type="FancyWrapper", optimizer=dict(type="Adam", lr=1)), "unknown wrapper"),
    (dict(optimizer=dict(type="Adam", lr=1), clipgrad=None), "unknown key"),
    (dict(optimizer=dict(type="Adamm", lr=1)), "Did you mean Adam"),
    (dict(optimizer=dict(type="Adam", lr=1, betaz=1)), "bad arguments for Adam"),
    (dict(optimizer=dict(type="Adam")), "lr"),
    (dict(optimizer=dict(type="Adam", lr=1), accumulative_counts=0), "accumulative_counts"),
    (dict(optimizer=dict(type="Adam", lr=1), paramwise_cfg=dict(dcn_offset_lr_mult=0.1)), "unsupported"),
    (dict(optimizer=dict(type="Adam", lr=1), clip_grad=dict(max_norm=-1)), "max_norm"),
])
def test_bad_configs_name_the_key(cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_optimizer(Tiny(), cfg)


def test_parse_spec():
    spec = parse_optim_wrapper(dict(type="AmpOptimWrapper", optimizer=dict(type="Adam", lr=5e-4),
                                    clip_grad=dict(max_norm=35, norm_type=2), accumulative_counts=4,
                                    dtype="bfloat16"))
    assert spec == OptimWrapperSpec(optimizer=dict(type="Adam", lr=5e-4), paramwise_cfg={},
                                    clip_grad=dict(max_norm=35, norm_type=2), accumulative_counts=4,
                                    amp=True, dtype="bfloat16")
    assert parse_optim_wrapper(dict(optimizer=dict(type="SGD", lr=1))).amp is False


def test_auto_scale_lr():
    cfg = dict(type="Adam", lr=5e-4)
    scaled = auto_scale_lr(cfg, base_batch_size=512, real_batch_size=2 * 64)
    assert scaled["lr"] == pytest.approx(1.25e-4)
    assert cfg["lr"] == 5e-4  # input untouched
    with pytest.raises(ConfigError, match="base_batch_size"):
        auto_scale_lr(cfg, 0, 64)


def test_grad_clipper_norm_and_value():
    assert make_grad_clipper(None) is None
    p = nn.Parameter(torch.zeros(4))
    p.grad = torch.tensor([3.0, 4.0, 0.0, 0.0])
    norm = make_grad_clipper(dict(max_norm=1.0, norm_type=2))([p])
    assert norm.item() == pytest.approx(5.0)
    assert p.grad.norm().item() == pytest.approx(1.0, rel=1e-4)
    p.grad = torch.tensor([3.0, -4.0, 0.5, 0.0])
    make_grad_clipper(dict(type="value", clip_value=1.0))([p])
    assert p.grad.tolist() == [1.0, -1.0, 0.5, 0.0]
    with pytest.raises(ConfigError, match="unknown 'agc'"):
        make_grad_clipper(dict(type="agc"))
