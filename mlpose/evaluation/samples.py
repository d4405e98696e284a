"""What the validation pictures and tables need of each prediction, gathered on rank 0 only.

:class:`SampleRecorder` keeps, per evaluated sample, a few small arrays (predicted and GT
keypoints, scores, box, area, ids, image path): ~0.3 kB for 17 keypoints, so a 6k-person COCO
val set costs ~2 MB on rank 0 and nothing is sent to the other ranks (as
:meth:`mlpose.evaluation.BaseMetric.compute` gathers). :func:`prefix_infos` tells, per
dataset prefix (``coco``, ``aic``), the sigmas, keypoint names, skeleton and PCK threshold.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mlpose.evaluation.evaluator import Evaluator, MultiDatasetEvaluator
from mlpose.evaluation.pck import PCKAccuracy
from mlpose.evaluation.sample_stats import DEFAULT_PCK_THR
from mlpose.runtime import dist

_ARRAYS = ("keypoints", "keypoint_scores", "gt_keypoints", "gt_visible", "bbox")


class SampleRecorder:
    """Collects the prediction of every validation sample of this rank; :meth:`gather` joins them.

    Args:
        default_dataset: the prefix of predictions without a ``dataset_name``.
    """

    def __init__(self, default_dataset: str = ""):
        self.default_dataset = default_dataset
        self._rows: list[tuple] = []

    def process(self, metas: Sequence[dict], preds: Sequence[dict]) -> None:
        """Keep one batch: ``metas`` (for the image path) and the model's prediction dicts."""
        for meta, p in zip(metas, preds):
            k = len(p["keypoints"])
            box = p.get("bbox")
            self._rows.append((
                str(p.get("dataset_name") or self.default_dataset), int(p["id"]), int(p["img_id"]),
                str(meta.get("img_path", "")), float(np.asarray(p.get("bbox_score", 1.0)).reshape(-1)[0]),
                float(np.asarray(p.get("area", 0.0) or 0.0).reshape(-1)[0]),
                np.asarray(p["keypoints"], np.float32).reshape(k, 2),
                np.asarray(p["keypoint_scores"], np.float32).reshape(k),
                np.asarray(p.get("gt_keypoints", np.zeros((k, 2))), np.float32).reshape(k, 2),
                np.asarray(p.get("gt_visible", np.zeros(k)), np.float32).reshape(k),
                np.asarray(box if box is not None else _box_of(p["keypoints"]), np.float32).reshape(-1)[:4]))

    def gather(self) -> dict[str, dict] | None:
        """Every rank's samples, on rank 0 only (None elsewhere); resets. A collective call.

        Returns:
            ``{prefix: columns}`` where columns are ``id, img_id`` (N,) int64, ``img_path``
            list, ``bbox_score, area`` (N,), ``keypoints, gt_keypoints`` (N, K, 2) px,
            ``keypoint_scores, gt_visible`` (N, K), ``bbox`` (N, 4) xyxy px; one row per
            sample (the padding repeats of a distributed sampler removed), in id order.
        """
        parts = dist.gather_object(self._rows)
        self._rows = []
        if parts is None:
            return None
        unique: dict[tuple[str, int], tuple] = {}
        for part in parts:
            for row in part:
                unique.setdefault((row[0], row[1]), row)
        by_prefix: dict[str, list[tuple]] = {}
        for key in sorted(unique):
            by_prefix.setdefault(key[0], []).append(unique[key])
        return {prefix: _columns(rows) for prefix, rows in by_prefix.items()}


def _box_of(keypoints) -> np.ndarray:
    kp = np.asarray(keypoints, np.float32).reshape(-1, 2)
    return np.concatenate([kp.min(axis=0), kp.max(axis=0)])


def _columns(rows: list[tuple]) -> dict:
    cols = list(zip(*rows))
    out = {"id": np.array(cols[1], np.int64), "img_id": np.array(cols[2], np.int64), "img_path": list(cols[3]),
           "bbox_score": np.array(cols[4], np.float64), "area": np.array(cols[5], np.float64)}
    for name, values in zip(_ARRAYS, cols[6:]):
        out[name] = np.stack(values)
    return out


def prefix_infos(evaluator: Evaluator) -> dict[str, dict]:
    """Per dataset prefix: ``sigmas`` (K,) or None, ``keypoint_names``, ``skeleton`` and ``pck_thr``
    (the ``thr`` of a box-normalised :class:`PCKAccuracy` of that dataset, else 0.05).

    The layout is the evaluated dataset's (``evaluator.dataset_meta``): the model predicts in
    it, also for sub-datasets converted into it (AIC in a COCO-layout combined set); a
    dataset's own meta is used only when the evaluator has none.
    """
    if isinstance(evaluator, MultiDatasetEvaluator):
        pairs = [(name, [metric]) for name, metric in zip(evaluator.names, evaluator.metrics)]
    else:
        pairs = [(evaluator.dataset_meta.get("dataset_name") or "", list(evaluator.metrics))]
    infos = {}
    for name, metrics in pairs:
        meta = evaluator.dataset_meta if evaluator.dataset_meta.get("num_keypoints") else metrics[0].dataset_meta or {}
        pck = [m for m in metrics if isinstance(m, PCKAccuracy) and "bbox" in m.norm_items]
        num = int(meta.get("num_keypoints") or len(meta.get("keypoint_names") or []))
        sigmas = meta.get("sigmas")
        infos[name] = {
            "sigmas": np.asarray(sigmas, np.float64) if sigmas is not None and len(sigmas) else None,
            "keypoint_names": list(meta.get("keypoint_names") or [f"kpt{i}" for i in range(num)]),
            "skeleton": [tuple(link) for link in meta.get("skeleton") or ()],
            "pck_thr": pck[0].thr if pck else DEFAULT_PCK_THR,
        }
    return infos
