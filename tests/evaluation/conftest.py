"""Shared data for the evaluation tests: a generated val set and perturbed predictions."""
from __future__ import annotations

import contextlib
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mlpose.datasets.converter import AIC_TO_COCO
from mlpose.datasets.metainfo import load_metainfo
from mlpose.datasets.synth import generate

COCO_META_FILE = "experiments/_base_/datasets/coco.py"
AIC_META_FILE = "experiments/_base_/datasets/aic.py"
AIC_CONVERTER = dict(type="KeypointConverter", num_keypoints=17, mapping=AIC_TO_COCO)


@pytest.fixture(scope="session")
def synth(tmp_path_factory):
    """Paths of a small generated val set (COCO and AIC annotations of the same people)."""
    out = tmp_path_factory.mktemp("synth")
    generate(out, num_train=0, num_val=40, seed=3, image_size=(256, 256), progress=False)
    ann = out / "annotations"
    return dict(coco=str(ann / "person_keypoints_val.json"), aic=str(ann / "aic_val.json"))


@pytest.fixture(scope="session")
def coco_meta():
    return load_metainfo(dict(from_file=COCO_META_FILE), COCO_META_FILE)


@pytest.fixture(scope="session")
def aic_meta():
    return load_metainfo(dict(from_file=AIC_META_FILE), AIC_META_FILE)


def perturb(ann_file: str, seed: int, dataset_name: str = "coco",
            layout_file: str | None = None, noise: tuple = (0.01, 0.15)) -> list[dict]:
    """Prediction dicts (the model contract) near the GT people of ``ann_file``.

    Every labelled person gets a prediction with per-person noise (so OKS spans the AP
    thresholds), some get a lower-scored near-duplicate, and each image gets a false alarm.
    ``layout_file``: take the keypoints from this annotation file instead (same annotation
    ids), e.g. COCO-layout predictions for the AIC people. ``noise``: range of the per-person
    keypoint noise, as a fraction of sqrt(box area).
    """
    rng = np.random.default_rng(seed)
    anns = json.load(open(ann_file))["annotations"]
    layout = {a["id"]: a for a in json.load(open(layout_file or ann_file))["annotations"]}
    preds, next_id = [], 10**12
    for ann in anns:
        if ann["iscrowd"] or ann["num_keypoints"] == 0:
            continue
        gt = np.asarray(layout[ann["id"]]["keypoints"], dtype=np.float64).reshape(-1, 3)
        x, y, w, h = ann["bbox"]
        sd = rng.uniform(*noise) * np.sqrt(w * h)
        kpts = gt[:, :2] + rng.normal(0, sd, (len(gt), 2))
        kpts[gt[:, 2] == 0] = rng.uniform([x, y], [x + w, y + h], (int((gt[:, 2] == 0).sum()), 2))
        pred = dict(id=ann["id"], img_id=ann["image_id"], category_id=1,
                    keypoints=kpts.astype(np.float32),
                    keypoint_scores=rng.uniform(0.0, 1.0, len(gt)).astype(np.float32),
                    bbox_score=np.float32(rng.uniform(0.3, 1.0)), area=float(ann["area"]),
                    center=np.array([x + w / 2, y + h / 2], np.float32),
                    scale=np.array([w * 1.25, h * 1.25], np.float32), dataset_name=dataset_name)
        preds.append(pred)
        if rng.random() < 0.3:
            dup = dict(pred, id=next_id, bbox_score=np.float32(pred["bbox_score"] * 0.5),
                       keypoints=(kpts + rng.normal(0, 0.5, kpts.shape)).astype(np.float32))
            preds.append(dup)
            next_id += 1
    for img_id in sorted({a["image_id"] for a in anns}):
        k = len(next(iter(layout.values()))["keypoints"]) // 3
        xy = rng.uniform(0, 256, 2)
        preds.append(dict(id=next_id, img_id=img_id, category_id=1,
                          keypoints=(xy + rng.normal(0, 10, (k, 2))).astype(np.float32),
                          keypoint_scores=rng.uniform(0, 0.6, k).astype(np.float32),
                          bbox_score=np.float32(rng.uniform(0.05, 0.4)), area=900.0,
                          center=xy.astype(np.float32), scale=np.array([40, 50], np.float32),
                          dataset_name=dataset_name))
        next_id += 1
    return preds


def pycocotools_stats(gt: str | dict, results: list[dict], sigmas) -> np.ndarray:
    """The 10 keypoint stats of plain pycocotools on a GT file (or dict) and a results list."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(gt) if isinstance(gt, str) else _coco_from_dict(gt)
        ev = COCOeval(coco, coco.loadRes(results), "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def _coco_from_dict(dataset: dict) -> COCO:
    coco = COCO()
    coco.dataset = dataset
    coco.createIndex()
    return coco


def feed(metric, preds: list[dict], batch_size: int = 8) -> None:
    """Give ``preds`` to ``metric.process`` in batches, as the evaluation loop does."""
    for i in range(0, len(preds), batch_size):
        metric.process(preds[i:i + batch_size])


@pytest.fixture(scope="session")
def helpers():
    """The helper functions above, for the test modules (conftest is not importable)."""
    return SimpleNamespace(perturb=perturb, pycocotools_stats=pycocotools_stats, feed=feed,
                           aic_converter=AIC_CONVERTER, coco_meta_file=COCO_META_FILE,
                           aic_meta_file=AIC_META_FILE)
