"""SimpleBaseline heatmap head (Xiao et al. 2018): deconvolutions then a 1x1 conv."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mlpose.errors import ConfigError
from mlpose.models.accuracy import pose_accuracy
from mlpose.models.heads.base import PoseHead
from mlpose.models.init import check_init_cfg, constant_init, load_pretrained, normal_init
from mlpose.registry import MODELS, build

_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}  # kernel -> (padding, output_padding) for x2
FLIP_MODES = ("heatmap", "udp_combined")


def _deconv_layers(in_channels: int, channels: Sequence[int], kernels: Sequence[int]) -> list:
    if len(channels) != len(kernels):
        raise ConfigError(
            f"HeatmapHead: deconv_out_channels {tuple(channels)} and deconv_kernel_sizes "
            f"{tuple(kernels)} must have the same length"
        )
    layers = []
    for out, k in zip(channels, kernels):
        if k not in _DECONV_PADDING:
            raise ConfigError(f"HeatmapHead: deconv kernel size {k} unsupported; use 2, 3 or 4")
        pad, out_pad = _DECONV_PADDING[k]
        layers += [
            nn.ConvTranspose2d(in_channels, out, k, 2, pad, out_pad, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
        ]
        in_channels = out
    return layers


def _conv_layers(in_channels: int, channels: Sequence[int], kernels: Sequence[int]) -> list:
    if len(channels) != len(kernels):
        raise ConfigError(
            f"HeatmapHead: conv_out_channels {tuple(channels)} and conv_kernel_sizes "
            f"{tuple(kernels)} must have the same length"
        )
    layers = []
    for out, k in zip(channels, kernels):
        layers += [
            nn.Conv2d(in_channels, out, k, 1, (k - 1) // 2, bias=False),
            nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
        ]
        in_channels = out
    return layers


@MODELS.register()
class HeatmapHead(PoseHead):
    """Upsamples the last backbone feature x2 per deconv layer and predicts K heatmaps.

    Args:
        in_channels: channels of the backbone's last feature map.
        out_channels: number of keypoints K.
        deconv_out_channels: channels of each stride-2 ``ConvTranspose2d + BN + ReLU``; empty or
            ``None`` for no upsampling (then ``deconv_kernel_sizes`` is not used: HRNet's
            configs keep its default).
        deconv_kernel_sizes: kernel size (2, 3 or 4) of each deconv.
        conv_out_channels: optional ``Conv + BN + ReLU`` layers after the deconvs.
        conv_kernel_sizes: their kernel sizes (odd, "same" padding).
        final_layer: ``dict(kernel_size=1)`` (optionally ``padding``) for the last conv to K
            channels, or ``None`` for none (then the last width must equal ``out_channels``).
        loss: loss config built from ``MODELS``.
        decoder: codec config built from ``CODECS`` that :meth:`decode` uses.
        init_cfg: optional ``dict(type='Pretrained', checkpoint=PATH)``; a pose checkpoint
            uses its ``head.*`` keys.

    Input: a feature tensor ``(B, in_channels, h0, w0)`` or a tuple whose last item is one.
    Output: heatmaps ``(B, K, h0 * 2**n_deconv, w0 * 2**n_deconv)``.

    ``model.train_cfg``: ``compute_acc=False`` leaves ``acc_pose`` out of the loss terms (MMPose's
    udp-regress configs: a heatmap PCK means nothing on UDP's combined maps).
    ``model.test_cfg``: ``flip_mode='heatmap'`` (or ``'udp_combined'`` for UDP's combined maps) and
    ``shift_heatmap`` (see :func:`flip_heatmaps`).
    """

    output_names = ("heatmaps",)
    test_cfg_defaults = dict(flip_mode="heatmap", shift_heatmap=True)
    train_cfg_defaults = dict(compute_acc=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        deconv_out_channels: Sequence[int] | None = (256, 256, 256),
        deconv_kernel_sizes: Sequence[int] | None = (4, 4, 4),
        conv_out_channels: Sequence[int] | None = None,
        conv_kernel_sizes: Sequence[int] | None = None,
        final_layer: dict | None = dict(kernel_size=1),
        loss: dict = dict(type="KeypointMSELoss", use_target_weight=True),
        decoder: dict | None = None,
        init_cfg: dict | None = None,
    ):
        super().__init__(decoder)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.init_cfg = check_init_cfg(init_cfg, "HeatmapHead")
        kernels = (deconv_kernel_sizes or ()) if deconv_out_channels else ()
        deconvs = _deconv_layers(in_channels, deconv_out_channels or (), kernels)
        self.deconv_layers = nn.Sequential(*deconvs)
        width = deconv_out_channels[-1] if deconvs else in_channels
        convs = _conv_layers(width, conv_out_channels or (), conv_kernel_sizes or ())
        self.conv_layers = nn.Sequential(*convs)
        width = conv_out_channels[-1] if convs else width
        if final_layer is not None:
            unknown = set(final_layer) - {"kernel_size", "padding"}
            if unknown:
                raise ConfigError(f"HeatmapHead.final_layer: unknown keys {sorted(unknown)}")
            k = final_layer.get("kernel_size", 1)
            pad = final_layer.get("padding", (k - 1) // 2)
            self.final_layer = nn.Conv2d(width, out_channels, k, 1, pad)
        elif width != out_channels:
            raise ConfigError(
                f"HeatmapHead: final_layer=None needs the last layer width ({width}) to equal "
                f"out_channels ({out_channels})"
            )
        else:
            self.final_layer = nn.Identity()
        self.loss_module = build(loss, MODELS, "model.head.loss")
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """MMPose's head init: N(0, 0.001) for (de)convs, unit BN.

        The tiny final-layer init matters: with PyTorch's default init a small model starts far
        from the near-zero targets and sits at all-blank heatmaps for a long time.
        """
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                normal_init(m, std=0.001)
            elif isinstance(m, _BatchNorm):
                constant_init(m, 1.0)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint if one is configured (no-op otherwise)."""
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg, auto_prefix="head.")

    def output_size(self, feat_size: tuple[int, int]) -> tuple[int, int]:
        """``(w, h)`` of the heatmaps for a last feature map of ``feat_size`` ``(w, h)``."""
        scale = 2 ** (len(self.deconv_layers) // 3)  # each deconv block doubles exactly
        final = self.final_layer
        grow = 0
        if not isinstance(final, nn.Identity):
            grow = 2 * final.padding[0] - final.kernel_size[0] + 1
        return feat_size[0] * scale + grow, feat_size[1] * scale + grow

    def check_feature_size(self, feat_size: tuple[int, int]) -> None:
        """Fail at build time when a ``feat_size`` ``(w, h)`` last feature map does not give the
        codec's heatmap size."""
        if self.decoder is None or not hasattr(self.decoder, "heatmap_size"):
            return
        got = self.output_size(feat_size)
        if got != tuple(self.decoder.heatmap_size):
            raise ConfigError(
                f"model: the network turns a {tuple(self.decoder.input_size)} (w, h) input into {got} "
                f"heatmaps but model.head.decoder.heatmap_size is {tuple(self.decoder.heatmap_size)}; change "
                "model.head.deconv_out_channels/deconv_kernel_sizes (each deconv doubles) or the codec"
            )

    def forward(self, feats: Tensor | Sequence[Tensor]) -> Tensor:
        x = feats if isinstance(feats, Tensor) else feats[-1]
        return self.final_layer(self.conv_layers(self.deconv_layers(x)))

    def loss(self, outputs: Tensor, targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """Loss and accuracy of predicted heatmaps ``(B, K, h, w)`` against the codec's targets
        ``heatmaps`` ``(B, K, h, w)`` and ``keypoint_weights`` ``(B, K)``.

        Returns:
            ``dict(loss_kpt=..., acc_pose=...)`` of 0-dim tensors on the device (no ``acc_pose``
            with ``model.train_cfg.compute_acc=False``).
        """
        heatmaps, weights = targets["heatmaps"], targets["keypoint_weights"]
        if outputs.shape != heatmaps.shape:
            raise ValueError(
                f"predicted heatmaps {tuple(outputs.shape)} and targets {tuple(heatmaps.shape)} "
                "differ; check the codec heatmap_size against the head's upsampling"
            )
        terms = dict(loss_kpt=self.loss_module(outputs, heatmaps, weights))
        if self.train_cfg["compute_acc"]:
            terms["acc_pose"] = pose_accuracy(outputs, heatmaps, weights)
        return terms

    def check_test_cfg(self, test_cfg: dict) -> None:
        mode = test_cfg["flip_mode"]
        if mode not in FLIP_MODES:
            raise ConfigError(f"model.test_cfg.flip_mode={mode!r} unsupported; use one of {', '.join(FLIP_MODES)}")
        if mode == "udp_combined" and self.out_channels % 3:
            raise ConfigError(f"model.test_cfg.flip_mode='udp_combined' needs 3 maps per keypoint; "
                              f"model.head.out_channels={self.out_channels} is no multiple of 3")

    def flip_outputs(self, outputs: Tensor, flip_indices: Sequence[int] | None, test_cfg: dict) -> Tensor:
        """Heatmaps of flipped crops back in the original frame (see :func:`flip_heatmaps`)."""
        return flip_heatmaps(outputs, flip_indices, test_cfg["flip_mode"], test_cfg["shift_heatmap"])


def flip_heatmaps(
    heatmaps: Tensor,
    flip_indices: Sequence[int] | None,
    flip_mode: str = "heatmap",
    shift_heatmap: bool = True,
) -> Tensor:
    """Map heatmaps predicted on a horizontally flipped image back to the original frame.

    Mirrors the width axis, swaps left/right channels (``out[:, k] = in[:, flip_indices[k]]``)
    and, with ``shift_heatmap``, moves everything one pixel right (column 0 keeps its value),
    as MMPose does to offset the half-pixel misalignment of flipped argmax locations.
    ``'udp_combined'`` treats the channels as K groups of (disk, x offset, y offset), swaps
    groups and negates the x offsets, which point the other way in a mirrored crop.

    Args:
        heatmaps: ``(B, K, h, w)``, or ``(B, 3K, h, w)`` for ``'udp_combined'``.
        flip_indices: K indices, or ``None`` to keep the channel order.
        flip_mode: ``'heatmap'`` or ``'udp_combined'``.
        shift_heatmap: apply the one-pixel shift.

    Returns:
        A new tensor of the input's shape.
    """
    if flip_mode not in FLIP_MODES:
        raise ConfigError(f"model.test_cfg.flip_mode={flip_mode!r} unsupported; use one of {', '.join(FLIP_MODES)}")
    b, c, h, w = heatmaps.shape
    group = 3 if flip_mode == "udp_combined" else 1
    out = heatmaps.reshape(b, c // group, group, h, w).flip(-1)
    if flip_indices is not None:
        if len(flip_indices) != out.shape[1]:
            raise ValueError(f"{len(flip_indices)} flip_indices for {out.shape[1]} keypoints")
        out = out[:, torch.as_tensor(list(flip_indices), device=out.device)]
    if flip_mode == "udp_combined":
        out = torch.cat([out[:, :, :1], -out[:, :, 1:2], out[:, :, 2:]], dim=2)
    out = out.reshape(b, c, h, w)
    if shift_heatmap:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out
