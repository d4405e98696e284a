"""MMPose's ``FeatureMapProcessor`` neck: select, concatenate, ReLU and rescale feature maps.

ViTPose's "simple decoder" is this neck (ReLU, then x4 bilinear upsampling) followed by a
heatmap head with no deconvolutions and a 3x3 final conv.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.registry import MODELS


@MODELS.register()
class FeatureMapProcessor(nn.Module):
    """Pick, merge and rescale a backbone's feature maps (no parameters).

    Args:
        select_index: index or indices of the feature maps to keep (None: all).
        concat: concatenate the kept maps along channels, each first resized bilinearly to the
            first one's size.
        scale_factor: bilinear rescaling factor of every map (1.0: none).
        apply_relu: ReLU on every map (before rescaling).
        align_corners: ``F.interpolate``'s ``align_corners`` for the resizes.

    Input: a tuple of ``(B, C_i, h_i, w_i)`` maps (or one tensor). Output: a tuple of maps
    (one ``(B, sum C_i, h_0, w_0)`` map with ``concat``), each ``(h * scale_factor, w * scale_factor)``;
    a single tensor in gives a single tensor out.
    """

    def __init__(self, select_index: int | Sequence[int] | None = None, concat: bool = False,
                 scale_factor: float = 1.0, apply_relu: bool = False, align_corners: bool = False):
        super().__init__()
        if isinstance(select_index, int):
            select_index = (select_index,)
        if select_index is not None and (not select_index or not all(isinstance(i, int) for i in select_index)):
            raise ConfigError(f"FeatureMapProcessor.select_index={select_index!r}: use an int, a list of ints or None")
        if isinstance(scale_factor, bool) or not isinstance(scale_factor, (int, float)) or scale_factor <= 0:
            raise ConfigError(f"FeatureMapProcessor.scale_factor={scale_factor!r} must be a positive number")
        self.select_index = tuple(select_index) if select_index is not None else None
        self.concat = bool(concat)
        self.scale_factor = float(scale_factor)
        self.apply_relu = bool(apply_relu)
        self.align_corners = bool(align_corners)

    def forward(self, inputs: Tensor | Sequence[Tensor]) -> Tensor | tuple[Tensor, ...]:
        single = isinstance(inputs, Tensor)
        feats = [inputs] if single else list(inputs)
        if not single:
            if self.select_index is not None:
                feats = [feats[i] for i in self.select_index]
            if self.concat:
                size = feats[0].shape[-2:]
                feats = [torch.cat([self._resize(f, size=size) for f in feats], dim=1)]
        if self.apply_relu:
            feats = [F.relu(f) for f in feats]
        if self.scale_factor != 1.0:
            feats = [self._resize(f, scale_factor=self.scale_factor) for f in feats]
        return feats[0] if single else tuple(feats)

    def _resize(self, x: Tensor, size=None, scale_factor: float | None = None) -> Tensor:
        if size is not None and tuple(x.shape[-2:]) == tuple(size):
            return x
        return F.interpolate(x, size=size, scale_factor=scale_factor, mode="bilinear", align_corners=self.align_corners)
