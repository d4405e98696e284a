"""``mlflow models serve -m models:/NAME@best --env-manager local`` answering HTTP with the pose model:
the keypoints of ``mlpose infer`` on the same images and boxes, and 400s that say what is wrong."""
import base64
import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from mlpose.engine.predict import InferOptions, infer
from mlpose.inference.pyfunc import input_example
from mlpose.stack import ModelServer
from mlpose.tracking import Tracker

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = base64.b64encode(input_example().image[0]).decode()  # a rendered 192x256 person


@pytest.fixture(scope="module")
def store(tmp_path_factory, empty_mlflow_store, pose_checkpoint) -> str:
    folder = tmp_path_factory.mktemp("served")
    shutil.copy(empty_mlflow_store, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("serve", artifact_location=str(folder / "artifacts"))
    tracker = Tracker.start({}, config_name="serve", experiment="serve", tracking_uri=uri)
    tracker.log_model(pose_checkpoint, "best", 8)
    tracker.register_models("serve-pose")
    tracker.finish()
    return uri


@pytest.fixture(scope="module")
def server(store):
    with ModelServer("models:/serve-pose@best", tracking_uri=store, env={"PYTHONPATH": str(REPO)}) as srv:
        yield srv


def _post(server, payload, content_type="application/json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(f"{server.url}/invocations", data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_served_keypoints_equal_mlpose_infer(server, store, tiny_data, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    dets_file = tiny_data / "annotations" / "person_detection_results_val.json"
    images = sorted((tiny_data / "images" / "val").iterdir())[:2]
    inferred = infer([str(p) for p in images], "models:/serve-pose@best",
                     InferOptions(boxes=str(dets_file), bbox_thr=0.0))["results"]
    dets = json.loads(dets_file.read_text())
    rows = [{"image": base64.b64encode(p.read_bytes()).decode(),
             "boxes": [[*d["bbox"], d["score"]] for d in dets if d["image_id"] == int(p.stem) and d["category_id"] == 1]}
            for p in images]
    status, answer = _post(server, {"dataframe_records": rows})
    assert status == 200, answer
    served = [pose for row in answer["predictions"] for pose in row["poses"]]
    assert len(served) == len(inferred) == sum(len(r["boxes"]) for r in rows) > 2
    for pose, result in zip(served, inferred):
        np.testing.assert_allclose(np.asarray(pose["keypoints"]).ravel(), result["keypoints"], atol=1e-4)
        assert pose["bbox_score"] == pytest.approx(result["score"], abs=1e-6)
        np.testing.assert_allclose(pose["bbox"], result["bbox"], atol=1e-3)


def test_rows_without_boxes_are_whole_images_and_the_split_format_works(server, tiny_data, same_poses):
    image = base64.b64encode(sorted((tiny_data / "images" / "val").iterdir())[0].read_bytes()).decode()
    status, answer = _post(server, {"dataframe_records": [{"image": image, "boxes": [[10, 10, 60, 90]]}, {"image": image}]})
    assert status == 200, answer
    assert [[p["bbox"] for p in row["poses"]] for row in answer["predictions"]] == [[[10, 10, 60, 90]], [[0, 0, 128, 128]]]
    status, split = _post(server, {"dataframe_split": {"columns": ["image"], "data": [[image]]}})
    assert status == 200
    same_poses(split["predictions"][0], answer["predictions"][1])


@pytest.mark.parametrize("payload, message", [
    ({"dataframe_records": [{"image": base64.b64encode(b"hello").decode()}]}, "row 0: image: 5 bytes that do not decode"),
    ({"dataframe_records": [{"picture": "aGVsbG8="}]}, "row 0: image: missing (it has picture)"),
    ({"dataframe_records": [{"image": EXAMPLE, "boxes": [[1, 2]]}]}, "row 0: boxes: [[1, 2]] is not a list of [x, y, w, h]"),
    ({"dataframe_records": [{"image": EXAMPLE}, {"image": EXAMPLE, "boxes": [[500, 0, 9, 9]]}]},
     "row 1: box 0 [500, 0, 9, 9] lies outside the 192x256 image"),
], ids=["not-an-image", "no-image-column", "bad-box", "box-outside"])
def test_a_bad_request_is_a_400_that_says_why(server, payload, message):
    status, answer = _post(server, payload)
    assert status == 400 and message in answer["message"], answer
    assert answer["error_code"] in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST")
