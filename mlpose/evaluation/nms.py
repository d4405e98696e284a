"""OKS-based non-maximum suppression of pose instances in one image (pure numpy).

The results are the same, index for index, as MMPose's ``oks_nms``/``soft_oks_nms``: the OKS
between two instances is computed with the same operations in the same dtypes (the OKS value
is stored as float32 before it is compared with the threshold), and candidates are ordered
with the same ``argsort()[::-1]``. The difference is speed: the OKS of every pair is computed
once as an (N, N) matrix instead of one python loop iteration per pair.
"""
from __future__ import annotations

import numpy as np


def oks_matrix(keypoints: np.ndarray, areas: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Object keypoint similarity between every pair of instances of one image.

    Every keypoint counts, whatever its score (MMPose's NMS passes no visibility threshold).

    Args:
        keypoints: (N, K, C) with x, y in pixels in the first two channels (C >= 2).
        areas: (N,) instance areas in pixels^2 (OKS scale: the mean of the two areas).
        sigmas: (K,) per-keypoint OKS sigmas.

    Returns:
        (N, N) float32; entry ``[i, j]`` is OKS(instance i, instance j), symmetric, 1 on the
        diagonal.
    """
    keypoints = np.asarray(keypoints)
    areas = np.asarray(areas)
    variances = (np.asarray(sigmas) * 2) ** 2
    x, y = keypoints[..., 0], keypoints[..., 1]
    # [g, d, k] = coordinate of d minus coordinate of g, as in MMPose's oks_iou(g, d).
    dx = x[None, :, :] - x[:, None, :]
    dy = y[None, :, :] - y[:, None, :]
    scale = (areas[:, None] + areas[None, :]) / 2 + np.spacing(1)
    e = (dx**2 + dy**2) / variances / scale[..., None] / 2
    return (np.exp(-e).sum(axis=-1) / keypoints.shape[1]).astype(np.float32)


def oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thr: float,
            sigmas: np.ndarray) -> list[int]:
    """Greedy OKS-NMS: keep the best instance, drop the others whose OKS with it is > thr.

    Args:
        keypoints: (N, K, C) instances of one image, x, y in pixels first.
        scores: (N,) instance scores.
        areas: (N,) instance areas in pixels^2.
        thr: OKS above which the lower-scored instance is dropped.
        sigmas: (K,) OKS sigmas.

    Returns:
        Indices into the N instances that are kept, best score first.
    """
    if len(scores) == 0:
        return []
    oks = oks_matrix(keypoints, areas, sigmas)
    order = np.asarray(scores).argsort()[::-1]
    keep = []
    while order.size > 0:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        order = rest[oks[best, rest] <= thr]
    return keep


def soft_oks_nms(keypoints: np.ndarray, scores: np.ndarray, areas: np.ndarray, thr: float,
                 sigmas: np.ndarray, max_dets: int = 20) -> list[int]:
    """Soft OKS-NMS with Gaussian rescoring: ``score *= exp(-oks**2 / thr)`` after each pick.

    The rescored values only order the picks; the instances keep their original scores.

    Args:
        keypoints: (N, K, C) instances of one image, x, y in pixels first.
        scores: (N,) instance scores.
        areas: (N,) instance areas in pixels^2.
        thr: Gaussian rescoring width.
        sigmas: (K,) OKS sigmas.
        max_dets: at most this many instances are kept.

    Returns:
        Indices into the N instances that are kept, in pick order.
    """
    if len(scores) == 0:
        return []
    oks = oks_matrix(keypoints, areas, sigmas)
    scores = np.asarray(scores)
    order = scores.argsort()[::-1]
    scores = scores[order]
    keep = []
    while order.size > 0 and len(keep) < max_dets:
        best, order = order[0], order[1:]
        scores = scores[1:] * np.exp(-oks[best, order] ** 2 / thr)
        resort = scores.argsort()[::-1]
        order, scores = order[resort], scores[resort]
        keep.append(int(best))
    return keep
