"""ResNet backbones (He et al. 2016) in the torchvision / MMPose layout.

Module names equal torchvision's (``conv1``, ``bn1``, ``layer1..4``, ``downsample.0/1``) so a
torchvision ImageNet state dict or an MMPose ``backbone.*`` checkpoint loads without renaming.
Bottleneck blocks put the stride on the 3x3 conv ("pytorch" style, ResNet v1.5), as both do.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mlpose.errors import ConfigError
from mlpose.models.init import check_init_cfg, constant_init, kaiming_init, load_pretrained
from mlpose.registry import MODELS


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut; ``out = planes``."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn2


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand with a shortcut; ``out = 4 * planes``."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn3


ARCH_SETTINGS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def _make_layer(block, inplanes: int, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
            nn.BatchNorm2d(planes * block.expansion),
        )
    blocks = [block(inplanes, planes, stride, downsample)]
    blocks += [block(planes * block.expansion, planes) for _ in range(1, num_blocks)]
    return nn.Sequential(*blocks)


@MODELS.register()
class ResNet(nn.Module):
    """ResNet-18/34/50/101/152 feature extractor (no classifier).

    The stem (7x7 stride-2 conv + 3x3 stride-2 max pool) divides the input by 4 and each stage
    by its stride, so with the default strides the last stage is at 1/32 of the input.

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
        stem_channels: stem conv width; ``None`` means ``base_channels`` (MMPose keeps it at 64).
        zero_init_residual: start each block's last BN at zero so blocks begin as identities.

    Input: float ``(B, in_channels, H, W)``. Output: a tuple of ``(B, C_i, H / s_i, W / s_i)``
    features, one per ``out_indices`` entry.
    """

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
    ):
        super().__init__()
        if depth not in ARCH_SETTINGS:
            raise ConfigError(f"ResNet.depth={depth!r} is invalid; use {sorted(ARCH_SETTINGS)}")
        if not 1 <= num_stages <= 4:
            raise ConfigError(f"ResNet.num_stages={num_stages!r} must be in 1..4")
        if len(strides) < num_stages:
            raise ConfigError(f"ResNet.strides={strides!r}: need one per stage ({num_stages})")
        out_indices = tuple(out_indices)
        if not out_indices or any(not 0 <= i < num_stages for i in out_indices):
            raise ConfigError(f"ResNet.out_indices={out_indices!r} must lie in 0..{num_stages - 1}")
        if not -1 <= frozen_stages <= num_stages:
            raise ConfigError(f"ResNet.frozen_stages={frozen_stages!r} must be in -1..{num_stages}")
        self.depth = depth
        self.strides = tuple(strides[:num_stages])
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.zero_init_residual = zero_init_residual
        self.init_cfg = check_init_cfg(init_cfg, "ResNet")
        block, stage_blocks = ARCH_SETTINGS[depth]
        stem_channels = stem_channels or base_channels

        self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = stem_channels
        self.stage_names = []
        for i in range(num_stages):
            planes = base_channels * 2**i
            layer = _make_layer(block, inplanes, planes, stage_blocks[i], self.strides[i])
            name = f"layer{i + 1}"
            self.add_module(name, layer)
            self.stage_names.append(name)
            inplanes = planes * block.expansion
        self.out_channels = tuple(base_channels * 2**i * block.expansion for i in out_indices)
        self.reset_parameters()
        self._freeze_stages()

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

        A torchvision file drops its ``fc.*`` classifier; a pose checkpoint uses its
        ``backbone.*`` keys. Call once for a fresh run, not when resuming.
        """
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg, auto_prefix="backbone.", drop_prefixes=("fc.",))
            self._freeze_stages()

    def _freeze_stages(self) -> None:
        frozen = []
        if self.frozen_stages >= 0:
            frozen += [self.conv1, self.bn1]
        frozen += [getattr(self, f"layer{i}") for i in range(1, self.frozen_stages + 1)]
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False

    def train(self, mode: bool = True) -> "ResNet":
        """Switch mode, keeping frozen stages (and all BN when ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
