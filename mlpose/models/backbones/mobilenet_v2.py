"""MobileNetV2 backbone (Sandler et al. 2018) in MMPose's layout.

Module names equal MMPose's ``MobileNetV2`` (``conv1``, ``layer1..7.N.conv.M``, ``conv2``, each
an mmcv-style ConvModule with ``conv``/``bn``), so its checkpoints (and mmcls ImageNet weights,
``backbone.*``) load without renaming.
"""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mlpose.errors import ConfigError
from mlpose.models.backbones.base import FreezableBackbone
from mlpose.models.backbones.conv_bricks import ConvModule, check_act_cfg, check_norm_cfg
from mlpose.models.init import check_init_cfg, constant_init, kaiming_init, load_pretrained
from mlpose.registry import MODELS

#: per layer: expand_ratio, channels, num_blocks, stride of the first block
ARCH_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                 (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def make_divisible(value: float, divisor: int, min_ratio: float = 0.9) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), bumped
    up one multiple when rounding lost more than ``1 - min_ratio`` of it."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < min_ratio * value else rounded


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when ``expand_ratio == 1``), 3x3 depthwise (strided), linear 1x1
    project; identity shortcut when ``stride == 1`` and the widths match. Layers in ``conv``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int,
                 norm_cfg: dict, act_cfg: dict):
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers.append(ConvModule(in_channels, hidden, 1, norm_cfg=norm_cfg, act_cfg=act_cfg))
        layers += [ConvModule(hidden, hidden, 3, stride, 1, groups=hidden, norm_cfg=norm_cfg, act_cfg=act_cfg),
                   ConvModule(hidden, out_channels, 1, norm_cfg=norm_cfg, act_cfg=None)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


@MODELS.register()
class MobileNetV2(FreezableBackbone):
    """MobileNetV2 feature extractor: a stride-2 3x3 stem (``conv1``), seven inverted-residual
    layers and a 1x1 conv to 1280 channels (``conv2``); the output is at 1/32 of the input.

    Args:
        widen_factor: width multiplier (widths rounded to multiples of 8; ``conv2`` has
            ``int(1280 * widen_factor)`` channels when it is above 1, else 1280).
        out_indices: outputs to return: ``0..6`` are ``layer1..7``, 7 is ``conv2``.
        frozen_stages: ``conv1`` and ``layer1..frozen_stages`` frozen; 0 freezes ``conv1``
            only, -1 nothing.
        conv_cfg: must be ``None`` (plain ``Conv2d``).
        norm_cfg: ``dict(type='BN')`` (or ``SyncBN``; see :mod:`conv_bricks`).
        act_cfg: ``dict(type='ReLU6')``.
        norm_eval: keep every BatchNorm in eval mode while training.
        with_cp: must be False (activation checkpointing is not supported).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` loaded by :meth:`init_weights`.

    Input float ``(B, 3, H, W)``; output a tuple of feature maps, one per ``out_indices`` entry.
    """

    def __init__(
        self,
        widen_factor: float = 1.0,
        out_indices: Sequence[int] = (7,),
        frozen_stages: int = -1,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN"),
        act_cfg: dict = dict(type="ReLU6"),
        norm_eval: bool = False,
        with_cp: bool = False,
        init_cfg: dict | None = None,
    ):
        super().__init__()
        if conv_cfg is not None or with_cp:
            raise ConfigError("MobileNetV2: conv_cfg must be None and with_cp False (neither is supported)")
        if not widen_factor > 0:
            raise ConfigError(f"MobileNetV2.widen_factor={widen_factor!r} must be positive")
        self.out_indices = tuple(out_indices)
        if not self.out_indices or any(not 0 <= i <= 7 for i in self.out_indices):
            raise ConfigError(f"MobileNetV2.out_indices={out_indices!r} must lie in 0..7")
        if not -1 <= frozen_stages <= 7:
            raise ConfigError(f"MobileNetV2.frozen_stages={frozen_stages!r} must be in -1..7")
        norm_cfg = check_norm_cfg(norm_cfg, "MobileNetV2")
        act_cfg = check_act_cfg(act_cfg, "MobileNetV2")
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = check_init_cfg(init_cfg, "MobileNetV2")
        width = make_divisible(32 * widen_factor, 8)
        self.conv1 = ConvModule(3, width, 3, 2, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.layers, widths = [], []
        for i, (expand_ratio, channels, num_blocks, stride) in enumerate(ARCH_SETTINGS):
            out = make_divisible(channels * widen_factor, 8)
            blocks = []
            for j in range(num_blocks):
                blocks.append(InvertedResidual(width, out, stride if j == 0 else 1, expand_ratio, norm_cfg, act_cfg))
                width = out
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.layers.append(f"layer{i + 1}")
            widths.append(out)
        last = int(1280 * widen_factor) if widen_factor > 1.0 else 1280
        self.conv2 = ConvModule(width, last, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.layers.append("conv2")
        widths.append(last)
        self.out_channels = tuple(widths[i] for i in self.out_indices)
        self.strides = tuple(s for _, _, _, s in ARCH_SETTINGS) + (1,)
        self.reset_parameters()
        self.freeze_stages()

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """``(w, h)`` of the last returned feature for an input of ``input_size`` ``(W, H)``."""
        strides = (2,) + self.strides[: max(self.out_indices) + 1]  # stem, then each layer
        sizes = []
        for s in input_size:
            for stride in strides:
                s = (s - 1) // stride + 1  # 3x3 padding 1 or 1x1
            sizes.append(s)
        return sizes[0], sizes[1]

    def reset_parameters(self) -> None:
        """MMPose's default init: Kaiming-normal (fan_out, ReLU) convs, unit BatchNorm."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, _BatchNorm):
                constant_init(m, 1.0)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint if one is configured (no-op otherwise)."""
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg, auto_prefix="backbone.")
            self.freeze_stages()

    def frozen_modules(self) -> list[nn.Module]:
        return [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]

    def freeze_stages(self) -> None:
        super().freeze_stages()
        if self.frozen_stages >= 0:  # MMPose freezes conv1's parameters but leaves its BatchNorm statistics running
            self.conv1.requires_grad_(False)


    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.conv1(x)
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
