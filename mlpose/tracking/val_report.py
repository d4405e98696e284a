"""The run's story at each validation, per dataset prefix (``coco``, ``aic``):

- ``<prefix>/samples``: step image, a grid of the same ``num_step_images`` validation samples
  every time (spread evenly over the annotation ids), predicted and GT skeletons, OKS labels;
- ``<prefix>/failures``: step image, the ``num_failure_images`` samples of lowest OKS;
- ``<prefix>/per_keypoint``: step image, PCK and mean pixel error per keypoint as bar charts,
  and the table ``<prefix>_per_keypoint.json`` (one row per keypoint per validation, ``step``);
- ``<prefix>_samples.json``: table of every sample of the latest validation (image id,
  annotation id, OKS, score, mean and per-keypoint pixel error), replaced at each validation.

Rank 0 alone logs; every rank records its samples, :meth:`ValidationReport.log` gathers them
to rank 0 (a collective call on every rank). The training thread computes OKS and errors in
numpy and queues the rest as callables: reading images, drawing and tables run on the
tracker's upload thread.
"""
from __future__ import annotations

import time
from typing import Sequence

import cv2
import numpy as np

from mlpose.errors import ConfigError
from mlpose.evaluation import Evaluator
from mlpose.evaluation.sample_stats import (fixed_indices, instance_scores, oks_per_sample, per_keypoint,
                                            pixel_errors, worst_indices)
from mlpose.evaluation.samples import SampleRecorder, prefix_infos
from mlpose.tracking.base import BaseTracker
from mlpose.tracking.step_media import image_key, table_file
from mlpose.visualization.gallery import keypoint_chart, sample_tile, tile_grid

#: ``tracking`` keys of this report and their defaults (see default_runtime.py).
DEFAULTS = {"num_step_images": 8, "num_failure_images": 8, "log_breakdown": True}


def report_options(tracking: dict, where: str = "tracking") -> dict:
    """The report's ``tracking`` keys with defaults; a negative count is a one-line ConfigError."""
    opts = {k: (tracking or {}).get(k, v) for k, v in DEFAULTS.items()}
    for key in ("num_step_images", "num_failure_images"):
        if isinstance(opts[key], bool) or not isinstance(opts[key], int) or opts[key] < 0:
            raise ConfigError(f"{where}.{key}: expected a count >= 0 (0 turns it off), got {opts[key]!r}")
    return opts


class ValidationReport:
    """Records validation predictions and logs the pictures and tables above (see module doc).

    Args:
        evaluator: the validation evaluator (dataset prefixes, sigmas, PCK threshold).
        num_step_images, num_failure_images: samples per grid (0: no grid).
        log_breakdown: the per-keypoint image and table and the per-sample table.
        enabled: False records and logs nothing (untracked runs); the same on every rank.
    """

    def __init__(self, evaluator: Evaluator | None, num_step_images: int = 8, num_failure_images: int = 8,
                 log_breakdown: bool = True, enabled: bool = True):
        self.num_step_images, self.num_failure_images = num_step_images, num_failure_images
        self.log_breakdown = log_breakdown
        self.infos = prefix_infos(evaluator) if evaluator is not None else {}
        self.enabled = enabled and bool(self.infos) and bool(num_step_images or num_failure_images or log_breakdown)
        self.recorder = SampleRecorder(next(iter(self.infos), ""))
        self.seconds: list[float] = []  # training-thread time of each log() (benchmarks)

    def process(self, metas: Sequence[dict], preds: Sequence[dict]) -> None:
        """Keep one validation batch (this rank's share)."""
        if self.enabled:
            self.recorder.process(metas, preds)

    def log(self, tracker: BaseTracker, step: int) -> None:
        """Gather the recorded samples on rank 0 and queue everything for ``step`` there; resets."""
        if not self.enabled:
            return
        start = time.perf_counter()
        data = self.recorder.gather()
        if data is not None and tracker.active:
            for prefix, cols in data.items():
                self._log_prefix(tracker, prefix, cols, int(step))
        self.seconds.append(time.perf_counter() - start)

    def _log_prefix(self, tracker: BaseTracker, prefix: str, cols: dict, step: int) -> None:
        info = self.infos.get(prefix) or next(iter(self.infos.values()))
        pred, gt, vis = cols["keypoints"], cols["gt_keypoints"], cols["gt_visible"]
        box = cols["bbox"]
        area = np.where(cols["area"] > 0, cols["area"], np.prod(box[:, 2:] - box[:, :2], axis=1))
        sigmas = info["sigmas"]
        oks = (oks_per_sample(pred, gt, vis, area, sigmas) if sigmas is not None and len(sigmas) == pred.shape[1]
               else np.full(len(pred), np.nan))
        errors = pixel_errors(pred, gt, vis)
        names = info["keypoint_names"]
        if len(names) != pred.shape[1]:
            names = [f"kpt{i}" for i in range(pred.shape[1])]
        key = image_key(prefix or "val")
        grids = (("samples", fixed_indices(cols["id"], self.num_step_images)),
                 ("failures", worst_indices(oks, cols["id"], self.num_failure_images)))
        for name, idx in grids:
            if len(idx):
                tiles = _tile_specs(cols, idx, oks)
                tracker.log_image(f"{key}/{name}", lambda t=tiles, s=info["skeleton"]: _grid(t, s), step)
        if not self.log_breakdown:
            return
        stats = per_keypoint(pred, gt, vis, box, info["pck_thr"])
        title = f"{prefix}: PCK@{info['pck_thr']:g} (box) and mean error per keypoint, step {step}"
        tracker.log_image(f"{key}/per_keypoint", lambda: keypoint_chart(names, stats["pck"], stats["mean_error_px"],
                                                                         title), step)
        tracker.log_table(lambda: _keypoint_table(prefix, names, stats, info["pck_thr"], step),
                          table_file(f"{key.replace('/', '_')}_per_keypoint.json"))
        score = instance_scores(cols["keypoint_scores"], cols["bbox_score"])
        tracker.log_table(lambda: _sample_table(prefix, cols["img_id"], cols["id"], oks, score, errors, names, step),
                          table_file(f"{key.replace('/', '_')}_samples.json"), replace=True)


def _tile_specs(cols: dict, idx: np.ndarray, oks: np.ndarray) -> list[tuple]:
    """What one grid needs of each chosen sample (copies: the columns are not kept alive)."""
    specs = []
    for i in idx:
        label = f"{int(cols['id'][i])}  OKS {oks[i]:.2f}" if np.isfinite(oks[i]) else f"{int(cols['id'][i])}"
        specs.append((cols["img_path"][i], cols["bbox"][i].copy(), cols["keypoints"][i].copy(),
                      cols["keypoint_scores"][i].copy(), cols["gt_keypoints"][i].copy(),
                      cols["gt_visible"][i].copy(), label))
    return specs


def _grid(specs: list[tuple], skeleton) -> np.ndarray:
    """Read, cut and draw each sample (upload thread); RGB grid, 4 tiles a row."""
    images: dict[str, np.ndarray | None] = {}
    tiles = []
    for path, *arrays, label in specs:
        if path not in images:
            images[path] = cv2.imread(path) if path else None
        tiles.append(sample_tile(images[path], *arrays, skeleton=skeleton, label=label))
    return tile_grid(tiles, cols=4)


def _float(values) -> list:
    return [None if not np.isfinite(v) else round(float(v), 5) for v in values]


def _keypoint_table(prefix: str, names: list[str], stats: dict, thr: float, step: int) -> dict:
    k = len(names)
    return {"step": [step] * k, "dataset": [prefix] * k, "keypoint": list(names), "keypoint_index": list(range(k)),
            "pck": _float(stats["pck"]), "pck_thr": [thr] * k, "mean_error_px": _float(stats["mean_error_px"]),
            "num_visible": [int(n) for n in stats["num_visible"]]}


def _sample_table(prefix: str, img_ids, ann_ids, oks, score, errors, names, step: int) -> dict:
    """One row per sample, worst OKS first (samples without visible GT last)."""
    order = np.lexsort((ann_ids, np.where(np.isfinite(oks), oks, np.inf)))
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(errors).sum(axis=1)
        mean = np.where(counts > 0, np.nansum(errors, axis=1) / np.maximum(counts, 1), np.nan)
    n = len(order)
    table = {"step": [step] * n, "dataset": [prefix] * n, "image_id": [int(v) for v in img_ids[order]],
             "annotation_id": [int(v) for v in ann_ids[order]], "oks": _float(oks[order]),
             "score": _float(score[order]), "mean_error_px": _float(mean[order])}
    for j, name in enumerate(names):
        table[f"error_px_{name}"] = _float(errors[order, j])
    return table
