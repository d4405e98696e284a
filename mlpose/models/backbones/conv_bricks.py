"""Conv + norm + activation bricks in mmcv's parameter layout (``conv``, ``bn``, ``activate``).

OpenMMLab backbones (mmdet's CSPNeXt, MMPose's MobileNetV2) are built from mmcv's
``ConvModule``; keeping its attribute names means their checkpoints load key for key
(``stem.0.conv.weight``, ``stem.0.bn.running_mean``, ...). Only what those backbones use is
here: plain ``Conv2d``, BatchNorm (``SyncBN`` configs build a ``BatchNorm2d``; multi-GPU runs
convert it with the engine's ``sync_bn``), and the activations their configs name.
"""
from __future__ import annotations

from torch import Tensor, nn

from mlpose.errors import ConfigError

#: norm ``type`` names accepted in ``norm_cfg`` (all build ``nn.BatchNorm2d``)
NORM_TYPES = ("BN", "BN2d", "SyncBN")
#: activation ``type`` -> factory (mmcv's ``Swish`` is x * sigmoid(x), i.e. SiLU)
ACTIVATIONS = {
    "ReLU": lambda inplace: nn.ReLU(inplace),
    "ReLU6": lambda inplace: nn.ReLU6(inplace),
    "SiLU": lambda inplace: nn.SiLU(inplace),
    "Swish": lambda inplace: nn.SiLU(inplace),
    "Hardsigmoid": lambda inplace: nn.Hardsigmoid(inplace),
    "Sigmoid": lambda inplace: nn.Sigmoid(),
}


def check_norm_cfg(norm_cfg: dict | None, owner: str) -> dict | None:
    """Validate ``dict(type='BN'|'SyncBN', momentum=..., eps=..., requires_grad=...)`` at build time."""
    if norm_cfg is None:
        return None
    if not isinstance(norm_cfg, dict) or norm_cfg.get("type") not in NORM_TYPES:
        raise ConfigError(f"{owner}.norm_cfg={norm_cfg!r}: use dict(type=T) with T one of {', '.join(NORM_TYPES)}")
    unknown = set(norm_cfg) - {"type", "momentum", "eps", "requires_grad"}
    if unknown:
        raise ConfigError(f"{owner}.norm_cfg: unknown keys {sorted(unknown)}; accepted: momentum, eps, requires_grad")
    return dict(norm_cfg)


def check_act_cfg(act_cfg: dict | None, owner: str) -> dict | None:
    """Validate ``dict(type=NAME, inplace=True)`` with NAME in :data:`ACTIVATIONS`."""
    if act_cfg is None:
        return None
    if not isinstance(act_cfg, dict) or act_cfg.get("type") not in ACTIVATIONS:
        raise ConfigError(f"{owner}.act_cfg={act_cfg!r}: use dict(type=T) with T one of {', '.join(ACTIVATIONS)}")
    unknown = set(act_cfg) - {"type", "inplace"}
    if unknown:
        raise ConfigError(f"{owner}.act_cfg: unknown keys {sorted(unknown)}; accepted: inplace")
    return dict(act_cfg)


def make_norm(norm_cfg: dict, channels: int) -> nn.BatchNorm2d:
    """A ``BatchNorm2d`` from a checked ``norm_cfg`` (torch's eps/momentum where it sets none)."""
    kwargs = {k: norm_cfg[k] for k in ("momentum", "eps") if k in norm_cfg}
    norm = nn.BatchNorm2d(channels, **kwargs)
    if not norm_cfg.get("requires_grad", True):
        norm.requires_grad_(False)
    return norm


def make_act(act_cfg: dict) -> nn.Module:
    """The activation a checked ``act_cfg`` names (in place unless ``inplace=False``)."""
    return ACTIVATIONS[act_cfg["type"]](act_cfg.get("inplace", True))


class ConvModule(nn.Module):
    """``Conv2d`` -> optional ``BatchNorm2d`` (``bn``) -> optional activation (``activate``).

    The conv has a bias only when there is no norm (mmcv's ``bias='auto'``).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, groups: as ``nn.Conv2d``.
        norm_cfg: checked norm config (:func:`check_norm_cfg`) or ``None`` for no norm.
        act_cfg: checked activation config (:func:`check_act_cfg`) or ``None`` for none.

    Input ``(B, in_channels, H, W)``; output ``(B, out_channels, H', W')``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
    ):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              groups=groups, bias=norm_cfg is None)
        self.bn = make_norm(norm_cfg, out_channels) if norm_cfg is not None else None
        self.activate = make_act(act_cfg) if act_cfg is not None else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.activate(x) if self.activate is not None else x


class DepthwiseSeparableConvModule(nn.Module):
    """A depthwise ``kernel_size`` ConvModule (``depthwise_conv``) then a pointwise 1x1 one
    (``pointwise_conv``), each with the same norm and activation (mmcv's defaults).

    Input ``(B, in_channels, H, W)``; output ``(B, out_channels, H', W')``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        norm_cfg: dict | None = None,
        act_cfg: dict | None = None,
    ):
        super().__init__()
        self.depthwise_conv = ConvModule(in_channels, in_channels, kernel_size, stride, padding,
                                         groups=in_channels, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.pointwise_conv = ConvModule(in_channels, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))
