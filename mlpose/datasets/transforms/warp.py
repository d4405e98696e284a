"""Affine matrices for top-down cropping, and the lazily applied image flip.

Coordinates are pixel centres (pixel ``j`` is at ``x = j``), as in OpenCV and MMPose: a
horizontal flip maps ``x -> w - 1 - x`` for an image ``w`` pixels wide.

Lazy geometry: ``RandomFlip`` does not touch the pixels. It flips the annotations and records
``results['pending_transform']``, a ``(3, 3)`` float64 matrix mapping pixel coordinates of
``results['img']`` to the coordinate frame the annotations are in. ``TopdownAffine`` folds it
into its single ``cv2.warpAffine``; any transform that needs the real pixels first calls
:func:`materialize_pending`.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

PENDING_KEY = "pending_transform"
FLIP_DIRECTIONS = ("horizontal", "vertical", "diagonal")


def get_warp_matrix(
    center, scale, rot: float, output_size: tuple[int, int], inv: bool = False
) -> np.ndarray:
    """Similarity transform cropping the box ``center, scale`` to ``output_size``.

    Same matrix as MMPose ``get_warp_matrix(..., shift=(0, 0))`` with a fixed aspect ratio: the
    box centre goes to ``(W / 2, H / 2)``, the box width ``scale[0]`` to ``W``, and the crop is
    rotated by ``rot`` degrees; only ``scale[0]`` is used (fix the aspect ratio first).

    Args:
        center: ``(2,)`` box centre ``(x, y)`` in image pixels.
        scale: ``(2,)`` box size ``(w, h)`` in image pixels.
        rot: rotation in degrees.
        output_size: ``(W, H)`` of the crop in pixels.
        inv: return the crop -> image matrix instead.

    Returns:
        ``(2, 3)`` float64 affine matrix (image -> crop, or crop -> image when ``inv``).
    """
    k = float(output_size[0]) / float(scale[0])
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    lin = k * np.array([[c, s], [-s, c]])
    cx, cy = float(center[0]), float(center[1])
    out = np.array([float(output_size[0]) * 0.5, float(output_size[1]) * 0.5])
    mat = np.hstack([lin, (out - lin @ (cx, cy))[:, None]])
    return invert_affine(mat) if inv else mat


def get_udp_warp_matrix(center, scale, rot: float, output_size: tuple[int, int]) -> np.ndarray:
    """UDP crop transform (MMPose ``get_udp_warp_matrix``).

    Maps the box centre to ``((W - 1) / 2, (H - 1) / 2)`` with per-axis scales
    ``(W - 1) / scale[0]`` and ``(H - 1) / scale[1]``; note MMPose's UDP rotation has the
    opposite sign to :func:`get_warp_matrix`.

    Args:
        center: ``(2,)`` box centre in image pixels.
        scale: ``(2,)`` box size ``(w, h)`` in image pixels.
        rot: rotation in degrees.
        output_size: ``(W, H)`` of the crop in pixels.

    Returns:
        ``(2, 3)`` float64 image -> crop matrix.
    """
    sx = (float(output_size[0]) - 1) / float(scale[0])
    sy = (float(output_size[1]) - 1) / float(scale[1])
    c, s = math.cos(math.radians(rot)), math.sin(math.radians(rot))
    lin = np.array([[c * sx, -s * sx], [s * sy, c * sy]])
    out = np.array([(float(output_size[0]) - 1) * 0.5, (float(output_size[1]) - 1) * 0.5])
    mat = np.hstack([lin, (out - lin @ (float(center[0]), float(center[1])))[:, None]])
    return mat


def invert_affine(mat: np.ndarray) -> np.ndarray:
    """Inverse of a ``(2, 3)`` affine matrix, as ``(2, 3)`` float64."""
    full = np.vstack([np.asarray(mat, np.float64)[:2], [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` or ``(3, 3)`` affine matrix to ``(..., 2)`` points; keeps the dtype."""
    pts = np.asarray(points)
    mat = np.asarray(mat, np.float64)
    out = pts.astype(np.float64) @ mat[:2, :2].T + mat[:2, 2]
    return out.astype(pts.dtype if pts.dtype.kind == "f" else np.float64)


def flip_matrix(direction: str, image_size: tuple[int, int]) -> np.ndarray:
    """``(3, 3)`` matrix of a pixel-exact image flip.

    Args:
        direction: ``'horizontal'``, ``'vertical'`` or ``'diagonal'`` (both axes).
        image_size: ``(w, h)`` of the image in pixels.
    """
    w, h = image_size
    mat = np.eye(3)
    if direction in ("horizontal", "diagonal"):
        mat[0, 0], mat[0, 2] = -1.0, w - 1.0
    if direction in ("vertical", "diagonal"):
        mat[1, 1], mat[1, 2] = -1.0, h - 1.0
    if direction not in FLIP_DIRECTIONS:
        raise ValueError(f"unknown flip direction {direction!r}; expected one of {FLIP_DIRECTIONS}")
    return mat


def fix_aspect_ratio(bbox_scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow each ``(w, h)`` box size to the aspect ratio ``w / h`` without shrinking either side.

    Args:
        bbox_scale: ``(N, 2)`` box sizes in pixels.
        aspect_ratio: target ``w / h``.

    Returns:
        ``(N, 2)`` box sizes of the same dtype.
    """
    w, h = bbox_scale[:, 0:1], bbox_scale[:, 1:2]
    wide = w > h * aspect_ratio
    return np.where(wide, np.hstack([w, w / aspect_ratio]), np.hstack([h * aspect_ratio, h])).astype(
        bbox_scale.dtype
    )


def compose_pending(results: dict, mat: np.ndarray) -> None:
    """Record that the annotations moved by ``mat`` (3x3) while the pixels did not."""
    prev = results.get(PENDING_KEY)
    results[PENDING_KEY] = mat if prev is None else mat @ prev


def materialize_pending(results: dict) -> dict:
    """Apply ``results['pending_transform']`` to ``results['img']`` and drop the key.

    Required keys: img. Modified keys: img, img_shape. Removed keys: pending_transform.
    """
    mat = results.pop(PENDING_KEY, None)
    if mat is None or np.allclose(mat, np.eye(3)):
        return results
    img = results["img"]
    h, w = img.shape[:2]
    flip_code = {(-1.0, 1.0): 1, (1.0, -1.0): 0, (-1.0, -1.0): -1}.get((mat[0, 0], mat[1, 1]))
    if flip_code is not None and np.allclose(mat, flip_matrix(_direction(flip_code), (w, h))):
        results["img"] = cv2.flip(img, flip_code)
    else:
        results["img"] = cv2.warpAffine(img, mat[:2], (w, h), flags=cv2.INTER_LINEAR)
    results["img_shape"] = results["img"].shape[:2]
    return results


def _direction(flip_code: int) -> str:
    return {1: "horizontal", 0: "vertical", -1: "diagonal"}[flip_code]
