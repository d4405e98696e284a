"""Turns the uint8 image batch from the data loader into the model's float input, on the device."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.registry import MODELS

IMAGENET_MEAN = (123.675, 116.28, 103.53)  # RGB, 0..255 pixel units
IMAGENET_STD = (58.395, 57.12, 57.375)


def _channels(values: Sequence[float]) -> Tensor:
    return torch.tensor(values, dtype=torch.float32).view(1, 3, 1, 1)


@MODELS.register()
class PoseDataPreprocessor(nn.Module):
    """Channel reorder and mean/std normalisation.

    Args:
        mean: per-channel mean in 0..255 pixel units, in the output channel order (RGB when
            ``bgr_to_rgb``).
        std: per-channel standard deviation, same units and order.
        bgr_to_rgb: reverse the channel order first (OpenCV decodes images as BGR).

    Input: ``(B, 3, H, W)`` uint8 (or float in 0..255). Output: float32 ``(B, 3, H, W)``
    ``(x - mean) / std``.
    """

    def __init__(
        self,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        bgr_to_rgb: bool = True,
    ):
        super().__init__()
        if len(mean) != 3 or len(std) != 3:
            raise ConfigError(f"PoseDataPreprocessor: mean={mean} and std={std} need 3 values each")
        if any(s <= 0 for s in std):
            raise ConfigError(f"PoseDataPreprocessor: std={std} must be positive")
        self.bgr_to_rgb = bgr_to_rgb
        # Not persistent: these are config, not learned state, and must not bloat checkpoints.
        self.register_buffer("mean", _channels(mean), persistent=False)
        self.register_buffer("std", _channels(std), persistent=False)

    def forward(self, inputs: Tensor) -> Tensor:
        if inputs.dim() != 4 or inputs.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) image batch, got {tuple(inputs.shape)}")
        x = inputs.to(self.mean.device, non_blocking=True).float()
        if self.bgr_to_rgb:
            x = x.flip(1)
        return (x - self.mean) / self.std
