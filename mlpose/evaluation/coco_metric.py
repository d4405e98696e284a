"""COCO keypoint AP/AR (OKS) with MMPose's rescoring and OKS-NMS, evaluated as pycocotools does.

The evaluation itself is pycocotools' ``COCOeval(iouType='keypoints')`` as re-implemented by
faster-coco-eval (per-image matching and accumulation in C++; the tests hold its ten numbers
equal to pycocotools' own on the same results), 3-4x faster at COCO's size.

What happens to the predictions, in MMPose's order (so the numbers are MMPose's):

1. gather every rank's predictions on rank 0 as compact arrays (:meth:`CocoMetric.pack`),
   drop the duplicates a DistributedSampler pads with, sort by image, then ``id`` (the
   order within an image is what NMS and tie-breaks see, as in MMPose);
2. score each instance (``score_mode``): ``'bbox'`` the box score; ``'bbox_keypoint'`` the
   box score times the mean of the keypoint scores above ``keypoint_score_thr`` (0 when
   none is); ``'bbox_rle'`` box score + mean + max keypoint score; ``'keypoint'`` the mean
   keypoint score;
3. OKS-NMS per image (``nms_mode``) with the dataset's sigmas and instance area
   ``scale_w * scale_h`` (the padded box, as MMPose's ``bbox_scales``; the keypoints'
   extent when a prediction has no ``scale``);
4. write ``{image_id, category_id, keypoints: [x, y, keypoint_score] * K, score, bbox}``
   (``bbox``: the prediction's input box as x, y, w, h, as MMPose writes it; pycocotools
   then takes the detection's area from it, which decides AP/AR (M) and (L)) and run
   ``COCOeval(iouType='keypoints')`` with ``kpt_oks_sigmas`` from ``dataset_meta['sigmas']``.

The ground truth gets MMPose/xtcocotools semantics: ``use_area=False`` replaces each
annotation's area by ``0.53 * bbox_w * bbox_h`` (for the OKS scale and the area ranges
alike); ``gt_converter`` maps each annotation's keypoints into the model's layout (joints
it does not name get visibility 0), recounts ``num_keypoints`` as the visible mapped joints
and maps the sigmas (unmapped joints get sigma 1, as MMPose). One known difference from
xtcocotools: a detection whose keypoint scores are all <= 0 still counts (pycocotools).
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster

from mlpose.datasets.checks import check_coco_file
from mlpose.errors import ConfigError
from mlpose.evaluation.evaluator import BaseMetric
from mlpose.evaluation.nms import oks_nms, soft_oks_nms
from mlpose.registry import METRICS, TRANSFORMS, build
from mlpose.runtime.user_files import write_output

STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)",
              "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
SCORE_MODES = ("bbox", "bbox_keypoint", "bbox_rle", "keypoint")
BACKENDS = ("faster_coco_eval", "pycocotools")
NMS_MODES = ("oks_nms", "soft_oks_nms", "none")


def _scalar(value: Any) -> Any:
    """A one-element array as a numpy scalar of its dtype; anything else unchanged."""
    if isinstance(value, np.ndarray):
        return value.reshape(-1)[0]
    return value


@METRICS.register()
class CocoMetric(BaseMetric):
    """COCO keypoint AP/AR: 'AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', ... 'AR (L)'.

    Each prediction dict needs ``keypoints`` (K, 2) image px, ``keypoint_scores`` (K,),
    ``id``, ``img_id``; it may have ``bbox_score`` (default 1), ``category_id`` (default
    1), ``bbox`` (x1, y1, x2, y2) px (the detection's box, written to the results) and
    ``scale`` (2,) px (NMS area). With ``ann_file=None`` the ground truth is built
    from the predictions, which then also need ``gt_keypoints`` (K, 2) px, ``gt_visible``
    (K,), ``area`` (px^2) and ``bbox`` (x1, y1, x2, y2) px (else the visible keypoints'
    extent).

    Args:
        ann_file: COCO-format keypoint annotation json of the evaluated images.
        use_area: use the annotations' ``area``; False for datasets without a usable one.
        iou_type: only ``'keypoints'`` (pycocotools has no CrowdPose evaluation).
        score_mode: ``'bbox'``, ``'bbox_keypoint'``, ``'bbox_rle'`` or ``'keypoint'``.
        keypoint_score_thr: keypoints scoring above this enter the ``'bbox_keypoint'`` mean.
        nms_mode: ``'oks_nms'``, ``'soft_oks_nms'`` or ``'none'``.
        nms_thr: OKS threshold of the NMS.
        format_only: only write ``{outfile_prefix}.keypoints.json`` (e.g. for a test-dev
            submission) and return no metrics.
        outfile_prefix: write the results json to ``{outfile_prefix}.keypoints.json``.
        prefix: names become ``f'{prefix}/AP'``; else the evaluator adds the dataset name.
        gt_converter: ``dict(type='KeypointConverter', num_keypoints=K, mapping=[...])``
            putting the ground truth into the model's keypoint layout.
        verbose: let pycocotools print its progress and summary table.
        backend: ``'faster_coco_eval'`` (default: the same numbers, matching in C++) or
            ``'pycocotools'`` (its pure-Python ``COCOeval``, the reference; ~3x slower at COCO size).
    """

    def __init__(self, ann_file: str | None = None, use_area: bool = True,
                 iou_type: str = "keypoints", score_mode: str = "bbox_keypoint",
                 keypoint_score_thr: float = 0.2, nms_mode: str = "oks_nms",
                 nms_thr: float = 0.9, format_only: bool = False,
                 outfile_prefix: str | None = None, prefix: str | None = None,
                 gt_converter: dict | None = None, verbose: bool = False,
                 backend: str = "faster_coco_eval"):
        for key, value, allowed in (("iou_type", iou_type, ("keypoints",)),
                                    ("backend", backend, BACKENDS),
                                    ("score_mode", score_mode, SCORE_MODES),
                                    ("nms_mode", nms_mode, NMS_MODES)):
            if value not in allowed:
                raise ConfigError(
                    f"CocoMetric: {key}={value!r} is not supported; use one of "
                    f"{', '.join(map(repr, allowed))}"
                )
        if format_only and not outfile_prefix:
            raise ConfigError("CocoMetric: format_only=True needs outfile_prefix=PATH_PREFIX "
                              "to write the results to")
        self.converter = None
        if gt_converter is not None:
            self.converter = build(gt_converter, TRANSFORMS, "CocoMetric.gt_converter")
        super().__init__(prefix=prefix)
        self.ann_file = ann_file
        self.use_area = bool(use_area)
        self.score_mode = score_mode
        # A python float, so comparisons with float32 scores happen in float32 (as MMPose).
        self.keypoint_score_thr = float(keypoint_score_thr)
        self.nms_mode = nms_mode
        self.nms_thr = float(nms_thr)
        self.format_only = bool(format_only)
        self.outfile_prefix = outfile_prefix
        self.verbose = bool(verbose)
        self.backend = backend
        self.coco = self._load_ann_file(ann_file) if ann_file is not None else None

    @property
    def dataset_meta(self) -> dict:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict) -> None:
        """Store a copy; with a gt_converter the sigmas are mapped to the model's layout."""
        meta = dict(meta or {})
        if self.converter is not None and "sigmas" in meta:
            sigmas = np.asarray(meta["sigmas"])
            # Convert the sigmas as if they were coordinates: mapped joints get theirs,
            # the rest are marked invisible and get 1.0, as MMPose's transform_sigmas.
            as_xy = np.stack([sigmas, sigmas], axis=-1)
            mapped, seen = self.converter.convert(as_xy, np.ones_like(sigmas))
            meta["sigmas"] = np.where(seen > 0, mapped[:, 0], 1.0).astype(sigmas.dtype)
            meta["num_keypoints"] = len(meta["sigmas"])
        self._dataset_meta = meta

    def _quiet(self):
        return contextlib.nullcontext() if self.verbose else contextlib.redirect_stdout(io.StringIO())

    def _load_ann_file(self, ann_file: str) -> COCO | None:
        if not Path(ann_file).is_file():
            raise ConfigError(f"CocoMetric: ann_file {ann_file!r} not found; give the path of "
                              "the COCO-format keypoint annotation json")
        with self._quiet():
            coco = COCO(str(ann_file))
        check_coco_file(coco.dataset, str(ann_file))  # ids unique, references resolve, finite numbers
        if "annotations" not in coco.dataset and not self.format_only:
            raise ConfigError(f"CocoMetric: ann_file {ann_file!r} has no 'annotations'; "
                              "evaluation needs ground truth (or set format_only=True)")
        self._prepare_gt(coco, str(ann_file))
        return coco

    def _prepare_gt(self, coco: COCO, source: str) -> None:
        """Apply gt_converter, use_area and num_keypoints rules to the annotations in place."""
        anns = [a for a in coco.dataset.get("annotations", []) if "keypoints" in a]
        if anns and self.converter is not None:
            flat = np.array([a["keypoints"] for a in anns], dtype=np.float64)
            flat = flat.reshape(len(anns), -1, 3)
            kpts, vis = self.converter.convert(flat[..., :2], flat[..., 2])
            merged = np.concatenate([kpts, vis[..., None]], axis=-1).reshape(len(anns), -1)
            for ann, row, v in zip(anns, merged.tolist(), vis):
                ann["keypoints"] = row
                ann["num_keypoints"] = int(np.count_nonzero(v > 0))
        for ann in anns:
            if "num_keypoints" not in ann:
                ann["num_keypoints"] = int(np.count_nonzero(np.asarray(ann["keypoints"])[2::3] > 0))
            if not self.use_area:
                ann["area"] = ann["bbox"][2] * ann["bbox"][3] * 0.53
            elif "area" not in ann:
                raise ConfigError(f"CocoMetric: annotation id {ann.get('id')} in {source} has "
                                  "no 'area'; set use_area=False for this dataset")

    # ---- per batch: predictions -> columns ----------------------------------------------
    def process(self, preds: Sequence[dict]) -> None:
        """Keep one batch of predictions as arrays (see :meth:`batch_columns`)."""
        if preds:
            self.results.append(self.batch_columns(preds))

    def batch_columns(self, preds: Sequence[dict]) -> dict[str, np.ndarray]:
        """What the evaluation needs of a batch, one row per prediction (class docstring).

        Returns:
            ``id, img_id, category_id`` int64 (B,), ``keypoints`` (B, K, 2) and
            ``keypoint_scores`` (B, K) in their own dtype, ``bbox_score`` float64 (B,),
            ``bbox`` float32 (B, 4) xyxy px and ``scale`` float32 (B, 2) px (NaN rows where a
            prediction has none); with ``ann_file=None`` also ``gt_keypoints`` float64
            (B, K, 2), ``gt_visible`` (B, K), ``gt_area`` float64 (B,), ``gt_bbox`` float64 (B, 4).
        """
        try:
            shapes = {(np.shape(p["keypoints"]), np.shape(p["keypoint_scores"])) for p in preds}
            (kpt_shape, score_shape), = shapes if len(shapes) == 1 else [((), (-1,))]
            if len(kpt_shape) != 2 or kpt_shape[1] != 2 or score_shape != kpt_shape[:1]:
                raise ConfigError(f"CocoMetric: keypoints and keypoint_scores {sorted(shapes)} must be "
                                 "(K, 2) and (K,), the same K for every prediction")
            cols = dict(id=np.array([int(p["id"]) for p in preds], np.int64),
                        img_id=np.array([int(p["img_id"]) for p in preds], np.int64),
                        category_id=np.array([int(_scalar(p.get("category_id", 1))) for p in preds], np.int64),
                        keypoints=np.stack([np.asarray(p["keypoints"]) for p in preds]),
                        keypoint_scores=np.stack([np.asarray(p["keypoint_scores"]) for p in preds]),
                        bbox_score=np.array([_scalar(p.get("bbox_score", 1.0)) for p in preds], np.float64))
        except KeyError as exc:
            raise ConfigError(f"CocoMetric: predictions need {exc.args[0]!r}; the model's "
                              "predict() must copy it from the sample meta") from None
        cols["bbox"] = _rows(preds, "bbox", 4)
        cols["scale"] = _rows(preds, "scale", 2)
        if self.coco is None and not self.format_only:
            for key in ("gt_keypoints", "gt_visible", "area"):
                if any(key not in p for p in preds):
                    raise ConfigError(f"CocoMetric(ann_file=None) builds the ground truth from "
                                      f"the predictions, which lack {key!r}; set ann_file")
            cols.update(gt_keypoints=np.stack([np.asarray(p["gt_keypoints"], np.float64) for p in preds]),
                        gt_visible=np.stack([np.asarray(p["gt_visible"]).reshape(-1) for p in preds]),
                        gt_area=np.array([float(_scalar(p["area"])) for p in preds], np.float64),
                        gt_bbox=_rows(preds, "bbox", 4, np.float64))
        return cols

    def pack(self, results: list[dict]) -> dict[str, np.ndarray]:
        """This rank's batches as one set of columns (compact: ~250 bytes a prediction)."""
        return _concat(results)

    def unpack(self, parts: list[dict]) -> Columns:
        """Every rank's columns; the repeats a DistributedSampler pads with are dropped (the
        first row of each ``id`` is kept) and rows are sorted by image, then ``id``."""
        cols = _concat([p for p in parts if p])
        if not cols:
            return Columns({})
        _, first = np.unique(cols["id"], return_index=True)
        rows = first[np.lexsort((cols["id"][first], cols["img_id"][first]))]
        return Columns({k: v[rows] for k, v in cols.items()})

    # ---- on rank 0: rescoring, NMS, COCOeval -------------------------------------------
    def _gt_from_results(self, cols: Columns) -> COCO:
        """A COCO ground-truth object made of the GT carried by the predictions."""
        anns = []
        for i in range(len(cols)):
            vis, xy, box = cols["gt_visible"][i], cols["gt_keypoints"][i], cols["gt_bbox"][i]
            if not np.isnan(box).any():
                x1, y1, x2, y2 = (float(v) for v in box)
            else:
                shown = xy[vis > 0] if np.any(vis > 0) else xy
                (x1, y1), (x2, y2) = shown.min(axis=0), shown.max(axis=0)
            anns.append(dict(id=int(cols["id"][i]), image_id=int(cols["img_id"][i]),
                             category_id=int(cols["category_id"][i]),
                             keypoints=np.concatenate([xy, vis[:, None]], -1).reshape(-1).tolist(),
                             num_keypoints=int(np.count_nonzero(vis > 0)), iscrowd=0,
                             area=float(cols["gt_area"][i]), bbox=[float(x1), float(y1),
                                                                   float(x2 - x1), float(y2 - y1)]))
        coco = COCO()
        coco.dataset = dict(images=[dict(id=int(i)) for i in np.unique(cols["img_id"])], annotations=anns,
                            categories=[dict(id=int(c), name=str(c)) for c in np.unique(cols["category_id"])])
        with self._quiet():
            coco.createIndex()
        self._prepare_gt(coco, "the predictions")
        return coco

    def instance_scores(self, bbox_score: np.ndarray, keypoint_scores: np.ndarray) -> np.ndarray:
        """Per-instance scores (N,) with MMPose's arithmetic: its dtypes and summation order.

        Args:
            bbox_score: (N,) box scores (float64 holding the given values).
            keypoint_scores: (N, K) (float32 from the model).
        """
        if self.score_mode == "bbox":
            return bbox_score
        # MMPose multiplies float32 box scores by float32 keypoint means.
        box = bbox_score.astype(keypoint_scores.dtype)
        if self.score_mode == "keypoint":
            return np.mean(keypoint_scores, axis=1)
        if self.score_mode == "bbox_rle":
            return box + np.mean(keypoint_scores, axis=1) + np.max(keypoint_scores, axis=1)
        confident = keypoint_scores > self.keypoint_score_thr
        # cumsum adds left to right in the scores' dtype, like MMPose's python loop.
        sums = np.cumsum(np.where(confident, keypoint_scores, 0), axis=1)[:, -1]
        counts = confident.sum(axis=1)
        means = np.where(counts > 0, sums / np.maximum(counts, 1).astype(sums.dtype), 0).astype(sums.dtype)
        return box * means

    def kept_rows(self, cols: Columns, scores: np.ndarray) -> np.ndarray:
        """Rows that survive NMS, image by image (rows are sorted by image, then id), each
        image's in pick order (best first), as MMPose lists them."""
        if self.nms_mode == "none":
            return np.arange(len(cols))
        sigmas = np.asarray(self.dataset_meta["sigmas"])
        kpts, scale = cols["keypoints"], cols["scale"]
        areas = np.prod(scale, axis=1)  # the padded box, as MMPose's bbox_scales (float32)
        xy_extent = np.ptp(kpts[..., 0], axis=1) * np.ptp(kpts[..., 1], axis=1)
        areas = np.where(np.isnan(areas), xy_extent, areas)
        nms = oks_nms if self.nms_mode == "oks_nms" else soft_oks_nms
        starts = np.flatnonzero(np.r_[True, cols["img_id"][1:] != cols["img_id"][:-1]])
        kept = []
        for lo, hi in zip(starts, np.r_[starts[1:], len(cols)]):
            kept += [lo + k for k in nms(kpts[lo:hi], scores[lo:hi], areas[lo:hi], self.nms_thr, sigmas)]
        return np.asarray(kept, np.int64)

    def results_json(self, cols: Columns) -> list[dict]:
        """Rescore, NMS and format the results as COCO keypoint detections.

        Each detection has ``image_id, category_id, keypoints [x, y, score] * K, score`` and,
        when every prediction has one, its input ``bbox`` as x, y, w, h (w and h subtracted in
        float32, as MMPose's ``bbox_xyxy2xywh``): pycocotools' ``loadRes`` then takes the
        detection's area from the box, which decides its AP (M)/(L) range, as in MMPose.
        """
        sigmas = np.asarray(self.dataset_meta["sigmas"])
        kpts = cols["keypoints"]
        if kpts.shape[1] != len(sigmas):
            raise ConfigError(f"CocoMetric: predictions have {kpts.shape[1]} keypoints but the "
                              f"dataset's sigmas {len(sigmas)}; check gt_converter")
        scores = self.instance_scores(cols["bbox_score"], cols["keypoint_scores"])
        kept = self.kept_rows(cols, scores)
        # (N, K, 3): x, y, keypoint score, as MMPose's per-instance concatenation.
        flat = np.concatenate([kpts[kept], cols["keypoint_scores"][kept][..., None]], -1)
        flat = flat.reshape(len(kept), -1).tolist()
        dets = [dict(image_id=i, category_id=c, keypoints=row, score=s) for i, c, row, s in
                zip(cols["img_id"][kept].tolist(), cols["category_id"][kept].tolist(), flat,
                    scores[kept].astype(np.float64).tolist())]
        boxes = cols["bbox"][kept]
        if len(boxes) and not np.isnan(boxes).any():
            xywh = boxes.copy()
            xywh[:, 2:] -= xywh[:, :2]
            for det, box in zip(dets, xywh.tolist()):
                det["bbox"] = box
        return dets

    def compute_metrics(self, results: Columns) -> dict[str, float]:
        dets = self.results_json(results)
        if self.outfile_prefix:  # written whole or not at all, as every file at a path the user gave
            write_output(f"{self.outfile_prefix}.keypoints.json", json.dumps(dets, sort_keys=True, indent=4),
                         "CocoMetric outfile_prefix")
        if self.format_only:
            return {}
        coco = self.coco if self.coco is not None else self._gt_from_results(results)
        missing = {d["image_id"] for d in dets} - set(coco.getImgIds())
        if missing:
            raise ConfigError(f"CocoMetric: {len(missing)} predicted img_id(s) are not in "
                              f"{self.ann_file or 'the ground truth'} (e.g. {min(missing)}); "
                              "evaluate with the annotation file of the predicted dataset")
        with self._quiet():
            coco_dt = coco.loadRes(dets)
            evaluator = COCOeval_faster if self.backend == "faster_coco_eval" else _pycocotools_eval()
            coco_eval = evaluator(coco, coco_dt, "keypoints")
            coco_eval.params.kpt_oks_sigmas = np.asarray(self.dataset_meta["sigmas"])
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        return {name: float(v) for name, v in zip(STAT_NAMES, coco_eval.stats)}


def _pycocotools_eval():
    """pycocotools' own ``COCOeval`` (it reads faster-coco-eval's ``COCO`` objects: same interface)."""
    from pycocotools.cocoeval import COCOeval

    return COCOeval


class Columns:
    """Per-prediction arrays with one row per prediction (``len`` is the row count)."""

    def __init__(self, data: dict[str, np.ndarray]):
        self.data = data

    def __len__(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]


def _rows(preds: Sequence[dict], key: str, width: int, dtype=np.float32) -> np.ndarray:
    """(B, width) of each prediction's ``key`` (first ``width`` values), NaN where absent."""
    out = np.full((len(preds), width), np.nan, dtype)
    for i, p in enumerate(preds):
        if p.get(key) is not None:
            out[i] = np.asarray(p[key], dtype).reshape(-1)[:width]
    return out


def _concat(parts: list[dict]) -> dict[str, np.ndarray]:
    """Batches of columns (dicts of arrays with the same keys) as one dict of arrays."""
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
