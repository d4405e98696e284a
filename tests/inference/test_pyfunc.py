"""The MLflow pose model: signature and input example, pre- and post-processing inside (the same
answers as the predictor ``mlpose infer`` uses), no config on the caller's side, clear bad rows."""
import base64
import json

import cv2
import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from mlflow.exceptions import MlflowException

from mlpose.inference import ImageTask, PosePredictor
from mlpose.inference.pyfunc import input_example, save_pose_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory, pose_checkpoint):
    folder = tmp_path_factory.mktemp("pyfunc") / "model"
    save_pose_model(folder, pose_checkpoint)
    return folder


@pytest.fixture(scope="module")
def loaded(saved):
    return mlflow.pyfunc.load_model(str(saved))


def test_the_model_folder_has_signature_example_and_a_slim_checkpoint(saved, pose_checkpoint):
    spec = yaml.safe_load((saved / "MLmodel").read_text())
    assert spec["signature"].get("inputs") is None  # the model checks its rows itself (pyfunc.py's docstring)
    outputs = json.loads(spec["signature"]["outputs"])
    assert outputs[0]["name"] == "poses" and set(outputs[0]["items"]["properties"]) == {"keypoints", "bbox", "bbox_score"}
    assert spec["flavors"]["python_function"]["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    serving = json.loads((saved / "serving_input_example.json").read_text())
    assert serving["dataframe_split"]["columns"] == ["image", "boxes"]
    assert any(r.startswith("mlpose==") for r in (saved / "requirements.txt").read_text().split())
    slim = torch.load(saved / "artifacts" / "checkpoint.pth", weights_only=True)
    full = torch.load(pose_checkpoint, weights_only=True)
    assert set(slim) == {"state_dict", "config", "meta", "state"} and "optimizer" in full
    assert all(torch.equal(slim["state_dict"][k], v) for k, v in full["state_dict"].items())
    assert (saved / "artifacts" / "checkpoint.pth").stat().st_size < 0.6 * pose_checkpoint.stat().st_size


def test_predict_answers_what_the_predictor_answers(loaded, pose_checkpoint):
    example = input_example()
    (answer,) = loaded.predict(example)
    image = cv2.imdecode(np.frombuffer(example.image[0], np.uint8), cv2.IMREAD_COLOR)
    box = np.asarray(example.boxes[0])
    predictor = PosePredictor.from_checkpoint(str(pose_checkpoint))
    ((_, people),) = predictor.predict([ImageTask(0, image, box[:, :4], box[:, 4])])
    (pose,) = answer["poses"]
    kpts = np.asarray(pose["keypoints"])
    assert kpts.shape == (17, 3) and pose["bbox"] == pytest.approx(box[0, :4].tolist()) and pose["bbox_score"] == 1.0
    np.testing.assert_allclose(kpts[:, :2], people[0].keypoints, atol=1e-4)
    np.testing.assert_allclose(kpts[:, 2], people[0].keypoint_scores, atol=1e-6)


def test_rows_without_boxes_with_no_boxes_and_with_scored_integer_boxes(loaded, same_poses):
    jpeg = input_example().image[0]
    rows = pd.DataFrame({"image": [jpeg, jpeg, jpeg], "boxes": [None, [], [[10, 20, 100, 150, 0.5], [0, 0, 50, 50]]]})
    whole, nobody, two = loaded.predict(rows)
    assert [p["bbox"] for p in whole["poses"]] == [[0, 0, 192, 256]] and nobody == {"poses": []}
    assert [(p["bbox"], p["bbox_score"]) for p in two["poses"]] == [([10, 20, 100, 150], 0.5), ([0, 0, 50, 50], 1.0)]
    (only_images,) = loaded.predict(pd.DataFrame({"image": [jpeg]}))
    same_poses(only_images, whole)


@pytest.mark.parametrize("row, message", [
    ({"image": b"\x89PNG but no picture"}, "row 0: image: 19 bytes that do not decode as an image"),
    ({"boxes": [[1, 2, 3]]}, r"row 0: boxes: \[\[1, 2, 3\]\] is not a list of \[x, y, w, h\]"),
    ({"boxes": "10,20,30,40"}, "row 0: boxes: 10,20,30,40 is not a list"),
    ({"boxes": [[500, 20, 30, 40]]}, r"row 0: box 0 \[500, 20, 30, 40\] lies outside the 192x256 image"),
    ({"image": "not base64!"}, r"row 0: image: 11 characters that are not base64 \(Invalid base64"),
    ({"image": None}, r"row 0: image: missing \(null\)"),
    ({"image": 5}, "row 0: image: a value of type int where JPEG or PNG bytes"),
    ({"boxes": 5}, "row 0: boxes: 5 is not a list"),
], ids=["undecodable", "three-numbers", "a-string", "outside", "not-base64", "null-image", "a-number", "number-boxes"])
def test_a_bad_row_is_one_clear_invalid_parameter_error(loaded, row, message):
    good = {"image": input_example().image[0], "boxes": None}
    with pytest.raises(MlflowException, match=message) as err:
        loaded.predict(pd.DataFrame([{**good, **row}]))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "\n" not in str(err.value).split("Error:")[-1]


def test_cfg_options_at_load_time_override_the_models_config(saved, loaded):
    example = input_example()
    no_flip = mlflow.pyfunc.load_model(str(saved), model_config={"cfg_options": ["model.test_cfg.flip_test=False"]})
    with_flip = np.asarray(loaded.predict(example)[0]["poses"][0]["keypoints"])
    without = np.asarray(no_flip.predict(example)[0]["poses"][0]["keypoints"])
    assert not np.allclose(with_flip[:, 2], without[:, 2])  # the averaged flipped heatmaps are gone


def test_requests_without_rows_or_images_and_other_shapes(loaded, same_poses):
    jpeg = input_example().image[0]
    assert loaded.predict(pd.DataFrame()) == []  # no rows, no answers
    with pytest.raises(MlflowException, match=r"row 0: image: missing \(it has picture\)"):
        loaded.predict(pd.DataFrame({"picture": [jpeg]}))
    text = base64.b64encode(jpeg).decode()
    (by_column,) = loaded.predict({"image": [text], "boxes": [[[10, 20, 100, 150]]]})  # MLflow's "inputs" form
    (as_csv,) = loaded.predict(pd.DataFrame({"image": [text], "boxes": ["[[10, 20, 100, 150]]"]}))  # CSV: JSON text
    same_poses(by_column, as_csv)
    with pytest.raises(MlflowException, match="the request is not a table of rows with an image field"):
        loaded.predict({"image": [text, text], "boxes": [None]})
