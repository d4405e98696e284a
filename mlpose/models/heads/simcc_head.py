"""SimCC heads: features -> one logit vector per keypoint and axis (``simcc_x``, ``simcc_y``).

:class:`SimCCHeadBase` holds what every SimCC head shares under the model contract (loss and
accuracy, flip test, decoding through the ``SimCCLabel`` codec); :class:`SimCCHead` is
SimCC-ResNet's head (Li et al. 2022): optional deconvolutions, then one linear layer per axis
over the flattened K feature maps. Parameter names equal MMPose's.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.models.accuracy import simcc_accuracy
from mlpose.models.heads.base import PoseHead
from mlpose.models.heads.heatmap_head import HeatmapHead
from mlpose.models.init import check_init_cfg, load_pretrained
from mlpose.registry import MODELS, build


def flip_vectors(simcc_x: Tensor, simcc_y: Tensor, flip_indices: Sequence[int] | None) -> tuple[Tensor, Tensor]:
    """Map SimCC vectors predicted on a horizontally flipped crop back to the original frame.

    As MMPose's ``flip_vectors``: left/right keypoints swap (``out[:, k] = in[:, flip_indices[k]]``)
    and the x vectors are reversed (bin ``i`` -> ``Wx - 1 - i``, no sub-bin shift); y is unchanged.

    Args:
        simcc_x: ``(B, K, Wx)``.
        simcc_y: ``(B, K, Wy)``.
        flip_indices: K indices, or ``None`` to keep the keypoint order.

    Returns:
        ``(simcc_x, simcc_y)`` of the same shapes (``simcc_y`` is the input when
        ``flip_indices`` is ``None``).
    """
    if flip_indices is not None:
        if len(flip_indices) != simcc_x.shape[1]:
            raise ValueError(f"{len(flip_indices)} flip_indices for {simcc_x.shape[1]} keypoints")
        index = torch.as_tensor(list(flip_indices), device=simcc_x.device)
        simcc_x, simcc_y = simcc_x[:, index], simcc_y[:, index]
    return simcc_x.flip(-1), simcc_y


def _check_pair(value, key: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected (width, height), got {value!r}") from None
    if w <= 0 or h <= 0:
        raise ConfigError(f"{key}: expected two positive integers, got {value!r}")
    return w, h


class SimCCHeadBase(PoseHead):
    """The model-contract side of a SimCC head (loss and accuracy, flip test, sizes checked
    against the codec and the backbone); subclasses build the layers and ``forward``.

    Args:
        owner: the subclass name, for error messages.
        out_channels: number of keypoints K.
        input_size: ``(w, h)`` of the input crop in pixels.
        in_featuremap_size: ``(w, h)`` of the backbone's last feature map.
        simcc_split_ratio: bins per input pixel; ``Wx = int(w * ratio)``.
        loss: loss config (``KLDiscretLoss``).
        decoder: codec config (``SimCCLabel``); its bins must equal the head's.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)`` or ``None``.
    """

    output_names = ("simcc_x", "simcc_y")
    #: MMPose's SimCC heads read no test_cfg keys beyond flip_test and output_heatmaps
    test_cfg_defaults: dict = {}

    def __init__(self, owner: str, out_channels: int, input_size: Sequence[int], in_featuremap_size: Sequence[int],
                 simcc_split_ratio: float, loss: dict, decoder: dict | None, init_cfg: dict | None):
        super().__init__(decoder)
        w, h = _check_pair(input_size, f"{owner}.input_size")
        self.in_featuremap_size = _check_pair(in_featuremap_size, f"{owner}.in_featuremap_size")
        if not float(simcc_split_ratio) > 0:
            raise ConfigError(f"{owner}.simcc_split_ratio: expected a positive number, got {simcc_split_ratio!r}")
        self.out_channels = out_channels
        self.input_size = (w, h)
        self.simcc_split_ratio = float(simcc_split_ratio)
        self.simcc_size = (int(w * simcc_split_ratio), int(h * simcc_split_ratio))
        self.init_cfg = check_init_cfg(init_cfg, owner)
        self.loss_module = build(loss, MODELS, "model.head.loss")
        codec_size = getattr(self.decoder, "simcc_size", None)
        if self.decoder is not None and codec_size != self.simcc_size:
            raise ConfigError(
                f"model.head: the head predicts {self.simcc_size} (x, y) bins (input_size {self.input_size} x "
                f"simcc_split_ratio {self.simcc_split_ratio}) but its decoder expects {codec_size}; "
                "give model.head and its decoder the same input_size and simcc_split_ratio")

    def check_feature_size(self, feat_size: tuple[int, int]) -> None:
        """Fail at build time (or at the first forward) when the backbone's last feature map,
        ``feat_size`` ``(w, h)``, is not the ``in_featuremap_size`` the head's linear layers take."""
        if tuple(feat_size) != self.in_featuremap_size:
            raise ConfigError(
                f"model.head.in_featuremap_size={self.in_featuremap_size} (w, h) but the backbone gives "
                f"{tuple(feat_size)} for the input crop; set it to {tuple(feat_size)} (input_size / the "
                "backbone's stride)")

    def reset_parameters(self) -> None:
        """MMPose's SimCC head init: N(0, 0.001) (de)convs, unit BatchNorm, N(0, 0.01) linears, zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.001)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
            else:
                continue
            if m.bias is not None:
                nn.init.zeros_(m.bias)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint if one is configured (no-op otherwise)."""
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg, auto_prefix="head.")

    def loss(self, outputs: tuple[Tensor, Tensor], targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """Loss and accuracy of predicted vectors against the codec's targets.

        Args:
            outputs: ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))`` from :meth:`forward`.
            targets: ``keypoint_x_labels (B, K, Wx)``, ``keypoint_y_labels (B, K, Wy)`` and
                ``keypoint_weights (B, K)`` on the outputs' device.

        Returns:
            ``dict(loss_kpt=..., acc_pose=...)`` of 0-dim tensors on the device (no host sync).
        """
        pred_x, pred_y = outputs
        gt_x, gt_y = targets["keypoint_x_labels"], targets["keypoint_y_labels"]
        weights = targets["keypoint_weights"]
        if pred_x.shape != gt_x.shape or pred_y.shape != gt_y.shape:
            raise ConfigError(
                f"model.head predicts SimCC vectors {tuple(pred_x.shape)}/{tuple(pred_y.shape)} but the training "
                f"targets are {tuple(gt_x.shape)}/{tuple(gt_y.shape)}; give GenerateTarget's encoder the "
                "head's input_size and simcc_split_ratio")
        return dict(
            loss_kpt=self.loss_module((pred_x, pred_y), (gt_x, gt_y), weights),
            acc_pose=simcc_accuracy((pred_x, pred_y), (gt_x, gt_y), weights, self.simcc_split_ratio),
        )

    def flip_outputs(self, outputs: tuple[Tensor, Tensor], flip_indices: Sequence[int] | None,
                     test_cfg: dict | None = None) -> tuple[Tensor, Tensor]:
        """Outputs of the flipped crop in the original frame (:func:`flip_vectors`)."""
        return flip_vectors(outputs[0], outputs[1], flip_indices)


@MODELS.register()
class SimCCHead(SimCCHeadBase):
    """SimCC-ResNet head: optional HeatmapHead-style deconvs (``deconv_head``) or a plain
    ``final_layer`` conv to K maps, then ``mlp_head_x`` / ``mlp_head_y`` linears from each
    flattened map to the ``Wx`` / ``Wy`` bins.

    Args:
        in_channels: channels of the backbone's last feature map.
        out_channels: number of keypoints K.
        input_size: ``(w, h)`` of the input crop in pixels.
        in_featuremap_size: ``(w, h)`` of the backbone's last feature map (input_size / stride).
        simcc_split_ratio: bins per input pixel; ``Wx = int(w * ratio)``.
        deconv_type: only ``'heatmap'`` (``'vipnas'`` needs MMPose's ViPNAS head, not here).
        deconv_out_channels: widths of the stride-2 deconvs; ``None`` or empty for none.
        deconv_kernel_sizes: their kernel sizes (2, 3 or 4).
        deconv_num_groups: ``'vipnas'`` only; ignored.
        conv_out_channels, conv_kernel_sizes: optional convs after the deconvs.
        final_layer: the last conv's ``dict(kernel_size=..., padding=...)`` to K maps, or ``None``.
        loss: loss config (``KLDiscretLoss``).
        decoder: codec config (``SimCCLabel``) that :meth:`decode` uses.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)``; a pose checkpoint's ``head.*`` keys.

    Input: a tuple of feature maps (the last is used). Output ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: tuple[int, int],
        in_featuremap_size: tuple[int, int],
        simcc_split_ratio: float = 2.0,
        deconv_type: str = "heatmap",
        deconv_out_channels: Sequence[int] | None = (256, 256, 256),
        deconv_kernel_sizes: Sequence[int] | None = (4, 4, 4),
        deconv_num_groups: Sequence[int] | None = (16, 16, 16),
        conv_out_channels: Sequence[int] | None = None,
        conv_kernel_sizes: Sequence[int] | None = None,
        final_layer: dict | None = dict(kernel_size=1),
        loss: dict = dict(type="KLDiscretLoss", use_target_weight=True),
        decoder: dict | None = None,
        init_cfg: dict | None = None,
    ):
        if deconv_type != "heatmap":
            raise ConfigError(f"SimCCHead.deconv_type={deconv_type!r}: only 'heatmap' is supported")
        if not isinstance(in_channels, int):
            raise ConfigError(f"SimCCHead.in_channels={in_channels!r}: expected one int (the last feature map's width)")
        super().__init__("SimCCHead", out_channels, input_size, in_featuremap_size, simcc_split_ratio, loss,
                         decoder, init_cfg)
        num_deconv = len(deconv_out_channels or ())
        self.final_layer = None
        if num_deconv:
            self.deconv_head = HeatmapHead(in_channels, out_channels, deconv_out_channels, deconv_kernel_sizes,
                                           conv_out_channels, conv_kernel_sizes, final_layer)
        else:
            self.deconv_head = None
            if final_layer is not None:
                unknown = set(final_layer) - {"kernel_size", "padding", "stride"}
                if unknown:
                    raise ConfigError(f"SimCCHead.final_layer: unknown keys {sorted(unknown)}")
                self.final_layer = nn.Conv2d(in_channels, out_channels, **{"kernel_size": 1, **final_layer})
        self.heatmap_size = tuple(s * 2**num_deconv for s in self.in_featuremap_size)
        flatten_dims = self.heatmap_size[0] * self.heatmap_size[1]
        self.mlp_head_x = nn.Linear(flatten_dims, self.simcc_size[0])
        self.mlp_head_y = nn.Linear(flatten_dims, self.simcc_size[1])
        self.reset_parameters()

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))`` from the last feature map ``(B, C, h, w)``."""
        x = feats if isinstance(feats, Tensor) else feats[-1]
        self.check_feature_size((x.shape[-1], x.shape[-2]))
        if self.deconv_head is not None:
            x = self.deconv_head(x)
        elif self.final_layer is not None:
            x = self.final_layer(x)
        x = torch.flatten(x, 2)
        return self.mlp_head_x(x), self.mlp_head_y(x)
