"""Per-sample and per-keypoint numbers of one validation, in numpy (never in the training hot path).

- OKS of each prediction against its own ground-truth instance (COCO's formula with the
  dataset's ``sigmas`` and the instance ``area``),
- pixel error of each keypoint, and per keypoint the PCK (normalised by the longer box side,
  as :class:`mlpose.evaluation.pck.PCKAccuracy` with ``norm_item='bbox'``) and mean error.
"""
from __future__ import annotations

import numpy as np

from mlpose.evaluation.pck import pck_accuracy

#: PCKAccuracy's default threshold, used when the evaluator has no box-normalised PCK metric.
DEFAULT_PCK_THR = 0.05


def oks_per_sample(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, area: np.ndarray,
                   sigmas: np.ndarray) -> np.ndarray:
    """COCO object keypoint similarity of each prediction with its own ground truth.

    Args:
        pred, gt: (N, K, 2) keypoints, image pixels.
        visible: (N, K) GT visibility; a keypoint counts where it is > 0.
        area: (N,) GT instance areas, pixels^2.
        sigmas: (K,) the dataset's per-keypoint OKS sigmas.

    Returns:
        (N,) float64 OKS in [0, 1]; NaN for samples without a visible GT keypoint (e.g. detections).
    """
    vis = np.asarray(visible).reshape(len(pred), -1) > 0
    d2 = np.sum((np.asarray(pred, np.float64) - np.asarray(gt, np.float64)) ** 2, axis=-1)
    var = (2.0 * np.asarray(sigmas, np.float64)) ** 2
    e = d2 / var[None, :] / (np.asarray(area, np.float64)[:, None] + np.spacing(1)) / 2.0
    num = vis.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(num > 0, (np.exp(-e) * vis).sum(axis=1) / num, np.nan)


def pixel_errors(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """(N, K) float64 distance of each keypoint to its GT in pixels; NaN where the GT is not visible."""
    d = np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1)
    return np.where(np.asarray(visible).reshape(d.shape) > 0, d, np.nan)


def instance_scores(keypoint_scores: np.ndarray, bbox_score: np.ndarray, thr: float = 0.2) -> np.ndarray:
    """(N,) CocoMetric's ``'bbox_keypoint'`` score: box score x mean keypoint score above ``thr`` (0 when none)."""
    s = np.asarray(keypoint_scores, np.float64)
    confident = s > thr
    mean = np.where(confident.any(axis=1), (s * confident).sum(axis=1) / np.maximum(confident.sum(axis=1), 1), 0.0)
    return mean * np.asarray(bbox_score, np.float64)


def per_keypoint(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, boxes: np.ndarray,
                 thr: float) -> dict[str, np.ndarray]:
    """Per-keypoint PCK@``thr`` (box-normalised), mean pixel error and number of visible samples.

    Args:
        pred, gt: (N, K, 2) image pixels. visible: (N, K). boxes: (N, 4) x1 y1 x2 y2 pixels.
        thr: PCK threshold on the distance divided by the longer box side.

    Returns:
        ``pck`` (K,) in [0, 1], NaN for keypoints never visible; ``mean_error_px`` (K,), NaN
        likewise; ``num_visible`` (K,) int.
    """
    mask = np.asarray(visible).reshape(len(pred), -1) > 0
    size = np.max(np.asarray(boxes, np.float64)[:, 2:] - np.asarray(boxes, np.float64)[:, :2], axis=1)
    acc, _, _ = pck_accuracy(np.asarray(pred), np.asarray(gt), mask, thr, np.stack([size, size], axis=1))
    err = pixel_errors(pred, gt, mask)
    count = mask.sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean_err = np.where(count > 0, np.nansum(err, axis=0) / np.maximum(count, 1), np.nan)
    return {"pck": np.where(acc >= 0, acc, np.nan), "mean_error_px": mean_err, "num_visible": count.astype(int)}


def fixed_indices(ids: np.ndarray, num: int) -> np.ndarray:
    """Indices of ``num`` samples spread evenly over the samples sorted by ``ids``: the same
    samples at every validation of the same data, whatever the order they were predicted in."""
    order = np.argsort(np.asarray(ids), kind="stable")
    if num <= 0 or not len(order):
        return order[:0]
    picks = np.unique(np.linspace(0, len(order) - 1, min(num, len(order))).round().astype(int))
    return order[picks]


def worst_indices(oks: np.ndarray, ids: np.ndarray, num: int) -> np.ndarray:
    """Indices of the ``num`` samples with the lowest OKS (NaN left out; ties by ``ids``), worst first."""
    finite = np.flatnonzero(np.isfinite(oks))
    order = finite[np.lexsort((np.asarray(ids)[finite], np.asarray(oks)[finite]))]
    return order[:max(num, 0)]
