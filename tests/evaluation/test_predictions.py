"""COCO keypoint results files read back for `mlpose evaluate`: MMPose's boxes are kept, and a
malformed file, another keypoint layout or other images are one line naming the entry."""
import json

import numpy as np
import pytest
from faster_coco_eval import COCO

from mlpose.errors import ConfigError
from mlpose.evaluation import CocoMetric, build_evaluator
from mlpose.evaluation.coco_metric import STAT_NAMES
from mlpose.evaluation.predictions import check_predictions, read_predictions


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


def _results_file(tmp_path, entries) -> str:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(entries))
    return str(path)


@pytest.mark.parametrize("entries, message", [
    ([], "results.json holds no predictions; nothing to evaluate"),
    ([{"keypoints": [1, 2, 3]}], r"entry 0 \{\"keypoints\": \[1, 2, 3\]\} needs an integer image_id"),
    ([{"image_id": 1, "keypoints": [1, 2]}], r"entry 0 .* needs keypoints \[x, y, score\] \* K"),
    ([{"image_id": 1, "keypoints": [1, 2, "a"]}], "needs keypoints"),
    ([{"image_id": 1, "keypoints": [1, 2, 3], "score": "high"}], "needs a numeric score"),
    ([{"image_id": 1, "keypoints": [1, 2, 3]}, {"image_id": 2, "keypoints": [1, 2, 3] * 2}],
     "entry 1 has 2 keypoints but entry 0 has 1; one file holds predictions of one keypoint layout"),
    ([{"image_id": 1, "keypoints": [float("nan"), 2, 3]}], "keypoints that are not finite"),
    ({"format": "mlpose-predictions-v1", "predictions": [{"id": 1, "img_id": 2, "keypoints": [[1, 2]]}]},
     r"needs id, img_id, keypoints \(K, 2\) and keypoint_scores \(K,\): is the file from `mlpose test --dump`"),
    ({"format": "mlpose-predictions-v1", "predictions": [{"id": 1, "img_id": 2, "keypoints": [1, 2],
                                                          "keypoint_scores": [1]}]}, r"needs keypoints \(K, 2\)"),
], ids=["empty", "no-image-id", "two-numbers", "a-string", "text-score", "two-layouts", "nan", "dump-keys",
        "dump-shape"])
def test_a_malformed_predictions_file_is_one_line_naming_the_entry(entries, message, tmp_path):
    with pytest.raises(ConfigError, match=message) as err:
        read_predictions(_results_file(tmp_path, entries))
    assert "\n" not in str(err.value) and str(err.value).startswith(str(tmp_path / "results.json"))


def test_predictions_of_another_layout_or_other_images_are_named(synth, coco_meta, tmp_path):
    evaluator = build_evaluator(dict(type="CocoMetric", ann_file=synth["coco"]), coco_meta)
    image_id = COCO(synth["coco"]).getImgIds()[0]
    good = {"image_id": image_id, "keypoints": [10.0, 20.0, 0.9] * 17, "score": 1.0}
    path = _results_file(tmp_path, [good, {**good, "image_id": 999999}])
    with pytest.raises(ConfigError, match=r"results.json: entry 1 has image_id 999999, which is not in .*"
                                          r"\(1 of 2 entries are of images not in it\); evaluate against the "
                                          r"annotation file of the predicted images \(--ann-file FILE\)"):
        check_predictions(read_predictions(path), path, evaluator)
    path = _results_file(tmp_path, [{**good, "keypoints": [10.0, 20.0, 0.9] * 14}])
    with pytest.raises(ConfigError, match=r"entry 0 \(image_id \d+\) has 14 keypoints but the evaluated layout "
                                          r"\(coco\) has 17; evaluate with the config of the model that made them"):
        check_predictions(read_predictions(path), path, evaluator)
    check_predictions(read_predictions(_results_file(tmp_path, [good])), path, evaluator)
