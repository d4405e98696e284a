"""Vectorised numpy building blocks shared by the heatmap codecs.

Coordinates are pixel centres: heatmap pixel ``(x, y)`` covers ``[x - 0.5, x + 0.5)``, so a
keypoint at heatmap coordinate ``2.0`` lies on the centre of column 2. Every function works on
whole arrays at once (no python loop over instances, joints or pixels), except the DARK blur,
which runs map by map as MMPose does (see ``gaussian_blur``).
"""
from __future__ import annotations

import cv2
import numpy as np


def gaussian_heatmaps(
    heatmap_size: tuple[int, int],
    keypoints: np.ndarray,
    keypoints_visible: np.ndarray,
    sigma: float,
    mode: str = "msra",
) -> tuple[np.ndarray, np.ndarray]:
    """Render one Gaussian per joint and take the maximum over instances.

    The 2-D Gaussian ``exp(-(dx^2 + dy^2) / (2 sigma^2))`` is the outer product of two 1-D
    Gaussians, so each joint costs ``W + H`` exponentials and one outer product.

    Modes (``r = 3 * sigma``, the 3-sigma rule):

    - ``'msra'``: centred on the rounded position ``floor(kp + 0.5)``, zero outside the square
      window ``|p - centre| <= r`` (SimpleBaseline / MMPose ``generate_gaussian_heatmaps``).
    - ``'unbiased'``: centred on the exact sub-pixel position, not truncated (DARK).
    - ``'udp'``: window around the rounded position, Gaussian centred on the exact position (UDP).

    A joint gets weight 0 (and no Gaussian) when it is invisible (``visible < 0.5``) or when no
    heatmap pixel lies within ``r`` of its (rounded, for 'msra'/'udp') centre along both axes,
    i.e. its Gaussian window falls fully outside the heatmap.

    Args:
        heatmap_size: ``(W, H)`` of the heatmap in pixels.
        keypoints: ``(N, K, 2)`` keypoints ``(x, y)`` in heatmap pixels.
        keypoints_visible: ``(N, K)`` visibility in ``[0, 1]``.
        sigma: Gaussian standard deviation in heatmap pixels.
        mode: ``'msra'``, ``'unbiased'`` or ``'udp'``.

    Returns:
        heatmaps: ``(K, H, W)`` float32 in ``[0, 1]``.
        keypoint_weights: ``(N, K)`` float32, the visibility or 0 for dropped joints.
    """
    width, height = int(heatmap_size[0]), int(heatmap_size[1])
    kp = np.asarray(keypoints, dtype=np.float32)
    vis = np.asarray(keypoints_visible, dtype=np.float32)
    if kp.shape[0] == 0:
        return np.zeros((kp.shape[1], height, width), np.float32), np.zeros(vis.shape, np.float32)
    radius = 3.0 * sigma
    exact = kp
    rounded = np.floor(kp + 0.5)
    window = exact if mode == "unbiased" else rounded
    centre = rounded if mode == "msra" else exact
    xs = np.arange(width, dtype=np.float32)
    ys = np.arange(height, dtype=np.float32)
    # (N, K, W) and (N, K, H): signed distances to the centre and window membership
    in_x = np.abs(xs - window[..., 0:1]) <= radius
    in_y = np.abs(ys - window[..., 1:2]) <= radius
    valid = (vis >= 0.5) & in_x.any(-1) & in_y.any(-1)
    inv_two_var = np.float32(-0.5 / (sigma * sigma))
    gx = np.exp(np.square(xs - centre[..., 0:1]) * inv_two_var)
    gy = np.exp(np.square(ys - centre[..., 1:2]) * inv_two_var)
    if mode != "unbiased":
        gx *= in_x
        gy *= in_y
    gx *= valid[..., None]
    heat = gy[..., :, None] * gx[..., None, :]  # (N, K, H, W)
    heatmaps = heat.max(axis=0) if heat.shape[0] > 1 else heat[0]
    weights = np.where(valid, vis, np.float32(0.0)).astype(np.float32)
    return heatmaps.astype(np.float32, copy=False), weights


def heatmap_maximum(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer argmax of each heatmap (MMPose ``get_heatmap_maximum``).

    Args:
        heatmaps: ``(B, K, H, W)`` heatmaps.

    Returns:
        locs: ``(B, K, 2)`` float32 ``(x, y)`` of the maximum in heatmap pixels, ``-1`` where the
            maximum is ``<= 0`` (nothing detected).
        vals: ``(B, K)`` float32 maximum values.
    """
    b, k, h, w = heatmaps.shape
    flat = heatmaps.reshape(b, k, h * w)
    idx = flat.argmax(axis=-1)
    vals = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0].astype(np.float32)
    locs = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    locs[vals <= 0] = -1
    return locs, vals


def _gather(heatmaps: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``heatmaps[b, k, y[b, k], x[b, k]]`` for ``(B, K)`` index arrays (clipped to the map)."""
    _, _, h, w = heatmaps.shape
    flat = heatmaps.reshape(heatmaps.shape[0], heatmaps.shape[1], h * w)
    idx = np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1)
    return np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]


def refine_quarter_offset(keypoints: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Shift each argmax a quarter pixel towards its higher neighbour, per axis.

    Same result as MMPose ``refine_keypoints``, including its bounds: x is refined only where
    ``1 < x < W - 1 and 0 < y < H`` and y only where ``1 < y < H - 1 and 0 < x < W``.

    Args:
        keypoints: ``(B, K, 2)`` integer argmax locations in heatmap pixels (``-1`` = none).
        heatmaps: ``(B, K, H, W)`` heatmaps.

    Returns:
        ``(B, K, 2)`` float32 refined locations (a new array).
    """
    _, _, h, w = heatmaps.shape
    x = keypoints[..., 0].astype(np.int64)
    y = keypoints[..., 1].astype(np.int64)
    ok_x = (x > 1) & (x < w - 1) & (y > 0) & (y < h)
    ok_y = (y > 1) & (y < h - 1) & (x > 0) & (x < w)
    dx = np.where(ok_x, _gather(heatmaps, x + 1, y) - _gather(heatmaps, x - 1, y), 0)
    dy = np.where(ok_y, _gather(heatmaps, x, y + 1) - _gather(heatmaps, x, y - 1), 0)
    step = np.stack([np.sign(dx), np.sign(dy)], axis=-1).astype(np.float32) * np.float32(0.25)
    return keypoints.astype(np.float32) + step


def gaussian_blur(heatmaps: np.ndarray, kernel_size: int = 11) -> np.ndarray:
    """Blur each heatmap with a Gaussian and rescale it to keep its original maximum.

    MMPose ``gaussian_blur`` to the bit: each map is zero-padded by the kernel's radius and
    blurred by ``cv2.GaussianBlur`` (sigma ``0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8``), one map
    at a time (about 25 us a map). DARK's Newton step amplifies the blur's rounding where a map's
    top is flat, so a faster filter with another summation order moves such keypoints.

    Args:
        heatmaps: ``(B, K, H, W)`` heatmaps (not modified).
        kernel_size: odd kernel size in pixels.

    Returns:
        ``(B, K, H, W)`` float32 blurred heatmaps.
    """
    b, k, h, w = heatmaps.shape
    border = (kernel_size - 1) // 2
    padded = np.zeros((h + 2 * border, w + 2 * border), np.float32)
    blurred = np.empty((b, k, h, w), np.float32)
    for i, one in enumerate(heatmaps.reshape(b * k, h, w)):
        padded[border:border + h, border:border + w] = one
        blurred.reshape(b * k, h, w)[i] = cv2.GaussianBlur(padded, (kernel_size, kernel_size), 0)[
            border:border + h, border:border + w]
    orig_max = heatmaps.max(axis=(2, 3), keepdims=True).astype(np.float32)
    new_max = blurred.max(axis=(2, 3), keepdims=True)
    # MMPose's ratio, signs included (a map whose blur turns negative flips, as in MMPose);
    # an all-zero map stays zero instead of becoming 0/0
    ratio = np.divide(orig_max, new_max, out=np.zeros_like(new_max), where=new_max != 0)
    return blurred * ratio


def refine_dark(keypoints: np.ndarray, heatmaps: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """DARK sub-pixel refinement: blur, log, then one Newton step of a 2nd-order Taylor fit.

    Follows MMPose ``refine_keypoints_dark``, its float32 arithmetic included: derivatives use
    2-pixel central differences and a joint is refined only where ``1 < x < W - 2 and
    1 < y < H - 2`` and the Hessian is non-singular.

    Args:
        keypoints: ``(B, K, 2)`` argmax locations in heatmap pixels.
        heatmaps: ``(B, K, H, W)`` heatmaps (not modified).
        blur_kernel_size: odd Gaussian kernel size for the modulation blur.

    Returns:
        ``(B, K, 2)`` float32 refined locations (a new array).
    """
    _, _, h, w = heatmaps.shape
    logmap = np.log(np.maximum(gaussian_blur(heatmaps, blur_kernel_size), np.float32(1e-10)))
    x = keypoints[..., 0].astype(np.int64)
    y = keypoints[..., 1].astype(np.int64)

    def at(ox: int, oy: int) -> np.ndarray:
        return _gather(logmap, x + ox, y + oy)

    half, quarter = np.float32(0.5), np.float32(0.25)
    centre = at(0, 0)
    grad = np.stack([half * (at(1, 0) - at(-1, 0)), half * (at(0, 1) - at(0, -1))], axis=-1)[..., None]
    dxx = quarter * (at(2, 0) - 2 * centre + at(-2, 0))
    dyy = quarter * (at(0, 2) - 2 * centre + at(0, -2))
    dxy = quarter * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    ok = (x > 1) & (x < w - 2) & (y > 1) & (y < h - 2) & (dxx * dyy - dxy**2 != 0)
    hessian = np.stack([dxx, dxy, dxy, dyy], axis=-1).reshape(*dxx.shape, 2, 2)
    hessian[~ok] = np.eye(2, dtype=np.float32)
    offset = -np.einsum("bkmn,bknl->bkml", np.linalg.inv(hessian), grad)[..., 0]
    return keypoints.astype(np.float32) + np.where(ok[..., None], offset, np.float32(0))


def refine_dark_udp(keypoints: np.ndarray, heatmaps: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """UDP flavour of DARK (MMPose ``refine_keypoints_dark_udp``), with MMPose's arithmetic.

    Blur, clip to ``[1e-3, 50]``, log, edge-pad by one pixel, then one Newton step with
    1-pixel central differences. The derivatives are float32 differences in MMPose's order; the
    Hessian plus ``eps * I`` is inverted in float64 with ``np.linalg.inv``. Near-flat heatmaps make
    this step ill-conditioned, so any other rounding order moves such joints by many pixels.
    Like MMPose, joints without a maximum (``-1``) are refined from the padding's corner too;
    only an exactly singular Hessian (where MMPose raises) leaves a joint unchanged.

    Args:
        keypoints: ``(B, K, 2)`` argmax locations in heatmap pixels.
        heatmaps: ``(B, K, H, W)`` heatmaps (not modified).
        blur_kernel_size: odd Gaussian kernel size for the modulation blur.

    Returns:
        ``(B, K, 2)`` float32 refined locations (a new array).
    """
    logmap = np.log(np.clip(gaussian_blur(heatmaps, blur_kernel_size), 1e-3, 50.0))
    padded = np.pad(logmap, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")  # float32, as the blur
    x = keypoints[..., 0].astype(np.int64) + 1
    y = keypoints[..., 1].astype(np.int64) + 1

    def at(ox: int, oy: int) -> np.ndarray:
        return _gather(padded, x + ox, y + oy)

    i0, ix1, ix1_, iy1, iy1_ = at(0, 0), at(1, 0), at(-1, 0), at(0, 1), at(0, -1)
    half = np.float32(0.5)
    grad = np.stack([half * (ix1 - ix1_), half * (iy1 - iy1_)], axis=-1)[..., None]  # (B, K, 2, 1)
    dxx = ix1 - 2 * i0 + ix1_
    dyy = iy1 - 2 * i0 + iy1_
    dxy = half * (at(1, 1) - ix1 - iy1 + i0 + i0 - ix1_ - iy1_ + at(-1, -1))
    hessian = np.stack([dxx, dxy, dxy, dyy], axis=-1).reshape(*dxx.shape, 2, 2)
    hessian = hessian + np.finfo(np.float32).eps * np.eye(2)  # float64 from here, as in MMPose
    singular = np.linalg.det(hessian) == 0
    hessian[singular] = np.eye(2)
    step = np.einsum("bkmn,bknl->bkml", np.linalg.inv(hessian), grad)[..., 0]
    step[singular] = 0.0
    return (keypoints.astype(np.float32) - step).astype(np.float32)


def as_batch(heatmaps: np.ndarray) -> np.ndarray:
    """Return ``heatmaps`` as a float32 ``(B, K, H, W)`` array, adding ``B = 1`` to ``(K, H, W)``."""
    hm = np.asarray(heatmaps, dtype=np.float32)
    if hm.ndim == 3:
        hm = hm[None]
    if hm.ndim != 4:
        raise ValueError(f"heatmaps must be (K, H, W) or (B, K, H, W), got shape {hm.shape}")
    return hm
