"""COCO keypoint results files read back for `mlpose evaluate`: MMPose's boxes are kept."""
import json

import numpy as np
import pytest

from mlpose.evaluation import CocoMetric
from mlpose.evaluation.coco_metric import STAT_NAMES
from mlpose.evaluation.predictions import read_predictions


def test_a_results_file_with_boxes_evaluates_to_pycocotools_numbers(synth, coco_meta, helpers, tmp_path):
    rng = np.random.default_rng(11)
    results = []
    for p in helpers.perturb(synth["coco"], seed=9):
        lo, hi = p["keypoints"].min(0), p["keypoints"].max(0)
        x1, y1 = (lo - (hi - lo) * rng.uniform(0.1, 0.5, 2)).tolist()
        w, h = ((hi - lo) * 1.8).tolist()
        results.append(dict(image_id=p["img_id"], category_id=1, score=float(p["bbox_score"]),
                            keypoints=np.c_[p["keypoints"], p["keypoint_scores"]].reshape(-1).tolist(),
                            bbox=[x1, y1, w, h]))  # as MMPose's CocoMetric writes them
    path = tmp_path / "mmpose.keypoints.json"
    path.write_text(json.dumps(results))
    preds = read_predictions(path)
    assert preds[0]["bbox"] == pytest.approx([results[0]["bbox"][0], results[0]["bbox"][1],
                                              results[0]["bbox"][0] + results[0]["bbox"][2],
                                              results[0]["bbox"][1] + results[0]["bbox"][3]], rel=1e-6)
    metric = CocoMetric(ann_file=synth["coco"], score_mode="bbox", nms_mode="none")
    metric.dataset_meta = coco_meta
    helpers.feed(metric, preds)
    got = metric.compute()
    ref = helpers.pycocotools_stats(synth["coco"], results, coco_meta["sigmas"])
    # the box round trip (x, y, w, h -> x1 y1 x2 y2 float32 -> x, y, w, h) moves areas by ~1e-7
    assert [got[n] for n in STAT_NAMES] == pytest.approx(list(ref), abs=1e-6)
