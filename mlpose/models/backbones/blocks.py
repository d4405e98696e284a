"""Residual blocks shared by the ResNet family (ResNet, ResNetV1d, ResNeXt, SEResNet) and HRNet.

Parameter names follow MMPose (``conv1``/``bn1``..., ``downsample.0/1``, ``se_layer.conv1.conv``,
``stem.0.conv``/``stem.0.bn``), which equal torchvision's for the plain blocks, so checkpoints of
either load without renaming. Bottleneck blocks put the stride on the 3x3 conv ("pytorch" style,
ResNet v1.5), as both do.
"""
from __future__ import annotations

from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


class ConvModule(nn.Module):
    """Conv2d, then BatchNorm (optional), then an activation, named as MMCV's ``ConvModule``.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel size; padding is ``kernel_size // 2`` ("same" at stride 1).
        stride: conv stride.
        norm: add a BatchNorm (``bn``); the conv then has no bias, else it has one.
        act: the activation module applied last, or ``None``.

    Input ``(B, in_channels, H, W)``; output ``(B, out_channels, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 norm: bool = True, act: nn.Module | None = None):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=not norm)
        self.bn = nn.BatchNorm2d(out_channels) if norm else None
        self.activate = act

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.activate(x) if self.activate is not None else x


class SELayer(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): rescale channels by a gate from their global mean.

    Args:
        channels: input (and output) channels.
        ratio: squeeze ratio; the hidden width is ``int(channels / ratio)``.

    Input and output ``(B, channels, H, W)``.
    """

    def __init__(self, channels: int, ratio: int = 16):
        super().__init__()
        hidden = int(channels / ratio)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, hidden, 1, norm=False, act=nn.ReLU(inplace=True))
        self.conv2 = ConvModule(hidden, channels, 1, norm=False, act=nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))


class _Residual(nn.Module):
    """A residual block: ``relu(branch(x) + shortcut(x))``, with optional activation checkpointing.

    ``with_cp`` recomputes the block in the backward pass instead of storing its activations
    (torch.utils.checkpoint): less memory, about a third more compute.
    """

    def __init__(self, downsample: nn.Module | None, with_cp: bool):
        super().__init__()
        self.downsample = downsample
        self.with_cp = with_cp
        self.relu = nn.ReLU(inplace=True)

    def branch(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def _sum(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        return self.branch(x) + identity

    def forward(self, x: Tensor) -> Tensor:
        if self.with_cp and x.requires_grad:
            return self.relu(checkpoint(self._sum, x, use_reentrant=False))
        return self.relu(self._sum(x))


class BasicBlock(_Residual):
    """Two 3x3 convs; ``out = planes`` channels.

    Args:
        inplanes: input channels.
        planes: output channels.
        stride: stride of the first conv.
        downsample: the shortcut's projection (``None``: identity).
        with_cp: recompute the block in the backward pass (activation checkpointing).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 with_cp: bool = False):
        super().__init__(downsample, with_cp)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def branch(self, x: Tensor) -> Tensor:
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn2


class Bottleneck(_Residual):
    """1x1 reduce, 3x3 (strided, grouped), 1x1 expand, optional SE gate; ``out = 4 * planes``.

    Args:
        inplanes: input channels.
        planes: the block's base width; output channels are ``4 * planes``.
        stride: stride of the 3x3 conv.
        downsample: the shortcut's projection (``None``: identity).
        with_cp: recompute the block in the backward pass (activation checkpointing).
        groups: groups of the 3x3 conv (ResNeXt's cardinality).
        mid_channels: width of the 1x1/3x3 convs inside; ``None`` means ``planes`` (ResNeXt
            widens it).
        se_ratio: add a squeeze-and-excitation gate (``se_layer``) of this ratio after the last
            BN (SEResNet); ``None`` for none.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 with_cp: bool = False, groups: int = 1, mid_channels: int | None = None,
                 se_ratio: int | None = None):
        super().__init__(downsample, with_cp)
        mid = mid_channels or planes
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.se_layer = SELayer(out, se_ratio) if se_ratio is not None else None

    def branch(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.se_layer(out) if self.se_layer is not None else out

    def last_norm(self) -> nn.BatchNorm2d:
        return self.bn3


BLOCKS = {"BASIC": BasicBlock, "BOTTLENECK": Bottleneck}


def make_res_layer(block: type, inplanes: int, planes: int, num_blocks: int, stride: int = 1,
                   avg_down: bool = False, **options) -> nn.Sequential:
    """A stage of ``num_blocks`` residual blocks; the first one changes stride and width.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        inplanes: input channels.
        planes: the blocks' ``planes`` (output channels ``planes * block.expansion``).
        num_blocks: blocks in the stage.
        stride: stride of the first block.
        avg_down: downsample the shortcut with a 2x2 average pool and a stride-1 1x1 conv
            (ResNet-D) instead of a strided 1x1 conv, which skips 3 of 4 pixels.
        **options: passed to every block (``with_cp``, ``groups``, ``mid_channels``, ``se_ratio``).

    Returns:
        ``nn.Sequential`` of the blocks (names ``0``, ``1``, ...).
    """
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        layers = []
        if avg_down and stride != 1:
            layers.append(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False))
        layers += [nn.Conv2d(inplanes, out, 1, 1 if layers else stride, bias=False), nn.BatchNorm2d(out)]
        downsample = nn.Sequential(*layers)
    blocks = [block(inplanes, planes, stride, downsample, **options)]
    blocks += [block(out, planes, **options) for _ in range(1, num_blocks)]
    return nn.Sequential(*blocks)
