"""HRNet (Sun et al. 2019): parallel branches of decreasing resolution, fused after every module.

Parameter names equal MMPose's ``HRNet`` (``conv1``/``bn1``/``conv2``/``bn2`` stem, ``layer1``,
``transition1..3``, ``stage2..4.<module>.branches/fuse_layers``), so MMPose's HRNet checkpoints
load without renaming and mlpose's load in MMPose. The architecture is read from ``extra`` exactly
as MMPose's config files write it (stage1..4 with ``num_modules``, ``num_branches``, ``block``,
``num_blocks``, ``num_channels``).
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mlpose.errors import ConfigError
from mlpose.models.backbones.base import FreezableBackbone
from mlpose.models.backbones.blocks import BLOCKS, BasicBlock, Bottleneck, make_res_layer
from mlpose.models.init import check_init_cfg, constant_init, load_pretrained, normal_init
from mlpose.registry import MODELS

_STAGE_KEYS = ("num_modules", "num_branches", "block", "num_blocks", "num_channels")
_UPSAMPLE_MODES = ("nearest", "bilinear")


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU(inplace=True)) if relu else nn.Sequential(*layers)


def _fuse_layer(cin: int, cout: int, levels: int, upsample: dict) -> nn.Module | None:
    """What carries branch ``j`` into branch ``i`` (``levels = j - i``): 1x1 conv + BN +
    upsampling from a coarser branch, a chain of stride-2 3x3 convs from a finer one."""
    if levels == 0:
        return None
    if levels > 0:
        up = nn.Upsample(scale_factor=2**levels, mode=upsample["mode"], align_corners=upsample["align_corners"])
        return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), up)
    steps = [_conv_bn(cin, cin, 3, 2, relu=True) for _ in range(-levels - 1)]
    return nn.Sequential(*steps, _conv_bn(cin, cout, 3, 2, relu=False))


class HRModule(nn.Module):
    """One high-resolution module: a residual stack per branch, then every output branch sums
    all branches brought to its resolution and width.

    Args:
        block: the residual block class of the branches.
        num_blocks: blocks per branch.
        in_channels: input channels per branch.
        num_channels: ``planes`` per branch (outputs ``planes * block.expansion``).
        multiscale_output: output every branch; else only the first (highest resolution).
        with_cp: activation checkpointing in the blocks.
        upsample: ``dict(mode, align_corners)`` of the coarse-to-fine upsampling.

    Input: a list of ``(B, in_channels[i], H / 2**i, W / 2**i)``; output: a list of
    ``(B, out_channels[i], H / 2**i, W / 2**i)`` (one item without ``multiscale_output``).
    """

    def __init__(self, block: type, num_blocks, in_channels, num_channels, multiscale_output: bool,
                 with_cp: bool, upsample: dict):
        super().__init__()
        n = len(num_channels)
        self.branches = nn.ModuleList(
            make_res_layer(block, in_channels[i], num_channels[i], num_blocks[i], with_cp=with_cp) for i in range(n))
        self.out_channels = [c * block.expansion for c in num_channels]
        ch = self.out_channels
        self.fuse_layers = None
        if n > 1:
            self.fuse_layers = nn.ModuleList(
                nn.ModuleList(_fuse_layer(ch[j], ch[i], j - i, upsample) for j in range(n))
                for i in range(n if multiscale_output else 1))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        outs = []
        for fuse in self.fuse_layers:
            terms = [x if f is None else f(x) for f, x in zip(fuse, xs)]
            y = terms[0]
            for t in terms[1:]:  # summed from the finest branch on, in MMPose's order
                y = y + t
            outs.append(self.relu(y))
        return outs


def _check_stage(extra: dict, k: int) -> dict:
    """``extra['stage{k}']`` checked against what MMPose's HRNet builds from it."""
    where = f"HRNet.extra.stage{k}"
    stage = extra.get(f"stage{k}")
    if not isinstance(stage, dict):
        raise ConfigError(f"{where} is missing; HRNet needs stage1..stage4 dicts with {', '.join(_STAGE_KEYS)}")
    accepted = _STAGE_KEYS + (("multiscale_output",) if k == 4 else ())
    unknown = sorted(set(stage) - set(accepted))
    missing = [key for key in _STAGE_KEYS if key not in stage]
    if unknown or missing:
        bad = f"unknown key {unknown[0]!r}" if unknown else f"missing {missing[0]!r}"
        raise ConfigError(f"{where}: {bad}; accepted: {', '.join(accepted)}")
    if stage["block"] not in BLOCKS:
        raise ConfigError(f"{where}.block={stage['block']!r}; use one of {', '.join(BLOCKS)}")
    n = stage["num_branches"]
    if not isinstance(n, int) or n < 1 or len(stage["num_blocks"]) != n or len(stage["num_channels"]) != n:
        raise ConfigError(f"{where}: num_branches={n!r} needs that many num_blocks "
                          f"{tuple(stage['num_blocks'])} and num_channels {tuple(stage['num_channels'])}")
    if not isinstance(stage["num_modules"], int) or stage["num_modules"] < 1:
        raise ConfigError(f"{where}.num_modules={stage['num_modules']!r} must be a positive integer")
    if k == 1 and (stage["num_modules"], n) != (1, 1):
        raise ConfigError(f"{where}: only num_modules=1, num_branches=1 (one residual layer, as MMPose "
                          f"builds it), got {stage['num_modules']}, {n}")
    return dict(stage)


def _check_upsample(extra: dict) -> dict:
    given = extra.get("upsample", {})
    up = {"mode": "nearest", "align_corners": None, **(given if isinstance(given, dict) else {"?": given})}
    if set(up) != {"mode", "align_corners"} or up["mode"] not in _UPSAMPLE_MODES:
        raise ConfigError(f"HRNet.extra.upsample={extra['upsample']!r}: use dict(mode=one of "
                          f"{_UPSAMPLE_MODES}, align_corners=None/False/True)")
    return up


@MODELS.register()
class HRNet(FreezableBackbone):
    """HRNet-W18/W32/W48 feature extractor as MMPose builds it from a config's ``extra``.

    A stem of two stride-2 3x3 convs (1/4 of the input), ``layer1`` (stage 1), then stages 2-4 of
    2, 3, 4 branches, each branch half the resolution of the one before; a ``transition`` before
    each stage adapts the widths and starts the new branch.

    Args:
        extra: ``dict(stage1=..., stage2=..., stage3=..., stage4=..., upsample=...)``; each stage
            ``dict(num_modules, num_branches, block='BASIC'|'BOTTLENECK', num_blocks, num_channels)``
            and stage4 optionally ``multiscale_output`` (return every branch, not just the
            first); ``upsample=dict(mode='nearest'|'bilinear', align_corners)`` for the fusion.
        in_channels: input image channels.
        norm_eval: keep every BatchNorm in eval mode (frozen statistics) while training.
        with_cp: recompute each residual block in the backward pass (torch.utils.checkpoint).
        zero_init_residual: start each block's last BN at zero so blocks begin as identities.
        frozen_stages: -1 freezes nothing; 0 the stem; ``i > 0`` also stage ``1..i`` (``layer1``,
            ``stage2..``) and the transition after it (weights and BN statistics).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH, prefix=None)`` loaded by
            :meth:`init_weights`.

    Input: float ``(B, in_channels, H, W)``. Output: a tuple with the first branch
    ``(B, C_0, H / 4, W / 4)`` (W32: ``C_0 = 32``), or every branch ``i`` at ``H / 2**(i + 2)``
    with ``multiscale_output``.
    """

    def __init__(self, extra: dict, in_channels: int = 3, norm_eval: bool = False, with_cp: bool = False,
                 zero_init_residual: bool = False, frozen_stages: int = -1, init_cfg: dict | None = None):
        super().__init__()
        if not isinstance(extra, dict):
            raise ConfigError(f"HRNet.extra must be a dict of stage1..stage4, got {extra!r}")
        unknown = sorted(set(extra) - {"stage1", "stage2", "stage3", "stage4", "upsample"})
        if unknown:
            raise ConfigError(f"HRNet.extra: unknown key {unknown[0]!r}; accepted: stage1..stage4, upsample")
        if not -1 <= frozen_stages <= 4:
            raise ConfigError(f"HRNet.frozen_stages={frozen_stages!r} must be in -1..4")
        stages = [_check_stage(extra, k) for k in (1, 2, 3, 4)]
        upsample = _check_upsample(extra)
        self.norm_eval = norm_eval
        self.frozen_stages = frozen_stages
        self.zero_init_residual = zero_init_residual
        self.init_cfg = check_init_cfg(init_cfg, "HRNet")
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        block = BLOCKS[stages[0]["block"]]
        self.layer1 = make_res_layer(block, 64, stages[0]["num_channels"][0], stages[0]["num_blocks"][0],
                                     with_cp=with_cp)
        channels = [stages[0]["num_channels"][0] * block.expansion]
        for k, stage in enumerate(stages[1:], start=2):
            block = BLOCKS[stage["block"]]
            wanted = [c * block.expansion for c in stage["num_channels"]]
            self.add_module(f"transition{k - 1}", self._transition(channels, wanted))
            multiscale = stage.get("multiscale_output", False) if k == 4 else True
            modules = []
            for m in range(stage["num_modules"]):
                last = m == stage["num_modules"] - 1
                modules.append(HRModule(block, stage["num_blocks"], wanted, stage["num_channels"],
                                        multiscale or not last, with_cp, upsample))
                wanted = modules[-1].out_channels
            self.add_module(f"stage{k}", nn.Sequential(*modules))
            channels = wanted
        self.num_outputs = len(channels) if stages[3].get("multiscale_output", False) else 1
        self.out_channels = tuple(channels[: self.num_outputs])
        self.reset_parameters()
        self.freeze_stages()

    @staticmethod
    def _transition(before: list[int], after: list[int]) -> nn.ModuleList:
        """Per new-stage branch: None (same width), a 3x3 conv to the new width, or for a new
        branch a chain of stride-2 3x3 convs from the coarsest existing branch."""
        layers = []
        for i, cout in enumerate(after):
            if i < len(before):
                layers.append(_conv_bn(before[i], cout, 3, 1, relu=True) if cout != before[i] else None)
                continue
            steps = i + 1 - len(before)
            cin = before[-1]
            layers.append(nn.Sequential(*(_conv_bn(cin, cout if s == steps - 1 else cin, 3, 2, relu=True)
                                          for s in range(steps))))
        return nn.ModuleList(layers)

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """``(w, h)`` of the last returned feature for an input of ``input_size`` ``(W, H)``."""
        halvings = 2 + self.num_outputs - 1  # the stem, then one per branch below the first

        def size(s: int) -> int:
            for _ in range(halvings):
                s = (s - 1) // 2 + 1  # a stride-2 3x3 conv with padding 1
            return s

        return size(input_size[0]), size(input_size[1])

    def reset_parameters(self) -> None:
        """MMPose's HRNet init: N(0, 0.001) convs, unit BN, zero last BN per block if
        ``zero_init_residual``."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                normal_init(m, std=0.001)
            elif isinstance(m, _BatchNorm):
                constant_init(m, 1.0)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    constant_init(m.last_norm(), 0.0)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint if one is configured (no-op otherwise); a pose
        checkpoint uses its ``backbone.*`` keys. Call once for a fresh run, not when resuming."""
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg, auto_prefix="backbone.")
            self.freeze_stages()

    def frozen_modules(self) -> list[nn.Module]:
        frozen = [self.conv1, self.bn1, self.conv2, self.bn2] if self.frozen_stages >= 0 else []
        for i in range(1, self.frozen_stages + 1):
            frozen.append(self.layer1 if i == 1 else getattr(self, f"stage{i}"))
            if i < 4:
                frozen.append(getattr(self, f"transition{i}"))
        return frozen


    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        ys = [self.layer1(x)]
        for k in (2, 3, 4):
            xs = []
            for i, t in enumerate(getattr(self, f"transition{k - 1}")):
                y = ys[min(i, len(ys) - 1)]  # a new branch starts from the coarsest one
                xs.append(y if t is None else t(y))
            ys = getattr(self, f"stage{k}")(xs)
        return tuple(ys)
