"""UDP Gaussian heatmap codec (Unbiased Data Processing, Huang et al., CVPR 2020)."""
from __future__ import annotations

import numpy as np

from mlpose.codecs.heatmap_utils import as_batch, gaussian_heatmaps, heatmap_maximum, refine_dark_udp
from mlpose.codecs.msra_heatmap import check_encode_inputs, check_kernel, check_size
from mlpose.errors import ConfigError
from mlpose.registry import CODECS


@CODECS.register()
class UDPHeatmap:
    """Gaussian heatmaps with UDP's corner-aligned scaling.

    Input and heatmap pixels are related by ``scale_factor = (input_size - 1) /
    (heatmap_size - 1)``, so the first and last pixel centres of both grids coincide. Use it with
    ``TopdownAffine(use_udp=True)``, whose warp follows the same convention.

    Args:
        input_size: ``(W, H)`` of the network input in pixels.
        heatmap_size: ``(w, h)`` of the heatmaps in pixels (each at least 2).
        heatmap_type: only ``'gaussian'`` is supported.
        sigma: Gaussian standard deviation in heatmap pixels.
        blur_kernel_size: odd Gaussian kernel size of the decoding blur.
    """

    #: crops span pixel centres 0..W-1 (not 0..W): how predictions map back to the image
    corner_aligned = True
    target_keys = ("heatmaps", "keypoint_weights")  #: what encode() gives the model to learn
    instance_keys = ("keypoint_weights",)  #: target_keys with a leading instance axis N

    def __init__(
        self,
        input_size: tuple[int, int],
        heatmap_size: tuple[int, int],
        heatmap_type: str = "gaussian",
        sigma: float = 2.0,
        blur_kernel_size: int = 11,
    ):
        self.input_size = check_size(input_size, "input_size", "UDPHeatmap")
        self.heatmap_size = check_size(heatmap_size, "heatmap_size", "UDPHeatmap")
        if min(self.heatmap_size) < 2 or min(self.input_size) < 2:
            raise ConfigError("UDPHeatmap: input_size and heatmap_size need at least 2 pixels per side")
        if heatmap_type != "gaussian":
            raise ConfigError(
                f"UDPHeatmap.heatmap_type: only 'gaussian' is supported, got {heatmap_type!r}"
            )
        if not float(sigma) > 0:
            raise ConfigError(f"UDPHeatmap.sigma: expected a positive number, got {sigma!r}")
        self.heatmap_type = heatmap_type
        self.sigma = float(sigma)
        self.blur_kernel_size = check_kernel(blur_kernel_size, "UDPHeatmap")
        self.scale_factor = (np.array(self.input_size, np.float32) - 1) / (
            np.array(self.heatmap_size, np.float32) - 1
        )

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict:
        """Render target heatmaps.

        Args:
            keypoints: ``(N, K, 2)`` keypoints ``(x, y)`` in input-image pixels.
            keypoints_visible: ``(N, K)`` visibility in ``[0, 1]``; ``None`` means all visible.

        Returns:
            dict with ``heatmaps`` ``(K, h, w)`` float32 and ``keypoint_weights`` ``(N, K)``
            float32 (0 for invisible joints and joints whose window lies outside the heatmap).
        """
        kp, vis = check_encode_inputs(keypoints, keypoints_visible)
        heatmaps, weights = gaussian_heatmaps(
            self.heatmap_size, kp / self.scale_factor, vis, self.sigma, mode="udp"
        )
        return dict(heatmaps=heatmaps, keypoint_weights=weights)

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Argmax plus UDP-DARK refinement.

        Args:
            heatmaps: ``(B, K, h, w)`` or ``(K, h, w)`` heatmaps (``B = 1`` for the latter).

        Returns:
            keypoints: ``(B, K, 2)`` float32 ``(x, y)`` in input-image pixels.
            scores: ``(B, K)`` float32 heatmap maxima.
        """
        hm = as_batch(heatmaps)
        locs, scores = heatmap_maximum(hm)
        locs = refine_dark_udp(locs, hm, self.blur_kernel_size)
        return locs * self.scale_factor, scores

    def __repr__(self) -> str:
        return (
            f"UDPHeatmap(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
            f"sigma={self.sigma})"
        )
