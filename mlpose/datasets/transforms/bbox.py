"""Bounding-box transforms: xyxy box -> centre/scale, and random shift/scale/rotation."""
from __future__ import annotations

import numpy as np

from mlpose.datasets.transforms.common import check_prob, keep_raw_annotations, truncated_normal
from mlpose.errors import ConfigError
from mlpose.registry import TRANSFORMS


@TRANSFORMS.register()
class GetBBoxCenterScale:
    """Convert the xyxy box to a centre and a padded size.

    If ``bbox_center`` and ``bbox_scale`` already exist they are kept and only the padding is
    applied (as MMPose does). Also keeps an untouched copy of the GT keypoints.

    Required keys: bbox ``(N, 4)`` xyxy in image pixels (unless bbox_center/bbox_scale exist).
    Added keys: bbox_center ``(N, 2)``, bbox_scale ``(N, 2)`` (``(w, h) * padding``),
    raw_keypoints, raw_keypoints_visible (when keypoints are present).

    Args:
        padding: factor applied to the box width and height.
    """

    def __init__(self, padding: float = 1.25):
        if not float(padding) > 0:
            raise ConfigError(f"GetBBoxCenterScale.padding: expected a positive number, got {padding!r}")
        self.padding = float(padding)

    def __call__(self, results: dict) -> dict:
        keep_raw_annotations(results)
        if "bbox_center" in results and "bbox_scale" in results:
            results["bbox_scale"] = results["bbox_scale"] * np.float32(self.padding)
            return results
        bbox = np.asarray(results["bbox"], dtype=np.float32).reshape(-1, 4)
        results["bbox_center"] = (bbox[:, :2] + bbox[:, 2:]) * np.float32(0.5)
        results["bbox_scale"] = (bbox[:, 2:] - bbox[:, :2]) * np.float32(self.padding)
        return results

    def __repr__(self) -> str:
        return f"GetBBoxCenterScale(padding={self.padding})"


@TRANSFORMS.register()
class RandomBBoxTransform:
    """Randomly shift, resize and rotate the boxes (MMPose semantics, numpy global RNG).

    Per box, four factors ``t`` from a standard normal truncated to ``[-1, 1]`` (x shift, y
    shift, resize, rotation), then three uniform draws for the shift, resize and rotation
    probabilities, in MMPose's order: the shift is ``t * shift_factor * bbox_scale`` per axis,
    the resize ``mu + t * sigma`` with ``mu, sigma`` the middle and half-width of
    ``scale_factor`` (the same factor on both sides), the rotation ``t * rotate_factor``
    degrees; each is applied with its own probability. The truncated normal is drawn by
    rejection, not through scipy's inverse CDF as MMPose does: the same distribution, not the
    same numbers for a given seed.

    Required keys: bbox_center ``(N, 2)``, bbox_scale ``(N, 2)``.
    Modified keys: bbox_center, bbox_scale.
    Added keys: bbox_rotation ``(N,)`` degrees.

    Args:
        shift_factor: shift range as a fraction of the box size.
        shift_prob: probability of shifting.
        scale_factor: ``(min, max)`` resize range (a single float ``f`` means ``(1-f, 1+f)``).
        scale_prob: probability of resizing.
        rotate_factor: rotation range in degrees.
        rotate_prob: probability of rotating.
    """

    def __init__(
        self,
        shift_factor: float = 0.16,
        shift_prob: float = 0.3,
        scale_factor: tuple[float, float] | float = (0.5, 1.5),
        scale_prob: float = 1.0,
        rotate_factor: float = 80.0,
        rotate_prob: float = 0.6,
    ):
        if isinstance(scale_factor, (int, float)):
            scale_factor = (1.0 - scale_factor, 1.0 + scale_factor)
        lo, hi = (float(v) for v in scale_factor)
        if not 0 < lo <= hi:
            raise ConfigError(
                f"RandomBBoxTransform.scale_factor: expected (min, max) with 0 < min <= max, got {scale_factor!r}"
            )
        for key, value in (("shift_factor", shift_factor), ("rotate_factor", rotate_factor)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"RandomBBoxTransform.{key}: expected a number >= 0, got {value!r}")
        self.shift_factor = float(shift_factor)
        self.shift_prob = check_prob(shift_prob, "RandomBBoxTransform.shift_prob")
        self.scale_factor = (lo, hi)
        self.scale_prob = check_prob(scale_prob, "RandomBBoxTransform.scale_prob")
        self.rotate_factor = float(rotate_factor)
        self.rotate_prob = check_prob(rotate_prob, "RandomBBoxTransform.rotate_prob")

    def __call__(self, results: dict) -> dict:
        scale = results["bbox_scale"]
        n = scale.shape[0]
        # two numpy calls per sample: (N, 4) factors as MMPose's rows, then the three
        # probability draws (shift for every box, then resize, then rotation)
        t = truncated_normal(4 * n).reshape(n, 4)
        u = np.random.rand(3, n)
        lo, hi = self.scale_factor
        offset = np.where(u[0, :, None] < self.shift_prob, t[:, :2] * self.shift_factor, 0.0)
        resize = np.where(u[1] < self.scale_prob, t[:, 2] * (hi - lo) * 0.5 + (hi + lo) * 0.5, 1.0)
        rotate = np.where(u[2] < self.rotate_prob, t[:, 3] * self.rotate_factor, 0.0)
        results["bbox_center"] = (results["bbox_center"] + offset * scale).astype(np.float32)
        results["bbox_scale"] = (scale * resize[:, None]).astype(np.float32)
        results["bbox_rotation"] = rotate.astype(np.float32)
        return results

    def __repr__(self) -> str:
        return (
            f"RandomBBoxTransform(shift_factor={self.shift_factor}, shift_prob={self.shift_prob}, "
            f"scale_factor={self.scale_factor}, scale_prob={self.scale_prob}, "
            f"rotate_factor={self.rotate_factor}, rotate_prob={self.rotate_prob})"
        )
