"""COCO-style top-down keypoint datasets: one sample per person instance."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from typing import Callable, Sequence

import numpy as np
import torch
from pycocotools.coco import COCO

from mlpose.registry import DATASETS, TRANSFORMS, ConfigError, build

from .metainfo import load_metainfo

# Metainfo entries copied into every item, as transforms (flip, half-body, target
# weights) need them; CombinedDataset overwrites them with the combined layout's.
ITEM_METAINFO_KEYS = ("flip_indices", "flip_pairs", "upper_body_ids", "lower_body_ids",
                      "dataset_keypoint_weights")


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
        self.data_list: list[dict] = []
        self._initialized = False
        if not lazy_init:
            self.full_init()

    def _join_root(self, path: str) -> str:
        return path if os.path.isabs(path) else os.path.join(self.data_root, path)

    def _find_bbox_file(self, path: str) -> str:
        return path if os.path.exists(path) else self._join_root(path)

    def full_init(self) -> None:
        """Read the annotations (and detections) into ``self.data_list``; idempotent."""
        if self._initialized:
            return
        for what, path in (("ann_file", self.ann_file), ("bbox_file", self.bbox_file)):
            if path and not os.path.isfile(path):
                raise ConfigError(
                    f"{type(self).__name__}: {what} {path!r} not found; fix data_root/{what} "
                    "or generate data with `mlpose data synth data/synth`"
                )
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco = COCO(self.ann_file)
        data_list = self._load_detections(coco) if self.bbox_file else self._load_gt(coco)
        if isinstance(self.indices, int):
            data_list = data_list[: self.indices]
        elif self.indices is not None:
            data_list = [data_list[i] for i in self.indices]
        self.data_list = data_list
        self._initialized = True

    def _base_item(self, img: dict) -> dict:
        return dict(img_id=img["id"], img_path=os.path.join(self.img_prefix, img["file_name"]),
                    dataset_name=self.metainfo["dataset_name"])

    def _load_gt(self, coco: COCO) -> list[dict]:
        k = self.metainfo["num_keypoints"]
        items = []
        for img_id in sorted(coco.getImgIds()):
            img = coco.loadImgs(img_id)[0]
            w, h = img["width"], img["height"]
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
                kpts = np.asarray(ann.get("keypoints") or [0] * 3 * k, np.float32).reshape(-1, 3)
                if kpts.shape[0] != k:
                    raise ConfigError(
                        f"{self.ann_file}: annotation {ann['id']} has {kpts.shape[0]} keypoints "
                        f"but metainfo {self.metainfo['dataset_name']!r} has {k}; fix metainfo"
                    )
                x, y, bw, bh = ann["bbox"]
                # Clip to the image like MMPose: a box reaching past the border ends at w - 1.
                x1, x2 = np.clip([x, x + bw], 0, w - 1)
                y1, y2 = np.clip([y, y + bh], 0, h - 1)
                num_kpts = int(ann.get("num_keypoints", np.count_nonzero(kpts[:, 2])))
                if ann.get("iscrowd", 0) or num_kpts == 0 or x2 <= x1 or y2 <= y1:
                    continue
                items.append(dict(
                    self._base_item(img), id=ann["id"], category_id=ann.get("category_id", 1),
                    bbox=np.array([[x1, y1, x2, y2]], np.float32),
                    bbox_score=np.ones(1, np.float32),
                    keypoints=kpts[None, :, :2].copy(),
                    keypoints_visible=np.minimum(1.0, kpts[None, :, 2]).astype(np.float32),
                    area=float(ann.get("area", bw * bh)), num_keypoints=num_kpts, iscrowd=0,
                ))
        return items

    def _load_detections(self, coco: COCO) -> list[dict]:
        with open(self.bbox_file) as f:
            dets = json.load(f)
        if not isinstance(dets, list):
            raise ConfigError(f"bbox_file {self.bbox_file!r} must hold a list of detections")
        k = self.metainfo["num_keypoints"]
        thr = float(self.filter_cfg.get("bbox_score_thr", -np.inf))
        items = []
        for det in dets:
            if det.get("category_id", 1) != 1:
                continue
            if det["image_id"] not in coco.imgs:
                raise ConfigError(f"bbox_file {self.bbox_file!r}: image_id {det['image_id']} "
                                  f"is not in {self.ann_file!r}")
            x, y, bw, bh = (float(v) for v in det["bbox"][:4])
            score = float(det["score"])
            if score < thr:
                continue
            items.append(dict(
                self._base_item(coco.imgs[det["image_id"]]), id=len(items), category_id=1,
                bbox=np.array([[x, y, x + bw, y + bh]], np.float32),
                bbox_score=np.array([score], np.float32),
                keypoints=np.zeros((1, k, 2), np.float32),
                keypoints_visible=np.zeros((1, k), np.float32),
                area=bw * bh, num_keypoints=0, iscrowd=0,
            ))
        return items

    def __len__(self) -> int:
        self.full_init()
        return len(self.data_list)

    def get_data_info(self, idx: int) -> dict:
        """The ``idx``-th item before the pipeline (a deep copy, safe to modify)."""
        self.full_init()
        item = copy.deepcopy(self.data_list[idx])
        item.update(item_metainfo(self.metainfo), sample_idx=idx)
        return item

    def __getitem__(self, idx: int) -> dict:
        return run_pipeline(self.pipeline, self.get_data_info(idx))

    def __repr__(self) -> str:
        size = len(self.data_list) if self._initialized else "not loaded"
        return f"{type(self).__name__}(ann_file={self.ann_file!r}, test_mode={self.test_mode}, " \
               f"size={size})"


@DATASETS.register()
class AicDataset(CocoDataset):
    """AI Challenger keypoints (14 joints) in COCO json format; see :class:`CocoDataset`."""

    default_metainfo = "experiments/_base_/datasets/aic.py"
