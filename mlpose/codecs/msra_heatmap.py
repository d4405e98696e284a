"""MSRA Gaussian heatmap codec (SimpleBaseline), with optional DARK decoding."""
from __future__ import annotations

import numpy as np

from mlpose.codecs.heatmap_utils import (
    as_batch,
    gaussian_heatmaps,
    heatmap_maximum,
    refine_dark,
    refine_quarter_offset,
)
from mlpose.errors import ConfigError
from mlpose.registry import CODECS


def check_size(value, key: str, owner: str) -> tuple[int, int]:
    """Return ``value`` as a ``(w, h)`` tuple of positive ints or raise a ConfigError naming ``key``."""
    try:
        w, h = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{owner}.{key}: expected (width, height), got {value!r}") from None
    if w <= 0 or h <= 0 or (w, h) != tuple(value):
        raise ConfigError(f"{owner}.{key}: expected two positive integers, got {value!r}")
    return w, h


def check_kernel(size, owner: str) -> int:
    if not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ConfigError(f"{owner}.blur_kernel_size: expected an odd positive int, got {size!r}")
    return size


def check_encode_inputs(keypoints, keypoints_visible) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(N, K, 2)`` keypoints and ``(N, K)`` visibility (default: all visible)."""
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[-1] != 2:
        raise ValueError(f"keypoints must be (N, K, 2), got shape {kp.shape}")
    if keypoints_visible is None:
        vis = np.ones(kp.shape[:2], dtype=np.float32)
    else:
        vis = np.asarray(keypoints_visible, dtype=np.float32)
    if vis.shape != kp.shape[:2]:
        raise ValueError(f"keypoints_visible must be {kp.shape[:2]}, got shape {vis.shape}")
    return kp, vis


@CODECS.register()
class MSRAHeatmap:
    """Gaussian heatmaps at ``heatmap_size`` for keypoints given at ``input_size``.

    Input space and heatmap space are related by ``scale_factor = input_size / heatmap_size``
    (e.g. 4 for 192x256 -> 48x64), with pixel centres mapped to ``p / scale_factor``.

    Args:
        input_size: ``(W, H)`` of the network input in pixels.
        heatmap_size: ``(w, h)`` of the heatmaps in pixels.
        sigma: Gaussian standard deviation in heatmap pixels.
        unbiased: DARK: encode Gaussians at the exact sub-pixel position (not rounded) and
            decode with blur + Taylor expansion instead of the quarter-pixel shift.
        blur_kernel_size: odd Gaussian kernel size of the DARK modulation blur.
    """

    corner_aligned = False  #: crops span 0..W (pixel edges), as TopdownAffine(use_udp=False) cuts them
    target_keys = ("heatmaps", "keypoint_weights")  #: what encode() gives the model to learn
    instance_keys = ("keypoint_weights",)  #: target_keys with a leading instance axis N

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        sigma: float = 2.0,
        unbiased: bool = False,
        blur_kernel_size: int = 11,
    ):
        self.input_size = check_size(input_size, "input_size", "MSRAHeatmap")
        self.heatmap_size = check_size(heatmap_size, "heatmap_size", "MSRAHeatmap")
        if not float(sigma) > 0:
            raise ConfigError(f"MSRAHeatmap.sigma: expected a positive number, got {sigma!r}")
        self.sigma = float(sigma)
        self.unbiased = bool(unbiased)
        self.blur_kernel_size = check_kernel(blur_kernel_size, "MSRAHeatmap")
        self.scale_factor = (
            np.array(self.input_size, dtype=np.float32) / np.array(self.heatmap_size, dtype=np.float32)
        )

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict:
        """Render target heatmaps.

        Args:
            keypoints: ``(N, K, 2)`` keypoints ``(x, y)`` in input-image pixels.
            keypoints_visible: ``(N, K)`` visibility in ``[0, 1]``; ``None`` means all visible.

        Returns:
            dict with ``heatmaps`` ``(K, h, w)`` float32 (maximum over the N instances) and
            ``keypoint_weights`` ``(N, K)`` float32: the visibility, or 0 for joints that are
            invisible (``< 0.5``) or whose Gaussian window lies fully outside the heatmap.
        """
        kp, vis = check_encode_inputs(keypoints, keypoints_visible)
        heatmaps, weights = gaussian_heatmaps(
            self.heatmap_size,
            kp / self.scale_factor,
            vis,
            self.sigma,
            mode="unbiased" if self.unbiased else "msra",
        )
        return dict(heatmaps=heatmaps, keypoint_weights=weights)

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Locate each joint's maximum with sub-pixel refinement.

        Args:
            heatmaps: ``(B, K, h, w)`` or ``(K, h, w)`` heatmaps (``B = 1`` for the latter).

        Returns:
            keypoints: ``(B, K, 2)`` float32 ``(x, y)`` in input-image pixels; joints whose
                maximum is ``<= 0`` decode to ``-scale_factor``.
            scores: ``(B, K)`` float32 heatmap maxima.
        """
        hm = as_batch(heatmaps)
        locs, scores = heatmap_maximum(hm)
        if self.unbiased:
            locs = refine_dark(locs, hm, self.blur_kernel_size)
        else:
            locs = refine_quarter_offset(locs, hm)
        return locs * self.scale_factor, scores

    def __repr__(self) -> str:
        return (
            f"MSRAHeatmap(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
            f"sigma={self.sigma}, unbiased={self.unbiased})"
        )
