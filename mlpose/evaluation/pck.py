"""PCK, AUC and EPE: keypoint-distance metrics for datasets without OKS (MMPose's formulas).

They compare the predicted keypoints with the ground truth carried in each prediction dict:
``keypoints`` (K, 2) and ``gt_keypoints`` (K, 2) in image pixels, and ``gt_visible`` (K,)
(a joint counts where it is > 0). The model's ``predict`` copies the GT from the sample meta.

- PCK@thr: per joint, the fraction of samples whose normalised distance is below ``thr``;
  then the mean over the joints that have any valid sample. A sample whose normaliser is 0
  is left out. Distances are stored as float32 before the comparison, as MMPose does.
- AUC: the mean of PCK over thresholds ``0, 1/n, ..., (n-1)/n`` with a fixed normaliser.
- EPE: the mean pixel distance over all visible joints.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from mlpose.errors import ConfigError
from mlpose.evaluation.evaluator import BaseMetric
from mlpose.registry import METRICS


def normalized_distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray,
                         norm: np.ndarray) -> np.ndarray:
    """Per-joint distances divided by a per-sample normaliser.

    Args:
        pred: (N, K, 2) predicted keypoints, px.
        gt: (N, K, 2) ground-truth keypoints, px.
        mask: (N, K) bool, joints to evaluate.
        norm: (N, 2) per-sample normaliser for x and y, px.

    Returns:
        (N, K) float32 distances; -1 where the joint is masked or the sample's normaliser
        has a zero.
    """
    valid = mask & ~np.any(norm == 0, axis=1)[:, None]
    out = np.full(mask.shape, -1, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.linalg.norm((pred - gt) / norm[:, None, :], axis=-1)
    out[valid] = d[valid]
    return out


def pck_accuracy(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, thr: float,
                 norm: np.ndarray) -> tuple[np.ndarray, float, int]:
    """PCK of every joint and their mean.

    Args:
        pred, gt: (N, K, 2) px. mask: (N, K) bool. thr: threshold on the normalised
            distance. norm: (N, 2) normaliser, px.

    Returns:
        (per-joint accuracy (K,), -1 for joints without a valid sample; mean over the joints
        with one (0 when none); number of such joints).
    """
    d = normalized_distances(pred, gt, mask, norm)
    valid = d != -1
    n_valid = valid.sum(axis=0)
    hits = ((d < thr) & valid).sum(axis=0)
    acc = np.where(n_valid > 0, hits / np.maximum(n_valid, 1), -1.0)
    good = acc[acc >= 0]
    return acc, float(good.mean()) if good.size else 0.0, int(good.size)


def keypoint_auc(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm_factor: float,
                 num_thrs: int = 20) -> float:
    """Area under the PCK curve for thresholds ``i / num_thrs``, i = 0 .. num_thrs - 1."""
    norm = np.tile(np.array([[norm_factor, norm_factor]]), (pred.shape[0], 1))
    auc = 0.0
    for i in range(num_thrs):
        auc += 1.0 / num_thrs * pck_accuracy(pred, gt, mask, 1.0 * i / num_thrs, norm)[1]
    return auc


def keypoint_epe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Mean end-point error (px) over the masked-in joints; 0 when there are none."""
    d = normalized_distances(pred, gt, mask, np.ones((pred.shape[0], 2), dtype=np.float32))
    # Joint-major order, as MMPose sums them (the float32 sum depends on the order).
    flat = d.T[d.T != -1]
    return float(flat.sum() / max(1, len(flat)))


class _KeypointDistanceMetric(BaseMetric):
    """Shared ``process``: keep predicted/GT keypoints, the mask and the normalisers."""

    needs: tuple[str, ...] = ()

    def process_one(self, pred: dict) -> dict:
        name = type(self).__name__
        for key in ("keypoints", "gt_keypoints", "gt_visible", *self.needs):
            if key not in pred:
                raise ConfigError(f"{name}: predictions lack {key!r}; the model's predict() "
                                  "must copy it from the sample meta")
        out = dict(pred=np.asarray(pred["keypoints"]), gt=np.asarray(pred["gt_keypoints"]),
                   mask=np.asarray(pred["gt_visible"]).reshape(-1).astype(bool))
        if "id" in pred:
            out["id"] = int(pred["id"])
        for key in self.needs:
            out[key] = pred[key]
        return out

    @staticmethod
    def _stack(results: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.stack([r["pred"] for r in results]), np.stack([r["gt"] for r in results]),
                np.stack([r["mask"] for r in results]))


@METRICS.register()
class PCKAccuracy(_KeypointDistanceMetric):
    """PCK@thr normalised by the box ('PCK'), the head ('PCKh') or the torso ('tPCK').

    Args:
        thr: threshold on the normalised distance.
        norm_item: ``'bbox'`` (longer side of the sample's ``bbox`` x1, y1, x2, y2 px),
            ``'head'`` (the sample's ``head_size`` px), ``'torso'`` (GT distance between the
            joints ``torso_indices``; the predicted one when the GT's is < 1 px), or a list.
        torso_indices: the two joints spanning the torso; MMPose's (4, 5) is JHMDB's
            left shoulder and right hip (use (5, 12) for the COCO layout).
        prefix: names become ``f'{prefix}/PCK'``.
    """

    _NAMES = {"bbox": "PCK", "head": "PCKh", "torso": "tPCK"}

    def __init__(self, thr: float = 0.05, norm_item: str | Sequence[str] = "bbox",
                 torso_indices: Sequence[int] = (4, 5), prefix: str | None = None):
        super().__init__(prefix=prefix)
        items = [norm_item] if isinstance(norm_item, str) else list(norm_item)
        bad = [i for i in items if i not in self._NAMES]
        if bad or not items:
            raise ConfigError(f"PCKAccuracy: norm_item {norm_item!r} must be 'bbox', 'head', "
                              "'torso' or a list of them")
        self.thr = float(thr)
        self.norm_items = items
        self.torso_indices = tuple(int(i) for i in torso_indices)
        self.needs = tuple(k for i, k in (("bbox", "bbox"), ("head", "head_size")) if i in items)

    def _norm(self, item: str, results: list[dict], pred: np.ndarray, gt: np.ndarray):
        if item == "bbox":
            boxes = np.stack([np.asarray(r["bbox"]).reshape(-1)[:4] for r in results])
            size = np.max(boxes[:, 2:] - boxes[:, :2], axis=1)
        elif item == "head":
            size = np.array([np.asarray(r["head_size"]).reshape(-1)[0] for r in results])
        else:
            a, b = self.torso_indices
            size = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
            small = size < 1
            if np.any(small):
                warnings.warn("PCKAccuracy: ground-truth torso size < 1 px; using the "
                              "predicted torso size for those samples", stacklevel=3)
                size = np.where(small, np.linalg.norm(pred[:, a] - pred[:, b], axis=-1), size)
        return np.stack([size, size], axis=1)

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        pred, gt, mask = self._stack(results)
        return {self._NAMES[item]: pck_accuracy(pred, gt, mask, self.thr,
                                                self._norm(item, results, pred, gt))[1]
                for item in self.norm_items}


@METRICS.register()
class AUC(_KeypointDistanceMetric):
    """'AUC': area under the PCK curve with a fixed normaliser (MMPose's definition).

    Args:
        norm_factor: normaliser in px (30 in MMPose's hand/face configs).
        num_thrs: number of thresholds ``0, 1/num_thrs, ...``.
        prefix: names become ``f'{prefix}/AUC'``.
    """

    def __init__(self, norm_factor: float = 30, num_thrs: int = 20, prefix: str | None = None):
        super().__init__(prefix=prefix)
        self.norm_factor = float(norm_factor)
        self.num_thrs = int(num_thrs)

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        return {"AUC": keypoint_auc(*self._stack(results), self.norm_factor, self.num_thrs)}


@METRICS.register()
class EPE(_KeypointDistanceMetric):
    """'EPE': mean end-point error in pixels over the visible joints.

    Args:
        prefix: names become ``f'{prefix}/EPE'``.
    """

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        return {"EPE": keypoint_epe(*self._stack(results))}
