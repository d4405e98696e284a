"""ResNet (He et al. 2016) and ResNet-D (``ResNetV1d``) backbones in the torchvision / MMPose layout.

Module names equal MMPose's (``conv1``, ``bn1``, ``layer1..4``, ``downsample.0/1``; the deep stem
``stem.0..2.conv/bn``), which for the plain ResNet equal torchvision's, so a torchvision ImageNet
state dict or an MMPose ``backbone.*`` checkpoint loads without renaming. The variants that only
change the residual block (ResNeXt, SEResNet) subclass :class:`ResNet` and override
:meth:`ResNet.block_options`.
"""
from __future__ import annotations

import inspect

from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mlpose.errors import ConfigError
from mlpose.models.backbones.base import FreezableBackbone
from mlpose.models.backbones.blocks import BasicBlock, Bottleneck, ConvModule, make_res_layer
from mlpose.models.init import check_init_cfg, constant_init, kaiming_init, load_pretrained
from mlpose.registry import MODELS

ARCH_SETTINGS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
#: the depths built of bottlenecks, the only ones ResNeXt and SEResNet have
BOTTLENECK_SETTINGS = {depth: arch for depth, arch in ARCH_SETTINGS.items() if arch[0] is Bottleneck}


@MODELS.register()
class ResNet(FreezableBackbone):
    """ResNet-18/34/50/101/152 feature extractor (no classifier).

    The stem (7x7 stride-2 conv, or three 3x3 convs with ``deep_stem``, then a 3x3 stride-2 max
    pool) divides the input by 4 and each stage by its stride, so with the default strides the
    last stage is at 1/32 of the input.

    Args:
        depth: one of 18, 34, 50, 101, 152.
        in_channels: input image channels.
        base_channels: width of the first stage; stage ``i`` has ``base_channels * 2**i`` planes
            (x4 output channels for Bottleneck depths). 32 gives a half-width network.
        num_stages: number of residual stages used, 1..4.
        out_indices: stages whose outputs are returned (0-based).
        strides: stride of each stage's first block.
        frozen_stages: stages with frozen weights and BN statistics; 0 freezes the stem only,
            ``i > 0`` also stages ``1..i``; -1 freezes nothing.
        norm_eval: keep every BatchNorm in eval mode (frozen statistics) while training.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH_OR_URL, prefix=None)`` (or a list
            with MMEngine initialisers) applied by :meth:`init_weights`; see
            :mod:`mlpose.models.init` for accepted references and files.
        stem_channels: stem width; ``None`` means ``base_channels`` (MMPose keeps it at 64).
        zero_init_residual: start each block's last BN at zero so blocks begin as identities.
        deep_stem: three 3x3 convs (``stem``: width/2, width/2, width) instead of one 7x7.
        avg_down: shortcuts that downsample average-pool 2x2 before a stride-1 1x1 conv.
        with_cp: recompute each block in the backward pass (torch.utils.checkpoint): less
            activation memory, about a third more compute.

    Input: float ``(B, in_channels, H, W)``. Output: a tuple of ``(B, C_i, H / s_i, W / s_i)``
    features, one per ``out_indices`` entry.
    """

    arch_settings = ARCH_SETTINGS

    def __init__(
        self,
        depth: int,
        in_channels: int = 3,
        base_channels: int = 64,
        num_stages: int = 4,
        out_indices: tuple = (3,),
        strides: tuple = (1, 2, 2, 2),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        init_cfg: dict | None = None,
        stem_channels: int | None = None,
        zero_init_residual: bool = True,
        deep_stem: bool = False,
        avg_down: bool = False,
        with_cp: bool = False,
    ):
        super().__init__()
        name = type(self).__name__
        if depth not in self.arch_settings:
            raise ConfigError(f"{name}.depth={depth!r} is invalid; use {sorted(self.arch_settings)}")
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"{name}.num_stages={num_stages!r} must be in 1..4")
        if len(strides) < num_stages:
            raise ConfigError(f"{name}.strides={strides!r}: need one per stage ({num_stages})")
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < num_stages for i in out_indices):
            raise ConfigError(f"{name}.out_indices={out_indices!r} must lie in 0..{num_stages - 1}")
        if not -1 <= frozen_stages <= num_stages:
            raise ConfigError(f"{name}.frozen_stages={frozen_stages!r} must be in -1..{num_stages}")
        self.depth = depth
        self.base_channels = base_channels
        self.strides = tuple(strides[:num_stages])
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.deep_stem = deep_stem
        self.init_cfg = check_init_cfg(init_cfg, name)
        block, stage_blocks = self.arch_settings[depth]
        stem_channels = stem_channels or base_channels
        self._make_stem(in_channels, stem_channels)
        inplanes = stem_channels
        self.stage_names = []
        for i in range(num_stages):
            planes = base_channels * 2**i
            layer = make_res_layer(block, inplanes, planes, stage_blocks[i], self.strides[i], avg_down,
                                   with_cp=with_cp, **self.block_options(planes))
            self.add_module(f"layer{i + 1}", layer)
            self.stage_names.append(f"layer{i + 1}")
            inplanes = planes * block.expansion
        self.out_channels = tuple(base_channels * 2**i * block.expansion for i in out_indices)
        self.reset_parameters()
        self.freeze_stages()

    def block_options(self, planes: int) -> dict:
        """Extra keyword arguments for the blocks of a stage of ``planes`` (variants override)."""
        return {}

    def _make_stem(self, in_channels: int, width: int) -> None:
        if self.deep_stem:
            relu = dict(act=nn.ReLU(inplace=True))
            self.stem = nn.Sequential(
                ConvModule(in_channels, width // 2, 3, 2, **relu),
                ConvModule(width // 2, width // 2, 3, 1, **relu),
                ConvModule(width // 2, width, 3, 1, act=nn.ReLU(inplace=True)),
            )
        else:
            self.conv1 = nn.Conv2d(in_channels, width, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """``(w, h)`` of the last returned feature for an input of ``input_size`` ``(W, H)``."""
        last = max(self.out_indices)

        def down(s: int, stride: int) -> int:  # any k=3,p=1 or k=7,p=3 or k=1,p=0 layer
            return (s - 1) // stride + 1

        sizes = []
        for s in input_size:
            s = down(down(s, 2), 2)  # stem conv, max pool
            for stride in self.strides[: last + 1]:
                s = down(s, stride)
            sizes.append(s)
        return sizes[0], sizes[1]

    def reset_parameters(self) -> None:
        """Default init: Kaiming convs, unit BN, zero last BN per block if zero_init_residual."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif isinstance(m, _BatchNorm):
                constant_init(m, 1.0)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    constant_init(m.last_norm(), 0.0)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint if one is configured (no-op otherwise).

        A torchvision file drops its ``fc.*`` classifier; a pose or mmpretrain checkpoint uses
        its ``backbone.*`` keys. Call once for a fresh run, not when resuming.
        """
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg, auto_prefix="backbone.", drop_prefixes=("fc.",))
            self.freeze_stages()

    def frozen_modules(self) -> list[nn.Module]:
        frozen = []
        if self.frozen_stages >= 0:
            frozen += [self.stem] if self.deep_stem else [self.conv1, self.bn1]
        return frozen + [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]


    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.stem(x) if self.deep_stem else self.relu(self.bn1(self.conv1(x)))
        x = self.maxpool(x)
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


def resnet_signature(fixed: tuple[str, ...] = ()):
    """Class decorator for a ResNet variant whose ``__init__(self, depth, OWN..., **kwargs)``
    passes ``kwargs`` on to :class:`ResNet`: publishes its own parameters plus ResNet's (less
    ``fixed``, which the variant sets itself) as the class signature, so config checks at load
    (unknown keys, ``--cfg-options`` of a key left at its default) see every accepted key."""

    def deco(cls):
        own = [p for p in inspect.signature(cls.__init__).parameters.values()
               if p.kind is not p.VAR_KEYWORD][1:]  # without self
        taken = {p.name for p in own} | set(fixed)
        base = [p for n, p in inspect.signature(ResNet.__init__).parameters.items()
                if n != "self" and n not in taken]
        cls.__signature__ = inspect.Signature(own + base)
        return cls

    return deco


@MODELS.register()
@resnet_signature(fixed=("deep_stem", "avg_down"))
class ResNetV1d(ResNet):
    """ResNet-D ("Bag of Tricks", He et al. 2019): :class:`ResNet` with ``deep_stem=True`` and
    ``avg_down=True``, as MMPose's ``ResNetV1d``; takes ResNet's other arguments."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(depth, deep_stem=True, avg_down=True, **kwargs)
