"""SimCC losses: KL divergence between predicted and target per-axis distributions."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.registry import MODELS


@MODELS.register()
class KLDiscretLoss(nn.Module):
    """Discrete KL divergence of SimCC vectors (MMPose ``KLDiscretLoss`` semantics).

    Per axis, keypoint and sample: ``mean over bins of KL(labels || softmax(beta * pred))``,
    where ``labels`` are the targets, or ``softmax(label_beta * targets)`` with
    ``label_softmax``. Each keypoint's term is multiplied by its target weight (with
    ``use_target_weight``) and by ``mask_weight`` for the keypoints in ``mask``; the x and y
    terms are summed over the batch and keypoints and divided by K (not by B: the loss grows
    with the batch size, as MMPose's does).

    The loss is computed in float32 even under autocast (a softmax over a few hundred bins).

    Args:
        beta: temperature (multiplier) of the predictions' log-softmax; RTMPose uses 10.
        label_softmax: turn the targets into a distribution with a softmax first.
        label_beta: temperature of that softmax.
        use_target_weight: weight each keypoint by ``target_weight``.
        mask: indices of keypoints whose loss is scaled by ``mask_weight`` (or ``None``).
        mask_weight: that scale.
    """

    def __init__(
        self,
        beta: float = 1.0,
        label_softmax: bool = False,
        label_beta: float = 10.0,
        use_target_weight: bool = True,
        mask: Sequence[int] | None = None,
        mask_weight: float = 1.0,
    ):
        super().__init__()
        if not float(beta) > 0 or not float(label_beta) > 0:
            raise ConfigError(f"KLDiscretLoss: beta and label_beta must be positive, got {beta!r}, {label_beta!r}")
        if mask is not None and (isinstance(mask, (str, bytes)) or not all(isinstance(i, int) for i in mask)):
            raise ConfigError(f"KLDiscretLoss.mask={mask!r}: expected a list of keypoint indices or None")
        self.beta = float(beta)
        self.label_softmax = bool(label_softmax)
        self.label_beta = float(label_beta)
        self.use_target_weight = bool(use_target_weight)
        self.mask = list(mask) if mask is not None else None
        self.mask_weight = float(mask_weight)

    def _axis_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """``(B, K)`` mean-over-bins KL divergence of one axis."""
        log_pt = F.log_softmax(pred.float() * self.beta, dim=-1)
        labels = target.float()
        if self.label_softmax:
            labels = F.softmax(labels * self.label_beta, dim=-1)
        return F.kl_div(log_pt, labels, reduction="none").mean(dim=-1)

    def forward(self, pred_simcc: Sequence[Tensor], gt_simcc: Sequence[Tensor],
                target_weight: Tensor | None = None) -> Tensor:
        """Compute the loss.

        Args:
            pred_simcc: ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))`` predicted logits.
            gt_simcc: the target vectors of the same shapes.
            target_weight: ``(B, K)`` keypoint weights; required with ``use_target_weight``.

        Returns:
            A 0-dim float32 tensor.
        """
        num_keypoints = pred_simcc[0].shape[1]
        weight = None
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError("KLDiscretLoss(use_target_weight=True) needs target_weight")
            weight = target_weight.reshape(pred_simcc[0].shape[:2]).float()
        if self.mask is not None:
            if max(self.mask, default=-1) >= num_keypoints or min(self.mask, default=0) < -num_keypoints:
                raise ConfigError(f"KLDiscretLoss.mask={self.mask}: indexes beyond the model's "
                                  f"{num_keypoints} keypoints; use indices 0..{num_keypoints - 1}")
            scale = torch.ones(num_keypoints, device=pred_simcc[0].device)
            scale[self.mask] = self.mask_weight
            weight = scale if weight is None else weight * scale
        total = 0.0
        for pred, target in zip(pred_simcc, gt_simcc):
            loss = self._axis_loss(pred, target)
            total = total + (loss * weight if weight is not None else loss).sum()
        return total / num_keypoints
