"""Annotation files are checked once at load: every problem that would train or score silently
wrong is one line naming the file, the id and the field; good files load as before."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from mlpose.datasets import CocoDataset
from mlpose.datasets.checks import check_coco_file, check_detections, read_coco_columns
from mlpose.errors import ConfigError


def _first_labelled(coco: dict) -> dict:
    return next(a for a in coco["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])


def _dup_image(c):
    c["images"].append(dict(c["images"][0]))
    return f"image id {c['images'][0]['id']} appears 2 times in 'images'"


def _dup_annotation(c):
    c["annotations"].append(dict(c["annotations"][0]))
    return f"annotation id {c['annotations'][0]['id']} appears 2 times"


def _stray(c):
    c["annotations"].append(dict(_first_labelled(c), id=77, image_id=999))
    return "annotation id 77 (image id 999): image_id 999 is not in 'images'"


def _nan_keypoint(c):
    a = _first_labelled(c)
    a["keypoints"][4] = float("nan")
    return f"annotation id {a['id']} (image id {a['image_id']}): keypoints hold nan at position 4 (y of keypoint 1)"


def _null_keypoint(c):
    a = _first_labelled(c)
    a["keypoints"][0] = None
    return f"annotation id {a['id']} (image id {a['image_id']}): keypoints hold None at position 0"


def _wrong_k(c):
    a = _first_labelled(c)
    a["keypoints"] = a["keypoints"][:-3]
    return f"annotation id {a['id']} (image id {a['image_id']}): keypoints holds 16 keypoints (48 numbers) but " \
           "metainfo 'coco' has 17 keypoints"


def _box(value):
    def make(c):
        a = _first_labelled(c)
        a["bbox"] = value
        return f"annotation id {a['id']} (image id {a['image_id']}): bbox {[float(v) for v in value]}"
    return make


def _nan_area(c):
    a = _first_labelled(c)
    a["area"] = float("inf")
    return f"annotation id {a['id']} (image id {a['image_id']}): area is inf"


def _no_file_name(c):
    del c["images"][1]["file_name"]
    return f"image id {c['images'][1]['id']} has no 'file_name'"


CASES = {"duplicate image id": _dup_image, "duplicate annotation id": _dup_annotation,
         "image_id not in images": _stray, "NaN keypoint": _nan_keypoint, "null keypoint": _null_keypoint,
         "wrong keypoint count": _wrong_k, "infinite box": _box([1, 2, float("inf"), 3]),
         "negative box": _box([1, 2, -4, 3]), "zero box of a labelled person": _box([1, 2, 0, 3]),
         "infinite area": _nan_area, "image without file_name": _no_file_name}


@pytest.mark.parametrize("case", CASES)
def test_each_problem_is_one_line_naming_file_id_and_field(case, synth_root, coco_json, tmp_path):
    coco = copy.deepcopy(coco_json["train"])
    expected = CASES[case](coco)
    ann = tmp_path / "bad.json"
    ann.write_text(json.dumps(coco))
    with pytest.raises(ConfigError) as err:
        CocoDataset(ann_file=str(ann), data_root=str(synth_root))
    line = str(err.value)
    assert line.startswith(f"{ann}: ") and expected in line and "\n" not in line, line


def test_many_problems_are_counted_not_listed(coco_json):
    coco = copy.deepcopy(coco_json["train"])
    labelled = [a for a in coco["annotations"] if a["num_keypoints"] > 0]
    for a in labelled[:5]:
        a["keypoints"][0] = float("inf")
    with pytest.raises(ConfigError, match=r"keypoints hold inf at position 0 .* \(4 more annotations like it\)$"):
        read_coco_columns(coco, "f.json", 17)


def test_crowd_and_unlabelled_zero_boxes_are_allowed(coco_json):
    coco = copy.deepcopy(coco_json["train"])
    unlabelled = next(a for a in coco["annotations"] if a["num_keypoints"] == 0)
    unlabelled["bbox"] = [3, 4, 0, 0]  # COCO has such annotations: not trained on, not an error
    columns = read_coco_columns(coco, "f.json", 17)
    assert len(columns.ids) == len(coco["annotations"]) and columns.keypoints.shape[1:] == (17, 3)


def test_the_evaluators_ground_truth_is_checked_unless_already_read(coco_json, tmp_path):
    coco = copy.deepcopy(coco_json["val"])
    coco["annotations"].append(dict(coco["annotations"][0]))
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco))
    with pytest.raises(ConfigError, match="appears 2 times in 'annotations' .evaluation matches by id"):
        check_coco_file(coco, str(gt))
    from mlpose.evaluation.coco_metric import CocoMetric

    with pytest.raises(ConfigError, match=f"{gt}: annotation id"):
        CocoMetric(ann_file=str(gt))


def test_detections_are_checked(coco_json):
    ids = np.array([img["id"] for img in coco_json["val"]["images"]])
    good = dict(image_id=int(ids[0]), category_id=1, bbox=[1, 2, 30, 40], score=0.9)
    check_detections([good], "dets.json", ids, "gt.json")
    with pytest.raises(ConfigError, match=r"dets.json: detection #1 \(image id \d+\): bbox \[1.0, 2.0, 30.0, 40.0\] "
                                          r"score nan is not a finite box and score"):
        check_detections([good, dict(good, score=float("nan"))], "dets.json", ids, "gt.json")
    with pytest.raises(ConfigError, match="image_id 5 is not in 'gt.json'"):
        check_detections([dict(good, image_id=5)], "dets.json", ids, "gt.json")
