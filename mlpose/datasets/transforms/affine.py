"""Top-down crop: one affine warp from the image straight to the network input."""
from __future__ import annotations

import cv2
import numpy as np

from mlpose.datasets.transforms.warp import (
    PENDING_KEY,
    apply_affine,
    fix_aspect_ratio,
    get_udp_warp_matrix,
    get_warp_matrix,
)
from mlpose.errors import ConfigError
from mlpose.registry import TRANSFORMS


@TRANSFORMS.register()
class TopdownAffine:
    """Crop the (single) box to ``input_size`` with rotation, in one ``cv2.warpAffine``.

    The box size is first grown to the input aspect ratio. A lazy flip recorded by
    ``RandomFlip`` (``pending_transform``) is folded into the same matrix, so the image is
    resampled exactly once (bilinear, zero border).

    Required keys: img, bbox_center ``(1, 2)``, bbox_scale ``(1, 2)``, bbox_rotation
    (optional, degrees), keypoints (optional), pending_transform (optional).
    Modified keys: img (now ``(H, W, C)`` at input_size), bbox_scale (aspect-fixed).
    Added keys: input_size ``(W, H)``, input_center ``(2,)``, input_scale ``(2,)``,
    transformed_keypoints ``(1, K, 2)`` in input pixels (when keypoints are present).
    Removed keys: pending_transform.

    Args:
        input_size: ``(W, H)`` of the network input in pixels.
        use_udp: use UDP's corner-aligned warp (pair with the ``UDPHeatmap`` codec).
    """

    def __init__(self, input_size: tuple[int, int], use_udp: bool = False):
        try:
            w, h = (int(v) for v in input_size)
        except (TypeError, ValueError):
            raise ConfigError(f"TopdownAffine.input_size: expected (width, height), got {input_size!r}") from None
        if w <= 0 or h <= 0:
            raise ConfigError(f"TopdownAffine.input_size: expected positive sizes, got {input_size!r}")
        self.input_size = (w, h)
        self.use_udp = bool(use_udp)

    def warp_matrix(self, center: np.ndarray, scale: np.ndarray, rot: float) -> np.ndarray:
        """``(2, 3)`` float64 matrix from annotation coordinates to input pixels."""
        if self.use_udp:
            return get_udp_warp_matrix(center, scale, rot, self.input_size)
        return get_warp_matrix(center, scale, rot, self.input_size)

    def __call__(self, results: dict) -> dict:
        w, h = self.input_size
        if results["bbox_center"].shape[0] != 1:
            raise ValueError(
                f"TopdownAffine: expected one box per sample, got {results['bbox_center'].shape[0]}"
            )
        scale = fix_aspect_ratio(np.asarray(results["bbox_scale"], np.float32), w / h)
        results["bbox_scale"] = scale
        center = results["bbox_center"][0]
        rotation = results.get("bbox_rotation")
        rot = 0.0 if rotation is None else float(rotation[0])
        mat = self.warp_matrix(center, scale[0], rot)
        pending = results.pop(PENDING_KEY, None)
        img_mat = mat if pending is None else mat @ pending
        results["img"] = cv2.warpAffine(results["img"], img_mat, (w, h), flags=cv2.INTER_LINEAR)
        if results.get("keypoints") is not None:
            results["transformed_keypoints"] = apply_affine(results["keypoints"], mat)
        results["input_size"] = (w, h)
        results["input_center"] = np.asarray(center, np.float32)
        results["input_scale"] = scale[0]
        return results

    def __repr__(self) -> str:
        return f"TopdownAffine(input_size={self.input_size}, use_udp={self.use_udp})"
