"""Heatmap losses: Gaussian heatmaps (KeypointMSELoss), UDP combined maps (CombinedTargetMSELoss)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from mlpose.registry import MODELS


@MODELS.register()
class KeypointMSELoss(nn.Module):
    """Mean squared error between predicted and target heatmaps (MMPose 1.x semantics).

    The squared error of every pixel is multiplied by its keypoint's weight (when
    ``use_target_weight``) and by an "is this target channel non-empty" mask (when
    ``skip_empty_channel``), then averaged over *all* ``B * K * h * w`` pixels, so masked
    channels still count in the denominator. There is no 0.5 factor (MMPose 0.x had one).

    Args:
        use_target_weight: weight each keypoint's channel by ``target_weights``.
        skip_empty_channel: ignore channels whose target heatmap is all zeros.
        loss_weight: multiplier of the final loss.
    """

    def __init__(
        self,
        use_target_weight: bool = False,
        skip_empty_channel: bool = False,
        loss_weight: float = 1.0,
    ):
        super().__init__()
        self.use_target_weight = use_target_weight
        self.skip_empty_channel = skip_empty_channel
        self.loss_weight = loss_weight

    def forward(
        self, output: Tensor, target: Tensor, target_weights: Tensor | None = None
    ) -> Tensor:
        """Compute the loss.

        Args:
            output: predicted heatmaps ``(B, K, h, w)``.
            target: target heatmaps ``(B, K, h, w)``.
            target_weights: per-keypoint weights ``(B, K)``; required when
                ``use_target_weight``.

        Returns:
            A 0-dim tensor.
        """
        mask = None
        if self.use_target_weight:
            if target_weights is None:
                raise ValueError("KeypointMSELoss(use_target_weight=True) needs target_weights")
            mask = target_weights.reshape(*target_weights.shape[:2], 1, 1)
        if self.skip_empty_channel:
            nonempty = (target != 0).flatten(2).any(dim=2)[..., None, None].to(target.dtype)
            mask = nonempty if mask is None else mask * nonempty
        if mask is None:
            loss = F.mse_loss(output, target)
        else:
            loss = (F.mse_loss(output, target, reduction="none") * mask).mean()
        return loss * self.loss_weight


@MODELS.register()
class CombinedTargetMSELoss(nn.Module):
    """MSE of UDP's combined targets (``UDPHeatmap(heatmap_type='combined')``), MMPose's formula.

    Per keypoint ``k`` the channels ``3k, 3k+1, 3k+2`` are a disk (classification) and x/y offset
    maps (regression). The loss is ``0.5 * (MSE(w * disk_pred, w * disk_gt) + MSE(m * dx_pred,
    m * dx_gt) + MSE(m * dy_pred, m * dy_gt))`` averaged over keypoints, where ``w`` is the
    keypoint's weight (when ``use_target_weight``) and ``m = w * disk_gt``: offsets are learnt
    only inside the target disk. Each MSE averages over batch and pixels.

    Args:
        use_target_weight: weight each keypoint by ``target_weights``.
        loss_weight: multiplier of the final loss.
    """

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0):
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self, output: Tensor, target: Tensor, target_weights: Tensor | None = None) -> Tensor:
        """Compute the loss.

        Args:
            output: predicted maps ``(B, 3K, h, w)``.
            target: target maps ``(B, 3K, h, w)``.
            target_weights: per-keypoint weights ``(B, K)``; required when ``use_target_weight``.

        Returns:
            A 0-dim tensor.
        """
        b, c, h, w = output.shape
        if c % 3:
            raise ValueError(f"CombinedTargetMSELoss needs 3 channels per keypoint, got {c}")
        pred, gt = output.reshape(b, c // 3, 3, h * w), target.reshape(b, c // 3, 3, h * w)
        disk_pred, disk_gt = pred[:, :, 0], gt[:, :, 0]
        if self.use_target_weight:
            if target_weights is None:
                raise ValueError("CombinedTargetMSELoss(use_target_weight=True) needs target_weights")
            weight = target_weights.reshape(b, c // 3, 1)
            disk_pred, disk_gt = disk_pred * weight, disk_gt * weight
        # the weighted target disk also masks the offsets, as MMPose's formula has it
        loss = F.mse_loss(disk_pred, disk_gt)
        for axis in (1, 2):
            loss = loss + F.mse_loss(disk_gt * pred[:, :, axis], disk_gt * gt[:, :, axis])
        return 0.5 * loss * self.loss_weight
