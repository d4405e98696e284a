"""LayerDecayOptimWrapperConstructor: per-parameter lr and weight decay of a tiny ViT pose model
against a table derived by hand from MMPose's rule, the config it comes from, and its errors."""
import logging
import textwrap

import pytest
import torch
from torch import nn

from mlpose.config import load_config
from mlpose.engine.optim import build_optimizer, parse_optim_wrapper
from mlpose.engine.scheduler import LRSchedule
from mlpose.errors import ConfigError
from mlpose.models import VisionTransformer

#: MMPose's ViTPose optim_wrapper, as its config files write it (custom_keys typo included)
MMPOSE_WRAPPER = dict(
    optimizer=dict(type="AdamW", lr=1.0, betas=(0.9, 0.999), weight_decay=0.1),
    paramwise_cfg=dict(num_layers=2, layer_decay_rate=0.5, custom_keys={
        "bias": dict(decay_multi=0.0), "pos_embed": dict(decay_mult=0.0),
        "relative_position_bias_table": dict(decay_mult=0.0), "norm": dict(decay_mult=0.0)}),
    constructor="LayerDecayOptimWrapperConstructor",
    clip_grad=dict(max_norm=1.0, norm_type=2))


class TinyPose(nn.Module):
    def __init__(self, frozen_stages: int = -1):
        super().__init__()
        self.backbone = VisionTransformer(arch=dict(embed_dims=8, num_layers=2, num_heads=2, feedforward_channels=16),
                                          img_size=32, out_type="featmap", frozen_stages=frozen_stages)
        self.head = nn.Conv2d(8, 3, 1)


# lr = 1.0 * 0.5 ** (num_layers + 1 - depth): depth 0 (embeddings) 0.125, layer 0: 0.25, layer 1: 0.5,
# the rest 1; weight decay 0 for 1-D tensors, biases and pos_embed (the 3-D cls_token keeps it).
BY_HAND = {
    "backbone.cls_token": (0.125, 0.1),
    "backbone.pos_embed": (0.125, 0.0),
    "backbone.patch_embed.projection.weight": (0.125, 0.1),
    "backbone.patch_embed.projection.bias": (0.125, 0.0),
    "backbone.layers.0.ln1.weight": (0.25, 0.0),
    "backbone.layers.0.attn.qkv.weight": (0.25, 0.1),
    "backbone.layers.0.attn.qkv.bias": (0.25, 0.0),
    "backbone.layers.0.ffn.layers.1.weight": (0.25, 0.1),
    "backbone.layers.1.attn.proj.weight": (0.5, 0.1),
    "backbone.layers.1.ln2.bias": (0.5, 0.0),
    "backbone.ln1.weight": (1.0, 0.0),
    "head.weight": (1.0, 0.1),
    "head.bias": (1.0, 0.0),
}


def _by_name(model, optimizer) -> dict:
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)]: g for g in optimizer.param_groups for p in g["params"]}


def test_lr_and_weight_decay_of_each_parameter_follow_mmposes_rule(caplog):
    model = TinyPose()
    with caplog.at_level(logging.INFO, logger="mlpose"):
        optimizer = build_optimizer(model, MMPOSE_WRAPPER)
    groups = _by_name(model, optimizer)
    assert len(groups) == sum(1 for _ in model.parameters())
    assert {name: (groups[name]["lr"], groups[name]["weight_decay"]) for name in BY_HAND} == BY_HAND
    assert [g["group_name"] for g in optimizer.param_groups] == [
        "layer_0_decay", "layer_0_no_decay", "layer_1_no_decay", "layer_1_decay",
        "layer_2_no_decay", "layer_2_decay", "layer_3_no_decay", "layer_3_decay"]
    for g in optimizer.param_groups:  # what the LR schedule and the checkpoint need
        assert g["initial_lr"] == g["lr"] == g["lr_mult"] and g["decay_mult"] in (0.0, 1.0)
    assert "custom_keys (bias, pos_embed, relative_position_bias_table, norm) are not applied" in caplog.text
    assert type(optimizer) is torch.optim.AdamW and optimizer.defaults["fused"]


def test_custom_keys_change_nothing_as_in_mmpose():
    plain = dict(MMPOSE_WRAPPER, paramwise_cfg=dict(num_layers=2, layer_decay_rate=0.5))
    a, b = TinyPose(), TinyPose()
    got = {n: (g["lr"], g["weight_decay"]) for n, g in _by_name(a, build_optimizer(a, MMPOSE_WRAPPER)).items()}
    assert got == {n: (g["lr"], g["weight_decay"]) for n, g in _by_name(b, build_optimizer(b, plain)).items()}


def test_frozen_stages_are_left_out():
    model = TinyPose(frozen_stages=1)
    names = set(_by_name(model, build_optimizer(model, MMPOSE_WRAPPER)))
    assert "backbone.layers.1.attn.qkv.weight" in names
    assert not {n for n in names if n.startswith(("backbone.layers.0.", "backbone.patch_embed", "backbone.pos_embed"))}


def test_the_schedule_scales_every_group_from_its_own_lr():
    model = TinyPose()
    optimizer = build_optimizer(model, MMPOSE_WRAPPER)
    schedule = LRSchedule([dict(type="LinearLR", begin=0, end=10, start_factor=0.1, by_epoch=False)])
    schedule.apply(optimizer, epoch=0, global_iter=5)
    factor = schedule.factor(0, 5)
    assert 0.1 < factor < 1
    for g in optimizer.param_groups:
        assert g["lr"] == pytest.approx(g["initial_lr"] * factor)


def test_mmpose_config_with_custom_imports_loads_and_builds(tmp_path):
    cfg_file = tmp_path / "vitpose_optim.py"
    cfg_file.write_text(textwrap.dedent("""
        custom_imports = dict(imports=['mmpose.engine.optim_wrappers.layer_decay_optim_wrapper'],
                              allow_failed_imports=False)
        optim_wrapper = dict(
            optimizer=dict(type='AdamW', lr=1.0, betas=(0.9, 0.999), weight_decay=0.1),
            paramwise_cfg=dict(num_layers=2, layer_decay_rate=0.5,
                               custom_keys={'bias': dict(decay_multi=0.0), 'norm': dict(decay_mult=0.0)}),
            constructor='LayerDecayOptimWrapperConstructor',
            clip_grad=dict(max_norm=1., norm_type=2))
    """))
    cfg = load_config(cfg_file)
    assert parse_optim_wrapper(cfg.optim_wrapper).constructor == "LayerDecayOptimWrapperConstructor"
    model = TinyPose()
    groups = _by_name(model, build_optimizer(model, cfg.optim_wrapper))
    assert (groups["backbone.pos_embed"]["lr"], groups["head.weight"]["weight_decay"]) == (0.125, 0.1)


@pytest.mark.parametrize("change,message", [
    (dict(paramwise_cfg=dict(layer_decay_rate=0.5)), r"num_layers=None: LayerDecayOptimWrapperConstructor needs"),
    (dict(paramwise_cfg=dict(num_layers=2)), r"layer_decay_rate=None"),
    (dict(paramwise_cfg=dict(num_layers=12, layer_decay_rate=0.75)), "num_layers=12 but the backbone has 2 layers"),
    (dict(paramwise_cfg=dict(num_layers=2, layer_decay_rate=0.5, norm_decay_mult=0.0)),
     "unsupported key.*norm_decay_mult for LayerDecayOptimWrapperConstructor"),
    (dict(paramwise_cfg=dict(num_layers=2, layer_decay_rate=0.5, custom_keys=["bias"])), "custom_keys: expected"),
    (dict(constructor="LearningRateDecayOptimizerConstructor"), "constructor: unknown"),
])
def test_bad_settings_are_one_line_errors(change, message):
    with pytest.raises(ConfigError, match=message) as err:
        build_optimizer(TinyPose(), {**MMPOSE_WRAPPER, **change})
    assert "\n" not in str(err.value)
