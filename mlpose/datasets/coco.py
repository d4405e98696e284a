"""COCO-style top-down keypoint datasets: one sample per person instance."""
from __future__ import annotations

import json
import os
from typing import Callable, Sequence

import numpy as np
import torch

from mlpose.errors import ConfigError
from mlpose.registry import DATASETS, TRANSFORMS, build
from mlpose.runtime.malloc import release_freed_memory

from .checks import check_detections, mark_checked, read_coco_columns
from .instances import InstanceTable
from .metainfo import load_metainfo

# Metainfo entries copied into every item, as transforms (flip, half-body, target
# weights) need them; CombinedDataset overwrites them with the combined layout's.
ITEM_METAINFO_KEYS = ("flip_indices", "flip_pairs", "upper_body_ids", "lower_body_ids",
                      "dataset_keypoint_weights")
# Per-instance array fields, returned with a leading instance axis of 1 (MMPose's layout).
ARRAY_FIELDS = ("bbox", "bbox_score", "keypoints", "keypoints_visible")


def build_pipeline(pipeline: Sequence, path: str) -> list[Callable]:
    """Build transforms from ``dict(type=...)`` configs (callables are kept as they are)."""
    return [t if callable(t) else build(t, TRANSFORMS, f"{path}[{i}]")
            for i, t in enumerate(pipeline or ())]


def run_pipeline(transforms: Sequence[Callable], item: dict) -> dict:
    """Apply ``transforms`` in order; a transform returning None is an error naming it."""
    for t in transforms:
        out = t(item)
        if out is None:
            raise RuntimeError(f"transform {t!r} returned None for {item.get('img_path')!r}")
        item = out
    return item


def item_metainfo(metainfo: dict) -> dict:
    """The per-item copy of the layout-dependent metainfo entries (see ITEM_METAINFO_KEYS)."""
    return dict(
        flip_indices=list(metainfo["flip_indices"]),
        flip_pairs=[list(p) for p in metainfo["flip_pairs"]],
        upper_body_ids=list(metainfo["upper_body_ids"]),
        lower_body_ids=list(metainfo["lower_body_ids"]),
        dataset_keypoint_weights=metainfo["joint_weights"].copy(),
    )


@DATASETS.register()
class CocoDataset(torch.utils.data.Dataset):
    """Person keypoints in COCO json format, top-down: one item per person instance.

    Instances that are crowd regions, have no labelled keypoints or have an empty box are
    skipped, in training and in GT-box testing alike (as MMPose does). With ``bbox_file``
    (test mode only) the items are the person detections instead, with dummy keypoints.

    An item before the pipeline holds ``img_path``, ``img_id``, ``id`` (annotation id, or a
    running id for detections), ``category_id``, ``bbox`` float32 (1, 4) xyxy pixels,
    ``bbox_score`` float32 (1,), ``keypoints`` float32 (1, K, 2) pixels,
    ``keypoints_visible`` float32 (1, K) in {0, 1}, ``area`` (float, pixels^2),
    ``num_keypoints`` (int), ``iscrowd``, ``dataset_name``, ``sample_idx`` and the
    ITEM_METAINFO_KEYS (``flip_indices``, ``flip_pairs``, ``upper_body_ids``,
    ``lower_body_ids``, ``dataset_keypoint_weights`` float32 (K,)).

    Args:
        ann_file: COCO keypoints json; relative paths are joined to ``data_root``.
        data_root: root for ``ann_file``, image prefix and (if not found as given) bbox_file.
        data_prefix: ``dict(img=DIR)``, the image folder under ``data_root``.
        data_mode: only ``'topdown'`` is supported.
        pipeline: transform configs (built from TRANSFORMS) or callables, dict -> dict.
        test_mode: evaluation data (required for ``bbox_file``).
        bbox_file: COCO results json of person detections (image_id, category_id, bbox
            xywh, score); only category 1 is used.
        filter_cfg: ``dict(bbox_score_thr=T)`` keeps detections with score >= T.
        metainfo: ``dict(from_file=PATH)`` or a dataset_info dict; default: the COCO file.
        lazy_init: defer reading the annotations until the first access.
        indices: an int N keeps the first N items; a sequence keeps those items.
    """

    default_metainfo = "experiments/_base_/datasets/coco.py"

    def __init__(self, ann_file: str, data_root: str = "", data_prefix: dict | None = None,
                 data_mode: str = "topdown", pipeline: Sequence = (), test_mode: bool = False,
                 bbox_file: str | None = None, filter_cfg: dict | None = None,
                 metainfo: dict | None = None, lazy_init: bool = False,
                 indices: int | Sequence[int] | None = None):
        name = type(self).__name__
        if data_mode != "topdown":
            raise ConfigError(f"{name}: data_mode={data_mode!r} is not supported; use 'topdown'")
        if bbox_file and not test_mode:
            raise ConfigError(f"{name}: bbox_file is only for evaluation; set test_mode=True")
        unknown = set(filter_cfg or {}) - {"bbox_score_thr"}
        if unknown:
            raise ConfigError(f"{name}: unknown filter_cfg keys {sorted(unknown)}; "
                              "supported: bbox_score_thr")
        self.data_root = data_root or ""
        self.ann_file = self._join_root(ann_file)
        self.img_prefix = os.path.join(self.data_root, (data_prefix or {}).get("img", ""))
        self.bbox_file = bbox_file and self._find_bbox_file(bbox_file)
        self.test_mode = test_mode
        self.filter_cfg = dict(filter_cfg or {})
        self.indices = indices
        self.metainfo = load_metainfo(metainfo, self.default_metainfo)
        self.pipeline = build_pipeline(pipeline, f"{name}.pipeline")
        self.table = InstanceTable.empty()
        self._initialized = False
        if not lazy_init:
            self.full_init()

    def _join_root(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.data_root, path)

    def _find_bbox_file(self, path: str) -> str:
        return path if os.path.exists(path) else self._join_root(path)

    def full_init(self) -> None:
        """Read the annotations (and detections) into the instance table; idempotent."""
        if self._initialized:
            return
        for what, path in (("ann_file", self.ann_file), ("bbox_file", self.bbox_file)):
            if path and not os.path.isfile(path):
                raise ConfigError(
                    f"{type(self).__name__}: {what} {path!r} not found; fix data_root/{what} "
                    "or generate data with `mlpose data synth data/synth`"
                )
        with open(self.ann_file) as f:
            dataset = json.load(f)
        table = self._load_detections(dataset) if self.bbox_file else self._load_gt(dataset)
        del dataset
        if isinstance(self.indices, int):
            table = table.take(np.arange(min(self.indices, len(table))))
        elif self.indices is not None:
            table = table.take(self.indices)
        self.table = table
        self._initialized = True
        release_freed_memory()  # the parsed json is garbage now; hand its pages back

    def _table(self, columns: dict, image_ids: np.ndarray, images: dict) -> InstanceTable:
        """The instance table of ``columns`` whose instances lie in ``image_ids`` (N,)."""
        uniq, index = np.unique(image_ids, return_inverse=True)
        paths = [os.path.join(self.img_prefix, images[int(i)]["file_name"]) for i in uniq]
        return InstanceTable(columns, index, uniq, np.array(paths, dtype=str),
                             dict(dataset_name=self.metainfo["dataset_name"], iscrowd=0), ARRAY_FIELDS)

    def _load_gt(self, dataset: dict) -> InstanceTable:
        """Labelled, non-crowd instances with a non-empty (image-clipped) box, by image id; the
        file is checked first (:mod:`mlpose.datasets.checks`)."""
        k = self.metainfo["num_keypoints"]
        col = read_coco_columns(dataset, self.ann_file, k, f"metainfo {self.metainfo['dataset_name']!r}")
        mark_checked(self.ann_file)
        images = {img["id"]: img for img in dataset.get("images", [])}
        order = np.argsort(col.image_ids)
        size = col.image_sizes[order[np.searchsorted(col.image_ids, col.image_of, sorter=order)]]
        boxes = col.bbox
        # Clip to the image like MMPose: a box reaching past the border ends at w - 1.
        x1, x2 = (np.clip(boxes[:, 0:1] + d * boxes[:, 2:3], 0, size[:, :1] - 1)[:, 0] for d in (0, 1))
        y1, y2 = (np.clip(boxes[:, 1:2] + d * boxes[:, 3:4], 0, size[:, 1:] - 1)[:, 0] for d in (0, 1))
        keep = ~col.iscrowd & (col.num_keypoints > 0) & (x2 > x1) & (y2 > y1)
        # Sorted by image id, file order within an image (a stable sort).
        rows = np.flatnonzero(keep)[np.argsort(col.image_of[keep], kind="stable")]
        kpts = col.keypoints
        columns = dict(
            id=col.ids[rows], category_id=col.category_id[rows],
            bbox=np.stack([x1, y1, x2, y2], -1).astype(np.float32)[rows],
            bbox_score=np.ones(len(rows), np.float32),
            keypoints=np.ascontiguousarray(kpts[rows, :, :2]),
            keypoints_visible=np.minimum(1.0, kpts[rows, :, 2]).astype(np.float32),
            area=col.area[rows], num_keypoints=col.num_keypoints[rows])
        return self._table(columns, col.image_of[rows], images)

    def _load_detections(self, dataset: dict) -> InstanceTable:
        """The person detections (category 1) scoring at least ``bbox_score_thr``, in file order."""
        with open(self.bbox_file) as f:
            dets = json.load(f)
        images = {img["id"]: img for img in dataset.get("images", [])}
        if not isinstance(dets, list):
            raise ConfigError(f"bbox_file {self.bbox_file!r} must hold a list of detections")
        dets = [d for d in dets if d.get("category_id", 1) == 1]
        check_detections(dets, self.bbox_file, np.fromiter(images, np.int64, len(images)), self.ann_file)
        scores = np.array([d["score"] for d in dets], np.float64)
        thr = float(self.filter_cfg.get("bbox_score_thr", -np.inf))
        rows = np.flatnonzero(scores >= thr)
        xywh = np.array([d["bbox"][:4] for d in dets], np.float64).reshape(-1, 4)[rows]
        k, n = self.metainfo["num_keypoints"], len(rows)
        columns = dict(
            id=np.arange(n, dtype=np.int64), category_id=np.ones(n, np.int64),
            bbox=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], -1).astype(np.float32),
            bbox_score=scores[rows].astype(np.float32),
            keypoints=np.zeros((n, k, 2), np.float32), keypoints_visible=np.zeros((n, k), np.float32),
            area=xywh[:, 2] * xywh[:, 3], num_keypoints=np.zeros(n, np.int64))
        return self._table(columns, np.array([d["image_id"] for d in dets], np.int64)[rows], images)

    @property
    def data_list(self) -> list[dict]:
        """Every item before the pipeline, as dicts (built on each access: for inspection;
        the dataset itself keeps flat columns, see :mod:`mlpose.datasets.instances`)."""
        return [self.table.item(i) for i in range(len(self.table))] if self._initialized else []

    def __len__(self) -> int:
        self.full_init()
        return len(self.table)

    def get_data_info(self, idx: int) -> dict:
        """The ``idx``-th item before the pipeline (a fresh dict, safe to modify)."""
        self.full_init()
        item = self.table.item(idx)
        item.update(item_metainfo(self.metainfo), sample_idx=idx)
        return item

    def __getitem__(self, idx: int) -> dict:
        return run_pipeline(self.pipeline, self.get_data_info(idx))

    def __repr__(self) -> str:
        size = len(self.table) if self._initialized else "not loaded"
        return f"{type(self).__name__}(ann_file={self.ann_file!r}, test_mode={self.test_mode}, " \
               f"size={size})"


@DATASETS.register()
class AicDataset(CocoDataset):
    """AI Challenger keypoints (14 joints) in COCO json format; see :class:`CocoDataset`."""

    default_metainfo = "experiments/_base_/datasets/aic.py"
