"""SimpleBaseline heatmap head (Xiao et al. 2018): deconvolutions then a 1x1 conv."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mlpose.errors import ConfigError
from mlpose.models.accuracy import pose_accuracy
from mlpose.models.init import check_init_cfg, constant_init, load_pretrained, normal_init
from mlpose.registry import CODECS, MODELS, build

_DECONV_PADDING = {4: (1, 0), 3: (1, 1), 2: (0, 0)}  # kernel -> (padding, output_padding) for x2


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
class HeatmapHead(nn.Module):
    """Upsamples the last backbone feature x2 per deconv layer and predicts K heatmaps.

    Args:
        in_channels: channels of the backbone's last feature map.
        out_channels: number of keypoints K.
        deconv_out_channels: channels of each stride-2 ``ConvTranspose2d + BN + ReLU``; empty or
            ``None`` for no upsampling.
        deconv_kernel_sizes: kernel size (2, 3 or 4) of each deconv.
        conv_out_channels: optional ``Conv + BN + ReLU`` layers after the deconvs.
        conv_kernel_sizes: their kernel sizes (odd, "same" padding).
        final_layer: ``dict(kernel_size=1)`` (optionally ``padding``) for the last conv to K
            channels, or ``None`` for none (then the last width must equal ``out_channels``).
        loss: loss config built from ``MODELS``.
        decoder: codec config built from ``CODECS`` that :meth:`decode` uses.
        init_cfg: optional ``dict(type='Pretrained', checkpoint=PATH_OR_URL)`` (see
            :mod:`mlpose.models.init`); a pose checkpoint uses its ``head.*`` keys.

    Input: a feature tensor ``(B, in_channels, h0, w0)`` or a tuple whose last item is one.
    Output: heatmaps ``(B, K, h0 * 2**n_deconv, w0 * 2**n_deconv)``.
    """

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
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.init_cfg = check_init_cfg(init_cfg, "HeatmapHead")
        deconvs = _deconv_layers(in_channels, deconv_out_channels or (), deconv_kernel_sizes or ())
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
        self.decoder = build(decoder, CODECS, "model.head.decoder") if decoder else None
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

    def forward(self, feats: Tensor | Sequence[Tensor]) -> Tensor:
        x = feats if isinstance(feats, Tensor) else feats[-1]
        return self.final_layer(self.conv_layers(self.deconv_layers(x)))

    def loss(self, pred: Tensor, heatmaps: Tensor, keypoint_weights: Tensor) -> dict[str, Tensor]:
        """Loss and accuracy of predicted heatmaps ``(B, K, h, w)`` against targets.

        Returns:
            ``dict(loss_kpt=..., acc_pose=...)`` of 0-dim tensors on the device.
        """
        if pred.shape != heatmaps.shape:
            raise ValueError(
                f"predicted heatmaps {tuple(pred.shape)} and targets {tuple(heatmaps.shape)} "
                "differ; check the codec heatmap_size against the head's upsampling"
            )
        return dict(
            loss_kpt=self.loss_module(pred, heatmaps, keypoint_weights),
            acc_pose=pose_accuracy(pred, heatmaps, keypoint_weights),
        )

    def decode(self, heatmaps: Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints in model-input pixels ``(B, K, 2)`` and scores ``(B, K)`` via the codec."""
        if self.decoder is None:
            raise ConfigError("model.head.decoder is not set; prediction needs a codec config")
        return self.decoder.decode(heatmaps.detach().float().cpu().numpy())


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

    Args:
        heatmaps: ``(B, K, h, w)``.
        flip_indices: K indices, or ``None`` to keep the channel order.
        flip_mode: only ``'heatmap'`` is supported.
        shift_heatmap: apply the one-pixel shift.

    Returns:
        A new ``(B, K, h, w)`` tensor.
    """
    if flip_mode != "heatmap":
        raise ConfigError(f"model.test_cfg.flip_mode={flip_mode!r} unsupported; use 'heatmap'")
    out = heatmaps.flip(-1)
    if flip_indices is not None:
        if len(flip_indices) != out.shape[1]:
            raise ValueError(f"{len(flip_indices)} flip_indices for {out.shape[1]} keypoints")
        out = out[:, torch.as_tensor(list(flip_indices), device=out.device)]
    if shift_heatmap:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out
