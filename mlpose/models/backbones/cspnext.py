"""CSPNeXt backbone (RTMDet, Lyu et al. 2022), the backbone of RTMPose, in mmdet's layout.

Module names equal mmdet's ``CSPNeXt`` (``stem.0.conv``, ``stage1.0``, ``stage4.1`` (SPP),
``stageN.M.main_conv``, ``...blocks.0.conv2.depthwise_conv.bn``, ``...attention.fc``), so
RTMPose / CSPNeXt checkpoints load without renaming. MMPose's configs name it ``mmdet.CSPNeXt``
(or ``_scope_='mmdet'``); the registry resolves that to this class.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mlpose.errors import ConfigError
from mlpose.models.backbones.base import FreezableBackbone
from mlpose.models.backbones.conv_bricks import (
    ConvModule,
    DepthwiseSeparableConvModule,
    check_act_cfg,
    check_norm_cfg,
)
from mlpose.models.init import check_init_cfg, load_pretrained
from mlpose.registry import MODELS


class ChannelAttention(nn.Module):
    """Squeeze-excite style gate: ``x * hardsigmoid(fc(mean over H, W of x))``, ``fc`` a biased 1x1 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, 1, 0, bias=True)
        self.act = nn.Hardsigmoid(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.act(self.fc(self.global_avgpool(x)))


class CSPNeXtBlock(nn.Module):
    """3x3 conv then a depthwise-separable 5x5 conv, with an identity shortcut when shapes allow.

    Args:
        in_channels, out_channels: block widths; the hidden width is ``int(out_channels * expansion)``.
        expansion: hidden width ratio (CSPLayer passes 1.0).
        add_identity: add the input to the output (only when ``in_channels == out_channels``).
        use_depthwise: make the first conv depthwise-separable too.
        kernel_size: kernel of the depthwise-separable conv.
        norm_cfg, act_cfg: checked configs for every ConvModule.
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: float = 0.5,
                 add_identity: bool = True, use_depthwise: bool = False, kernel_size: int = 5,
                 norm_cfg: dict | None = None, act_cfg: dict | None = None):
        super().__init__()
        hidden = int(out_channels * expansion)
        first = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        self.conv1 = first(in_channels, hidden, 3, 1, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv2 = DepthwiseSeparableConvModule(hidden, out_channels, kernel_size, 1, kernel_size // 2,
                                                  norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Module):
    """Cross Stage Partial layer: a 1x1 ``main_conv`` through ``num_blocks`` CSPNeXt blocks,
    concatenated with a 1x1 ``short_conv`` branch, optional channel attention, 1x1 ``final_conv``.

    Input ``(B, in_channels, H, W)``; output ``(B, out_channels, H, W)``.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float = 0.5,
                 num_blocks: int = 1, add_identity: bool = True, use_depthwise: bool = False,
                 channel_attention: bool = False, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None):
        super().__init__()
        mid = int(out_channels * expand_ratio)
        self.channel_attention = channel_attention
        self.main_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.short_conv = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvModule(2 * mid, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.blocks = nn.Sequential(*[
            CSPNeXtBlock(mid, mid, 1.0, add_identity, use_depthwise, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for _ in range(num_blocks)
        ])
        if channel_attention:
            self.attention = ChannelAttention(2 * mid)

    def forward(self, x: Tensor) -> Tensor:
        out = torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), dim=1)
        if self.channel_attention:
            out = self.attention(out)
        return self.final_conv(out)


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: 1x1 conv to half width, concatenation with its stride-1 max pools
    of each kernel size, 1x1 conv to ``out_channels``. Keeps H and W."""

    def __init__(self, in_channels: int, out_channels: int, kernel_sizes: Sequence[int] = (5, 9, 13),
                 norm_cfg: dict | None = None, act_cfg: dict | None = None):
        super().__init__()
        mid = in_channels // 2
        self.conv1 = ConvModule(in_channels, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.poolings = nn.ModuleList([nn.MaxPool2d(k, 1, k // 2) for k in kernel_sizes])
        self.conv2 = ConvModule(mid * (len(kernel_sizes) + 1), out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.poolings], dim=1))


#: per stage: in_channels, out_channels, num_blocks, add_identity, use_spp (before widen/deepen)
ARCH_SETTINGS = {
    "P5": ((64, 128, 3, True, False), (128, 256, 6, True, False),
           (256, 512, 6, True, False), (512, 1024, 3, False, True)),
    "P6": ((64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
           (512, 768, 3, True, False), (768, 1024, 3, False, True)),
}


@MODELS.register()
class CSPNeXt(FreezableBackbone):
    """CSPNeXt: a 3-conv stem (stride 2) and 4 (P5) or 5 (P6) stride-2 CSP stages.

    Stage ``i`` is a strided 3x3 ConvModule, an SPP block in the last stage, and a
    :class:`CSPLayer`; widths are ``int(c * widen_factor)`` and depths
    ``max(round(n * deepen_factor), 1)``. RTMPose-t/s/m/l use P5 with (deepen, widen) =
    (0.167, 0.375), (0.33, 0.5), (0.67, 0.75), (1, 1) and ``out_indices=(4,)``.

    Args:
        arch: ``'P5'`` or ``'P6'``.
        deepen_factor: block-count multiplier.
        widen_factor: channel multiplier.
        out_indices: which outputs to return: 0 is the stem (1/2), ``i`` is stage ``i`` (1/2**(i+1)).
        frozen_stages: stem and stages ``1..frozen_stages`` frozen (weights and BN statistics);
            0 freezes the stem only, -1 nothing.
        use_depthwise: depthwise-separable convs in the stage downsamplers and blocks.
        expand_ratio: hidden width ratio of each CSPLayer.
        spp_kernel_sizes: max-pool kernels of the last stage's SPP block.
        channel_attention: a channel-attention gate in each CSPLayer.
        conv_cfg: must be ``None`` (plain ``Conv2d``).
        norm_cfg: ``dict(type='BN'|'SyncBN', momentum=..., eps=...)``; mmdet's default
            ``momentum=0.03, eps=0.001``; RTMPose's ``dict(type='SyncBN')`` means torch's
            defaults (a ``BatchNorm2d`` here; ``sync_bn`` in the config converts it for multi-GPU).
        act_cfg: ``dict(type='SiLU')`` (or ReLU, ReLU6, Swish, ...).
        norm_eval: keep every BatchNorm in eval mode while training.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH, prefix='backbone.')`` loaded by
            :meth:`init_weights`; a pose checkpoint's ``backbone.*`` keys are used.

    Input float ``(B, 3, H, W)``; output a tuple of ``(B, C_i, H / 2**(i+1), W / 2**(i+1))``
    (rounded up), one per ``out_indices`` entry.
    """

    def __init__(
        self,
        arch: str = "P5",
        deepen_factor: float = 1.0,
        widen_factor: float = 1.0,
        out_indices: Sequence[int] = (2, 3, 4),
        frozen_stages: int = -1,
        use_depthwise: bool = False,
        expand_ratio: float = 0.5,
        spp_kernel_sizes: Sequence[int] = (5, 9, 13),
        channel_attention: bool = True,
        conv_cfg: dict | None = None,
        norm_cfg: dict = dict(type="BN", momentum=0.03, eps=0.001),
        act_cfg: dict = dict(type="SiLU"),
        norm_eval: bool = False,
        init_cfg: dict | None = None,
    ):
        super().__init__()
        if arch not in ARCH_SETTINGS:
            raise ConfigError(f"CSPNeXt.arch={arch!r} is invalid; use one of {', '.join(ARCH_SETTINGS)}")
        if conv_cfg is not None:
            raise ConfigError(f"CSPNeXt.conv_cfg={conv_cfg!r}: only None (plain Conv2d) is supported")
        if not (deepen_factor > 0 and widen_factor > 0 and expand_ratio > 0):
            raise ConfigError("CSPNeXt: deepen_factor, widen_factor and expand_ratio must be positive, got "
                              f"{deepen_factor!r}, {widen_factor!r}, {expand_ratio!r}")
        settings = ARCH_SETTINGS[arch]
        self.out_indices = tuple(out_indices)
        if not self.out_indices or any(not 0 <= i <= len(settings) for i in self.out_indices):
            raise ConfigError(f"CSPNeXt.out_indices={out_indices!r} must lie in 0..{len(settings)} for arch {arch}")
        if not -1 <= frozen_stages <= len(settings):
            raise ConfigError(f"CSPNeXt.frozen_stages={frozen_stages!r} must be in -1..{len(settings)}")
        norm_cfg = check_norm_cfg(norm_cfg, "CSPNeXt")
        act_cfg = check_act_cfg(act_cfg, "CSPNeXt")
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.init_cfg = check_init_cfg(init_cfg, "CSPNeXt")
        stem = int(settings[0][0] * widen_factor)
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stem = nn.Sequential(ConvModule(3, stem // 2, 3, 2, 1, **conv),
                                  ConvModule(stem // 2, stem // 2, 3, 1, 1, **conv),
                                  ConvModule(stem // 2, stem, 3, 1, 1, **conv))
        self.layers = ["stem"]
        widths = [stem]
        down = DepthwiseSeparableConvModule if use_depthwise else ConvModule
        for i, (c_in, c_out, blocks, add_identity, use_spp) in enumerate(settings):
            c_in, c_out = int(c_in * widen_factor), int(c_out * widen_factor)
            stage = [down(c_in, c_out, 3, 2, 1, **conv)]
            if use_spp:
                stage.append(SPPBottleneck(c_out, c_out, spp_kernel_sizes, **conv))
            stage.append(CSPLayer(c_out, c_out, expand_ratio, max(round(blocks * deepen_factor), 1),
                                  add_identity, use_depthwise, channel_attention, **conv))
            self.add_module(f"stage{i + 1}", nn.Sequential(*stage))
            self.layers.append(f"stage{i + 1}")
            widths.append(c_out)
        self.out_channels = tuple(widths[i] for i in self.out_indices)
        self.reset_parameters()
        self.freeze_stages()

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """``(w, h)`` of the last returned feature for an input of ``input_size`` ``(W, H)``."""
        halvings = max(self.out_indices) + 1  # the stem conv and each stage's downsampler
        sizes = []
        for s in input_size:
            for _ in range(halvings):
                s = (s - 1) // 2 + 1  # 3x3, stride 2, padding 1
            sizes.append(s)
        return sizes[0], sizes[1]

    def reset_parameters(self) -> None:
        """mmdet's default init: Kaiming-uniform convs (a=sqrt(5), fan_in, torch's own conv
        init) with zero biases; BatchNorm at weight 1, bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), mode="fan_in", nonlinearity="leaky_relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, _BatchNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint if one is configured (no-op otherwise)."""
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg, auto_prefix="backbone.")
            self.freeze_stages()

    def frozen_modules(self) -> list[nn.Module]:
        return [getattr(self, name) for name in self.layers[: self.frozen_stages + 1]]


    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        outs = []
        for i, name in enumerate(self.layers):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
