"""Keypoint-aware augmentations: random flip (lazy on pixels) and random half body."""
from __future__ import annotations

import cv2
import numpy as np

from mlpose.datasets.transforms.common import check_prob
from mlpose.datasets.transforms.warp import (
    FLIP_DIRECTIONS,
    apply_affine,
    compose_pending,
    flip_matrix,
    materialize_pending,
)
from mlpose.errors import ConfigError
from mlpose.registry import TRANSFORMS

_CV2_FLIP_CODE = {"horizontal": 1, "vertical": 0, "diagonal": -1}


@TRANSFORMS.register()
class RandomFlip:
    """Randomly flip the sample; left/right joints swap through ``flip_indices``.

    With ``lazy=True`` (default) the pixels are not flipped here: the flip is recorded in
    ``pending_transform`` and ``TopdownAffine`` folds it into its single warp, which gives the
    same crop as flipping the image first (up to interpolation rounding) at no extra cost.
    Flipping maps ``x -> w - 1 - x`` (horizontal) and ``y -> h - 1 - y`` (vertical); both
    mirrors swap left/right joints, the 'diagonal' flip (both axes, a 180 degree rotation) does not.

    Required keys: img, img_shape, flip_indices (when keypoints are present).
    Modified keys: bbox (optional), bbox_center (optional), keypoints (optional),
    keypoints_visible (optional), img (only when ``lazy=False``).
    Added keys: flip (bool), flip_direction (str or None), pending_transform (when lazy).

    Args:
        prob: flip probability; a list gives one probability per direction in ``direction``.
        direction: ``'horizontal'``, ``'vertical'``, ``'diagonal'`` or a list of them.
        lazy: defer the pixel flip to ``TopdownAffine`` (see above).
    """

    def __init__(
        self,
        prob: float | list[float] = 0.5,
        direction: str | list[str] = "horizontal",
        lazy: bool = True,
    ):
        directions = [direction] if isinstance(direction, str) else list(direction)
        bad = [d for d in directions if d not in FLIP_DIRECTIONS]
        if bad or not directions:
            raise ConfigError(f"RandomFlip.direction: {direction!r}; use one or more of {FLIP_DIRECTIONS}")
        if isinstance(prob, (list, tuple)):
            if len(prob) != len(directions):
                raise ConfigError(
                    f"RandomFlip.prob: {len(prob)} probabilities for {len(directions)} directions"
                )
            probs = [check_prob(p, "RandomFlip.prob") for p in prob]
        else:
            probs = [check_prob(prob, "RandomFlip.prob") / len(directions)] * len(directions)
        if sum(probs) > 1.0 + 1e-9:
            raise ConfigError(f"RandomFlip.prob: probabilities sum to {sum(probs)} > 1")
        self.prob = prob
        self.direction = direction
        self.lazy = bool(lazy)
        self._directions = directions
        self._cum_probs = np.cumsum(probs)

    def _choose_direction(self) -> str | None:
        i = int(np.searchsorted(self._cum_probs, np.random.rand(), side="right"))
        return self._directions[i] if i < len(self._directions) else None

    def __call__(self, results: dict) -> dict:
        direction = self._choose_direction()
        results["flip"] = direction is not None
        results["flip_direction"] = direction
        if direction is None:
            return results
        h, w = results["img_shape"][:2]
        mat = flip_matrix(direction, (w, h))
        if results.get("bbox") is not None:
            corners = apply_affine(np.asarray(results["bbox"]).reshape(-1, 2, 2), mat)
            results["bbox"] = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=-1)
        if results.get("bbox_center") is not None:
            results["bbox_center"] = apply_affine(results["bbox_center"], mat)
        if results.get("keypoints") is not None:
            if results.get("flip_indices") is None:
                raise KeyError("RandomFlip: results has keypoints but no 'flip_indices' to swap left/right joints")
            # a mirror swaps left and right; the 'diagonal' flip is a 180 degree rotation
            idx = np.asarray(results["flip_indices"])
            if direction == "diagonal":
                idx = np.arange(len(idx))
            results["keypoints"] = apply_affine(results["keypoints"], mat)[:, idx]
            if results.get("keypoints_visible") is not None:
                results["keypoints_visible"] = results["keypoints_visible"][:, idx]
        if self.lazy:
            compose_pending(results, mat)
        else:
            materialize_pending(results)  # earlier lazy flips first, so pixels match annotations
            results["img"] = cv2.flip(results["img"], _CV2_FLIP_CODE[direction])
        return results

    def __repr__(self) -> str:
        return f"RandomFlip(prob={self.prob}, direction={self.direction!r}, lazy={self.lazy})"


@TRANSFORMS.register()
class RandomHalfBody:
    """Randomly shrink the box to the visible upper or lower body (MMPose 1.x semantics).

    Applies to an instance with at least ``min_total_keypoints`` visible joints, with
    probability ``prob``. The upper body is preferred with probability
    ``upper_prioritized_prob``; a half with too few visible joints is not chosen. The new box
    spans the chosen visible joints (centre = their mean) times ``padding``.

    Required keys: keypoints ``(N, K, 2)``, keypoints_visible ``(N, K)``, upper_body_ids,
    lower_body_ids, bbox_center ``(N, 2)``, bbox_scale ``(N, 2)``.
    Modified keys: bbox_center, bbox_scale.

    Args:
        min_total_keypoints: minimum visible joints for the transform to apply.
        min_upper_keypoints: minimum visible upper-body joints to choose the upper body.
        min_lower_keypoints: minimum visible lower-body joints to choose the lower body.
        padding: factor applied to the half-body box size.
        prob: probability of applying the transform to an eligible instance.
        upper_prioritized_prob: probability of preferring the upper body.
    """

    def __init__(
        self,
        min_total_keypoints: int = 9,
        min_upper_keypoints: int = 2,
        min_lower_keypoints: int = 3,
        padding: float = 1.5,
        prob: float = 0.3,
        upper_prioritized_prob: float = 0.7,
    ):
        self.min_total_keypoints = int(min_total_keypoints)
        self.min_upper_keypoints = int(min_upper_keypoints)
        self.min_lower_keypoints = int(min_lower_keypoints)
        self.padding = float(padding)
        self.prob = check_prob(prob, "RandomHalfBody.prob")
        self.upper_prioritized_prob = check_prob(upper_prioritized_prob, "RandomHalfBody.upper_prioritized_prob")

    def _select(self, visible: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray | None:
        """Joint indices of the chosen half for one instance, or None to keep the box."""
        if visible.sum() < self.min_total_keypoints or np.random.rand() > self.prob:
            return None
        upper_ids = upper[visible[upper] > 0]
        lower_ids = lower[visible[lower] > 0]
        prefer_upper = np.random.rand() < self.upper_prioritized_prob
        upper_ok = len(upper_ids) >= self.min_upper_keypoints
        lower_ok = len(lower_ids) >= self.min_lower_keypoints
        if not (upper_ok or lower_ok):
            return None
        if upper_ok and lower_ok:
            return upper_ids if prefer_upper else lower_ids
        return upper_ids if upper_ok else lower_ids

    def __call__(self, results: dict) -> dict:
        upper = np.asarray(results["upper_body_ids"], dtype=np.int64)
        lower = np.asarray(results["lower_body_ids"], dtype=np.int64)
        centers = np.array(results["bbox_center"], dtype=np.float32, copy=True)
        scales = np.array(results["bbox_scale"], dtype=np.float32, copy=True)
        for i, visible in enumerate(results["keypoints_visible"]):
            ids = self._select(visible, upper, lower)
            if ids is None:
                continue
            pts = results["keypoints"][i, ids, :2]
            centers[i] = pts.mean(axis=0)
            scales[i] = (pts.max(axis=0) - pts.min(axis=0)) * self.padding
        results["bbox_center"] = centers
        results["bbox_scale"] = scales
        return results

    def __repr__(self) -> str:
        return (
            f"RandomHalfBody(min_total_keypoints={self.min_total_keypoints}, "
            f"min_upper_keypoints={self.min_upper_keypoints}, "
            f"min_lower_keypoints={self.min_lower_keypoints}, padding={self.padding}, "
            f"prob={self.prob}, upper_prioritized_prob={self.upper_prioritized_prob})"
        )
