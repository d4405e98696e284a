"""COCO keypoint AP/AR (OKS) with MMPose's rescoring and OKS-NMS, evaluated by pycocotools.

What happens to the predictions, in MMPose's order (so the numbers are MMPose's):

1. group by image, sort each image's instances by ``id`` (the gather already dropped the
   duplicates a DistributedSampler pads with);
2. score each instance (``score_mode``): ``'bbox'`` the box score; ``'bbox_keypoint'`` the
   box score times the mean of the keypoint scores above ``keypoint_score_thr`` (0 when
   none is); ``'bbox_rle'`` box score + mean + max keypoint score; ``'keypoint'`` the mean
   keypoint score;
3. OKS-NMS per image (``nms_mode``) with the dataset's sigmas and instance area
   ``scale_w * scale_h`` (the padded box, as MMPose's ``bbox_scales``; the keypoints'
   extent when a prediction has no ``scale``);
4. write ``{image_id, category_id, keypoints: [x, y, keypoint_score] * K, score}`` and run
   pycocotools' ``COCOeval(iouType='keypoints')`` with ``kpt_oks_sigmas`` from
   ``dataset_meta['sigmas']``.

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
import os
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mlpose.evaluation.evaluator import BaseMetric
from mlpose.evaluation.nms import oks_nms, soft_oks_nms
from mlpose.registry import METRICS, TRANSFORMS, ConfigError, build

STAT_NAMES = ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)",
              "AR", "AR .5", "AR .75", "AR (M)", "AR (L)")
SCORE_MODES = ("bbox", "bbox_keypoint", "bbox_rle", "keypoint")
NMS_MODES = ("oks_nms", "soft_oks_nms", "none")


def _scalar(value: Any) -> Any:
    """A one-element array as a numpy scalar of its dtype; anything else unchanged."""
    if isinstance(value, np.ndarray):
        return value.reshape(-1)[0]
    return value


def _extent_area(result: dict) -> Any:
    """Area (px^2) of the box around a prediction's keypoints: MMPose's NMS fallback."""
    x, y = result["keypoints"][:, 0], result["keypoints"][:, 1]
    return (np.max(x) - np.min(x)) * (np.max(y) - np.min(y))


@METRICS.register()
class CocoMetric(BaseMetric):
    """COCO keypoint AP/AR: 'AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', ... 'AR (L)'.

    Each prediction dict needs ``keypoints`` (K, 2) image px, ``keypoint_scores`` (K,),
    ``id``, ``img_id``; it may have ``bbox_score`` (default 1), ``category_id`` (default
    1) and ``scale`` (2,) px (NMS area). With ``ann_file=None`` the ground truth is built
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
    """

    def __init__(self, ann_file: str | None = None, use_area: bool = True,
                 iou_type: str = "keypoints", score_mode: str = "bbox_keypoint",
                 keypoint_score_thr: float = 0.2, nms_mode: str = "oks_nms",
                 nms_thr: float = 0.9, format_only: bool = False,
                 outfile_prefix: str | None = None, prefix: str | None = None,
                 gt_converter: dict | None = None, verbose: bool = False):
        for key, value, allowed in (("iou_type", iou_type, ("keypoints",)),
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

    def process_one(self, pred: dict) -> dict:
        """Keep what the evaluation needs of one prediction (see the class docstring)."""
        try:
            keypoints = np.asarray(pred["keypoints"])
            scores = np.asarray(pred["keypoint_scores"])
            result = dict(id=int(pred["id"]), img_id=int(pred["img_id"]),
                          category_id=int(_scalar(pred.get("category_id", 1))),
                          keypoints=keypoints, keypoint_scores=scores,
                          bbox_score=_scalar(pred.get("bbox_score", 1.0)))
        except KeyError as exc:
            raise ConfigError(f"CocoMetric: predictions need {exc.args[0]!r}; the model's "
                              "predict() must copy it from the sample meta") from None
        if keypoints.ndim != 2 or keypoints.shape[1] != 2 or scores.shape != keypoints.shape[:1]:
            raise ValueError(f"CocoMetric: keypoints {keypoints.shape} and keypoint_scores "
                             f"{scores.shape} must be (K, 2) and (K,)")
        scale = pred.get("scale")
        result["area"] = np.prod(np.asarray(scale)) if scale is not None else None
        if self.coco is None and not self.format_only:
            for key in ("gt_keypoints", "gt_visible", "area"):
                if key not in pred:
                    raise ConfigError(f"CocoMetric(ann_file=None) builds the ground truth from "
                                      f"the predictions, which lack {key!r}; set ann_file")
            result.update(gt_keypoints=np.asarray(pred["gt_keypoints"], dtype=np.float64),
                          gt_visible=np.asarray(pred["gt_visible"]),
                          gt_area=float(_scalar(pred["area"])), gt_bbox=pred.get("bbox"))
        return result

    def _gt_from_results(self, results: list[dict]) -> COCO:
        """A COCO ground-truth object made of the GT carried by the predictions."""
        images, anns = {}, []
        for r in results:
            images[r["img_id"]] = dict(id=r["img_id"])
            vis = r["gt_visible"].reshape(-1)
            xy = r["gt_keypoints"]
            if r["gt_bbox"] is not None:
                x1, y1, x2, y2 = (float(v) for v in np.asarray(r["gt_bbox"]).reshape(-1)[:4])
            else:
                shown = xy[vis > 0] if np.any(vis > 0) else xy
                (x1, y1), (x2, y2) = shown.min(axis=0), shown.max(axis=0)
            anns.append(dict(id=r["id"], image_id=r["img_id"], category_id=r["category_id"],
                             keypoints=np.concatenate([xy, vis[:, None]], -1).reshape(-1).tolist(),
                             num_keypoints=int(np.count_nonzero(vis > 0)), iscrowd=0,
                             area=r["gt_area"], bbox=[float(x1), float(y1),
                                                      float(x2 - x1), float(y2 - y1)]))
        cats = sorted({a["category_id"] for a in anns})
        coco = COCO()
        coco.dataset = dict(images=list(images.values()), annotations=anns,
                            categories=[dict(id=c, name=str(c)) for c in cats])
        with self._quiet():
            coco.createIndex()
        self._prepare_gt(coco, "the predictions")
        return coco

    def _instance_scores(self, insts: list[dict]) -> list:
        """Per-instance scores with MMPose's arithmetic (dtypes and summation order)."""
        if self.score_mode == "bbox":
            return [r["bbox_score"] for r in insts]
        kscores = np.stack([r["keypoint_scores"] for r in insts])
        if self.score_mode == "keypoint":
            return [np.mean(row) for row in kscores]
        if self.score_mode == "bbox_rle":
            return [float(r["bbox_score"] + np.mean(row) + np.max(row))
                    for r, row in zip(insts, kscores)]
        confident = kscores > self.keypoint_score_thr
        # cumsum adds left to right in the scores' dtype, like MMPose's python loop.
        sums = np.cumsum(np.where(confident, kscores, 0), axis=1)[:, -1]
        counts = confident.sum(axis=1)
        out = []
        for r, total, n in zip(insts, sums, counts):
            mean = total / total.dtype.type(n) if n else 0
            out.append(r["bbox_score"] * mean)
        return out

    def results_json(self, results: list[dict]) -> list[dict]:
        """Rescore, NMS and format the results as COCO keypoint detections."""
        sigmas = np.asarray(self.dataset_meta["sigmas"])
        by_image: dict[int, list[int]] = {}
        for i, r in enumerate(results):
            by_image.setdefault(r["img_id"], []).append(i)
        # (N, K, 3): x, y, keypoint score, as MMPose's per-instance concatenation.
        kpts = np.concatenate([np.stack([r["keypoints"] for r in results]),
                               np.stack([r["keypoint_scores"] for r in results])[..., None]], -1)
        if kpts.shape[1] != len(sigmas):
            raise ValueError(f"CocoMetric: predictions have {kpts.shape[1]} keypoints but the "
                             f"dataset's sigmas {len(sigmas)}; check gt_converter")
        scores = self._instance_scores(results)
        if self.nms_mode != "none":
            areas = np.array([r["area"] if r["area"] is not None else _extent_area(r)
                              for r in results])
            nms = oks_nms if self.nms_mode == "oks_nms" else soft_oks_nms
        kept = []
        for idx in by_image.values():
            idx.sort(key=lambda i: results[i]["id"])
            if self.nms_mode == "none":
                kept += idx
            else:
                keep = nms(kpts[idx], np.array([scores[i] for i in idx]), areas[idx],
                           self.nms_thr, sigmas)
                kept += [idx[k] for k in keep]
        flat = kpts[kept].reshape(len(kept), -1).tolist()
        return [dict(image_id=results[i]["img_id"], category_id=results[i]["category_id"],
                     keypoints=row, score=float(scores[i])) for i, row in zip(kept, flat)]

    def compute_metrics(self, results: list[dict]) -> dict[str, float]:
        dets = self.results_json(results)
        if self.outfile_prefix:
            path = f"{self.outfile_prefix}.keypoints.json"
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                json.dump(dets, f, sort_keys=True, indent=4)
        if self.format_only:
            return {}
        coco = self.coco if self.coco is not None else self._gt_from_results(results)
        missing = {d["image_id"] for d in dets} - set(coco.getImgIds())
        if missing:
            raise ValueError(f"CocoMetric: {len(missing)} predicted img_id(s) are not in "
                             f"{self.ann_file or 'the ground truth'} (e.g. {min(missing)}); "
                             "evaluate with the annotation file of the predicted dataset")
        with self._quiet():
            coco_dt = coco.loadRes(dets)
            coco_eval = COCOeval(coco, coco_dt, "keypoints")
            coco_eval.params.kpt_oks_sigmas = np.asarray(self.dataset_meta["sigmas"])
            coco_eval.evaluate()
            coco_eval.accumulate()
            coco_eval.summarize()
        return {name: float(v) for name, v in zip(STAT_NAMES, coco_eval.stats)}
