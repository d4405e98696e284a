"""UDP heatmap codec (Unbiased Data Processing, Huang et al., CVPR 2020): Gaussian heatmaps, or
UDP's combined classification + offset maps."""
from __future__ import annotations

import cv2
import numpy as np

from mlpose.codecs.heatmap_utils import as_batch, gaussian_heatmaps, heatmap_maximum, refine_dark_udp
from mlpose.codecs.msra_heatmap import check_encode_inputs, check_kernel, check_size
from mlpose.errors import ConfigError
from mlpose.registry import CODECS

HEATMAP_TYPES = ("gaussian", "combined")


@CODECS.register()
class UDPHeatmap:
    """Heatmaps with UDP's corner-aligned scaling.

    Input and heatmap pixels are related by ``scale_factor = (input_size - 1) /
    (heatmap_size - 1)``, so the first and last pixel centres of both grids coincide. Use it with
    ``TopdownAffine(use_udp=True)``, whose warp follows the same convention.

    ``heatmap_type='gaussian'``: one Gaussian heatmap per keypoint, decoded by argmax and UDP-DARK.
    ``heatmap_type='combined'`` (MMPose's ``udp-regress`` configs): three maps per keypoint,
    channel ``3k`` a binary disk of radius ``radius_factor * max(w, h)`` heatmap pixels around
    keypoint ``k``, channels ``3k+1`` and ``3k+2`` its x and y offset from each pixel in units of
    that radius; decoded as the argmax of the blurred disk plus the offset predicted there. Train
    it with ``CombinedTargetMSELoss`` and flip with ``test_cfg.flip_mode='udp_combined'``.

    Args:
        input_size: ``(W, H)`` of the network input in pixels.
        heatmap_size: ``(w, h)`` of the heatmaps in pixels (each at least 2).
        heatmap_type: ``'gaussian'`` or ``'combined'``.
        sigma: Gaussian standard deviation in heatmap pixels (gaussian).
        radius_factor: disk radius as a fraction of the longer heatmap side (combined).
        blur_kernel_size: odd Gaussian kernel size of the decoding blur (combined blurs the
            disks with ``2 * blur_kernel_size + 1``, as MMPose).
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
        radius_factor: float = 0.0546875,
        blur_kernel_size: int = 11,
    ):
        self.input_size = check_size(input_size, "input_size", "UDPHeatmap")
        self.heatmap_size = check_size(heatmap_size, "heatmap_size", "UDPHeatmap")
        if min(self.heatmap_size) < 2 or min(self.input_size) < 2:
            raise ConfigError("UDPHeatmap: input_size and heatmap_size need at least 2 pixels per side")
        if heatmap_type not in HEATMAP_TYPES:
            raise ConfigError(f"UDPHeatmap.heatmap_type={heatmap_type!r}: use one of {', '.join(HEATMAP_TYPES)}")
        if not float(sigma) > 0:
            raise ConfigError(f"UDPHeatmap.sigma: expected a positive number, got {sigma!r}")
        if not float(radius_factor) > 0:
            raise ConfigError(f"UDPHeatmap.radius_factor: expected a positive number, got {radius_factor!r}")
        self.heatmap_type = heatmap_type
        self.sigma = float(sigma)
        self.radius_factor = float(radius_factor)
        self.blur_kernel_size = check_kernel(blur_kernel_size, "UDPHeatmap")
        self.scale_factor = (np.array(self.input_size, np.float32) - 1) / (
            np.array(self.heatmap_size, np.float32) - 1
        )

    @property
    def radius(self) -> float:
        """The combined maps' disk radius and offset unit, in heatmap pixels."""
        return self.radius_factor * max(self.heatmap_size)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict:
        """Render the targets.

        Args:
            keypoints: ``(N, K, 2)`` keypoints ``(x, y)`` in input-image pixels.
            keypoints_visible: ``(N, K)`` visibility in ``[0, 1]``; ``None`` means all visible.

        Returns:
            dict with ``heatmaps`` float32, ``(K, h, w)`` (gaussian) or ``(3K, h, w)``
            (combined), and ``keypoint_weights`` ``(N, K)`` float32: gaussian: 0 for invisible
            joints and joints whose window lies outside the heatmap; combined: the visibility
            (MMPose's), and only joints of visibility >= 0.5 get maps.
        """
        kp, vis = check_encode_inputs(keypoints, keypoints_visible)
        if self.heatmap_type == "combined":
            return dict(heatmaps=offset_heatmaps(self.heatmap_size, kp / self.scale_factor, vis, self.radius),
                        keypoint_weights=vis.copy())
        heatmaps, weights = gaussian_heatmaps(
            self.heatmap_size, kp / self.scale_factor, vis, self.sigma, mode="udp"
        )
        return dict(heatmaps=heatmaps, keypoint_weights=weights)

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from heatmaps: argmax plus UDP-DARK refinement (gaussian), or argmax of the
        blurred disks plus the offsets predicted there (combined).

        Args:
            heatmaps: ``(B, C, h, w)`` or ``(C, h, w)`` (``B = 1`` for the latter); ``C = K``
                (gaussian) or ``3K`` (combined).

        Returns:
            keypoints: ``(B, K, 2)`` float32 ``(x, y)`` in input-image pixels.
            scores: ``(B, K)`` float32 heatmap (blurred disk) maxima.
        """
        hm = as_batch(heatmaps)
        if self.heatmap_type == "combined":
            locs, scores = decode_offset_heatmaps(hm, self.radius, 2 * self.blur_kernel_size + 1)
            return locs * self.scale_factor, scores
        locs, scores = heatmap_maximum(hm)
        locs = refine_dark_udp(locs, hm, self.blur_kernel_size)
        return locs * self.scale_factor, scores

    def __repr__(self) -> str:
        shape = f"sigma={self.sigma}" if self.heatmap_type == "gaussian" else f"radius_factor={self.radius_factor}"
        return (f"UDPHeatmap(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"heatmap_type={self.heatmap_type!r}, {shape})")


def offset_heatmaps(heatmap_size: tuple[int, int], keypoints: np.ndarray, visible: np.ndarray,
                    radius: float) -> np.ndarray:
    """UDP's combined targets (MMPose ``generate_offset_heatmap``).

    Args:
        heatmap_size: ``(w, h)``.
        keypoints: ``(N, K, 2)`` in heatmap pixels.
        visible: ``(N, K)``; joints below 0.5 get no maps (a later instance overwrites an
            earlier one's maps of the same joint).
        radius: disk radius and offset unit in heatmap pixels.

    Returns:
        ``(3K, h, w)`` float32: per joint a 0/1 disk, then x and y offsets ``(keypoint - pixel) /
        radius`` over the whole map.
    """
    w, h = heatmap_size
    n, k, _ = keypoints.shape
    maps = np.zeros((k, 3, h, w), np.float32)
    xs, ys = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)[:, None]
    for i in range(n):
        on = visible[i] >= 0.5
        dx = (keypoints[i, on, 0, None, None].astype(np.float64) - xs) / radius  # (k_on, 1, w)
        dy = (keypoints[i, on, 1, None, None].astype(np.float64) - ys) / radius  # (k_on, h, 1)
        maps[on, 0] = dx**2 + dy**2 <= 1
        maps[on, 1] = np.broadcast_to(dx, (int(on.sum()), h, w))
        maps[on, 2] = np.broadcast_to(dy, (int(on.sum()), h, w))
    return maps.reshape(3 * k, h, w)


def decode_offset_heatmaps(heatmaps: np.ndarray, radius: float, blur_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of combined maps ``(B, 3K, h, w)``: the argmax of each disk after a Gaussian blur
    of ``blur_size`` (``cv2``, sigma from the size, as MMPose) plus the offset at that pixel.

    Returns:
        keypoints ``(B, K, 2)`` float32 in heatmap pixels (``-1`` and no offset where the
        blurred disk's maximum is <= 0) and scores ``(B, K)`` float32 (the blurred maxima).
    """
    b, c, h, w = heatmaps.shape
    maps = heatmaps.reshape(b, c // 3, 3, h, w)
    disks = np.stack([cv2.GaussianBlur(np.ascontiguousarray(m), (blur_size, blur_size), 0)
                      for m in maps[:, :, 0].reshape(-1, h, w)]).reshape(b, c // 3, h, w)
    locs, scores = heatmap_maximum(disks)
    found = scores > 0
    x, y = np.where(found, locs[..., 0], 0).astype(int), np.where(found, locs[..., 1], 0).astype(int)
    bi, ki = np.indices(x.shape)
    offsets = np.stack([maps[bi, ki, 1, y, x], maps[bi, ki, 2, y, x]], axis=-1) * radius
    return (locs + offsets * found[..., None]).astype(np.float32), scores
