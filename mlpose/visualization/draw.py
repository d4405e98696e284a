"""Drawing keypoints and skeletons on images with OpenCV, and showing them in a window."""
from __future__ import annotations

import os
import sys
from typing import Sequence

import cv2
import numpy as np

from mlpose.errors import ConfigError

# BGR; used when the dataset meta gives no colours.
DEFAULT_KPT_COLOR = (0, 165, 255)
DEFAULT_LINK_COLOR = (255, 128, 0)
GT_COLOR = (80, 220, 80)


def _colors(colors, n: int, default: tuple[int, int, int], rgb: bool) -> list[tuple[int, int, int]]:
    """``n`` BGR int triples from None, one colour, or a (n, 3) sequence."""
    if colors is None:
        return [default] * n
    arr = np.asarray(colors, dtype=np.int64).reshape(-1, 3)
    if rgb:
        arr = arr[:, ::-1]
    if len(arr) == 1:
        arr = np.repeat(arr, n, axis=0)
    if len(arr) != n:
        raise ValueError(f"expected {n} colours, got {len(arr)}")
    return [tuple(int(c) for c in row) for row in arr]


def _pt(xy) -> tuple[int, int]:
    return int(round(float(xy[0]))), int(round(float(xy[1])))


def draw_pose(img: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None = None,
              skeleton: Sequence[tuple[int, int]] = (), kpt_thr: float = 0.3,
              kpt_colors=None, link_colors=None, colors_rgb: bool = True,
              radius: int | None = None, thickness: int | None = None,
              gt_keypoints: np.ndarray | None = None, gt_visible: np.ndarray | None = None) -> np.ndarray:
    """Draw predicted (and optionally ground-truth) poses on a copy of ``img``.

    Predictions are drawn in colour: links first, then filled keypoint circles; a keypoint
    (and any link touching it) is skipped when its score is below ``kpt_thr``. Ground truth
    is drawn underneath in thin green: hollow circles and 1-pixel links for visible points.

    Args:
        img: ``(H, W, 3)`` BGR uint8 image; not modified.
        keypoints: ``(N, K, 2)`` or ``(K, 2)`` predicted keypoints, x/y in image pixels.
        scores: ``(N, K)`` or ``(K,)`` keypoint scores; None draws every keypoint.
        skeleton: index pairs ``(i, j)`` of linked keypoints.
        kpt_thr: minimum score for a keypoint to be drawn.
        kpt_colors: None, one colour or ``(K, 3)`` colours (e.g. metainfo ``keypoint_colors``).
        link_colors: None, one colour or ``(L, 3)`` colours (metainfo ``skeleton_colors``).
        colors_rgb: colours are RGB (as in dataset metainfo); False for BGR.
        radius: keypoint radius in pixels; default scales with the image size.
        thickness: link thickness in pixels; default scales with the image size.
        gt_keypoints: ``(M, K, 2)`` or ``(K, 2)`` ground-truth keypoints in image pixels.
        gt_visible: ``(M, K)`` or ``(K,)`` visibility; GT points with visibility <= 0 are skipped.

    Returns:
        A new ``(H, W, 3)`` uint8 BGR image.
    """
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"img must be (H, W, 3) uint8 BGR, got {img.shape} {img.dtype}")
    out = np.ascontiguousarray(img).copy()
    kpts = np.asarray(keypoints, dtype=np.float64).reshape(-1, *np.shape(keypoints)[-2:])
    num_k = kpts.shape[1]
    sc = np.ones(kpts.shape[:2]) if scores is None else np.asarray(scores, dtype=np.float64).reshape(kpts.shape[:2])
    skeleton = [tuple(int(v) for v in link) for link in skeleton]
    for i, j in skeleton:
        if not (0 <= i < num_k and 0 <= j < num_k):
            raise ValueError(f"skeleton link ({i}, {j}) is outside {num_k} keypoints")
    scale = max(img.shape[:2])
    radius = radius if radius is not None else max(1, round(scale / 150))
    thickness = thickness if thickness is not None else max(1, round(scale / 300))
    kcol = _colors(kpt_colors, num_k, DEFAULT_KPT_COLOR, colors_rgb)
    lcol = _colors(link_colors, len(skeleton), DEFAULT_LINK_COLOR, colors_rgb)

    if gt_keypoints is not None:
        gts = np.asarray(gt_keypoints, dtype=np.float64).reshape(-1, num_k, 2)
        vis = np.ones(gts.shape[:2]) if gt_visible is None else np.asarray(gt_visible).reshape(gts.shape[:2])
        for pose, v in zip(gts, vis):
            for i, j in skeleton:
                if v[i] > 0 and v[j] > 0:
                    cv2.line(out, _pt(pose[i]), _pt(pose[j]), GT_COLOR, 1, cv2.LINE_AA)
            for k in range(num_k):
                if v[k] > 0:
                    cv2.circle(out, _pt(pose[k]), radius + 1, GT_COLOR, 1, cv2.LINE_AA)

    for pose, s in zip(kpts, sc):
        finite = np.isfinite(pose).all(axis=1)
        ok = (s >= kpt_thr) & finite
        for (i, j), color in zip(skeleton, lcol):
            if ok[i] and ok[j]:
                cv2.line(out, _pt(pose[i]), _pt(pose[j]), color, thickness, cv2.LINE_AA)
        for k in range(num_k):
            if ok[k]:
                cv2.circle(out, _pt(pose[k]), radius, kcol[k], -1, cv2.LINE_AA)
    return out


def show_image(img: np.ndarray, wait_time: float = 1.0, win_name: str = "mlpose") -> None:
    """Show a BGR image in a window for ``wait_time`` seconds (0: until a key is pressed).

    Raises:
        ConfigError: when no display is available or OpenCV was built without GUI support
            (e.g. ``opencv-python-headless``); use ``--show-dir`` to save images instead.
    """
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError("--show needs a display but DISPLAY is not set; use --show-dir DIR to save images instead")
    try:
        cv2.imshow(win_name, img)
        cv2.waitKey(max(0, int(wait_time * 1000)) if wait_time > 0 else 0)
    except cv2.error as exc:
        raise ConfigError(
            "--show: OpenCV cannot open a window (built without GUI support, e.g. opencv-python-headless); "
            f"use --show-dir DIR instead ({str(exc).strip().splitlines()[-1]})"
        ) from None
