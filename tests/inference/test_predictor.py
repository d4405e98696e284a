"""Pose prediction on whole images: the same crops and keypoints as ``mlpose test``, boxes from a
detections file or the whole image, batching across images, and boxes that cannot be used."""
import json

import numpy as np
import pytest

from mlpose.engine import jobs
from mlpose.engine.predict import InferOptions, infer
from mlpose.errors import ConfigError
from mlpose.inference import ImageTask, PosePredictor
from mlpose.inference.sources import Detections, expand_inputs, read_frames


@pytest.fixture(scope="module")
def predictor(pose_checkpoint):
    return PosePredictor.from_checkpoint(str(pose_checkpoint))


def _val_frames(tiny_data):
    return list(read_frames(expand_inputs([str(tiny_data / "images" / "val")])))


def test_infer_with_a_detections_file_gives_mlpose_tests_keypoints(pose_checkpoint, tiny_data, tiny_opts, tmp_path,
                                                                  keypoints_agree):
    """The boxes of a bbox_file, predicted by `mlpose test` (its dataset and loader) and by `mlpose
    infer` (whole images and a detections file): the same crops, so the same keypoints."""
    dets = tiny_data / "annotations" / "person_detection_results_val.json"
    opts = tiny_opts(tiny_data, width=8, **{"+test_dataloader.dataset.bbox_file": str(dets),
                                            "tracking.enabled": False})
    jobs.test("tiny", str(pose_checkpoint), jobs.TestOptions(work_dir=str(tmp_path), cfg_options=opts,
                                                             dump=str(tmp_path / "dump.json")))
    tested = json.loads((tmp_path / "dump.json").read_text())["predictions"]
    done = infer([str(tiny_data / "images" / "val")], str(pose_checkpoint),
                 InferOptions(boxes=str(dets), bbox_thr=0.0, out=str(tmp_path / "results.json"), batch_size=8))
    results = json.loads((tmp_path / "results.json").read_text())
    assert results == done["results"] and done["images"] == 4 and done["people"] == len(tested) > 5
    by_image: dict = {}
    for pred in sorted(tested, key=lambda p: p["id"]):  # detections-file order within each image
        by_image.setdefault(pred["img_id"], []).append(pred)
    inferred: dict = {}
    for res in results:
        inferred.setdefault(res["image_id"], []).append(res)
    assert by_image.keys() == inferred.keys()
    for image_id, preds in by_image.items():
        for pred, res in zip(preds, inferred[image_id], strict=True):
            kpts = np.asarray(res["keypoints"]).reshape(-1, 3)
            keypoints_agree(kpts[:, :2], pred["keypoints"])  # pixels
            np.testing.assert_allclose(kpts[:, 2], pred["keypoint_scores"], atol=1e-4)
            assert res["score"] == pytest.approx(pred["bbox_score"], abs=1e-6)
    # the results are what `mlpose evaluate` reads
    metrics = jobs.evaluate_predictions("tiny", str(tmp_path / "results.json"), opts)
    assert 0.0 <= metrics["coco/AP"] <= 1.0


def test_detections_are_matched_by_image_id_or_file_name_and_thresholded(tmp_path, tiny_data):
    frames = _val_frames(tiny_data)
    first, second = frames[0], frames[1]
    entries = [{"image_id": first.image_id, "bbox": [1, 2, 30, 40], "score": 0.9, "category_id": 1},
               {"image_id": first.image_id, "bbox": [5, 5, 30, 40], "score": 0.1},  # below the threshold
               {"image_id": first.image_id, "bbox": [5, 5, 30, 40], "score": 0.9, "category_id": 2},  # not a person
               {"file_name": f"some/dir/{second.name.rsplit('/', 1)[-1]}", "image_id": 77, "bbox": [3, 4, 50, 60],
                "score": 0.8}]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(entries))
    dets = Detections(str(path), score_thr=0.3)
    boxes, scores, image_id = dets.boxes_for(first)
    assert boxes.tolist() == [[1, 2, 30, 40]] and scores.tolist() == pytest.approx([0.9]) and image_id == first.image_id
    boxes, scores, image_id = dets.boxes_for(second)
    assert boxes.tolist() == [[3, 4, 50, 60]] and image_id == 77  # the entry's id, matched by file name
    assert dets.boxes_for(frames[2])[0].shape == (0, 4)
    path.write_text(json.dumps([{"image_id": 1, "bbox": [1, 2, 3]}]))
    with pytest.raises(ConfigError, match=r"dets.json: entry 0 .* needs image_id .* bbox \[x, y, w, h\]") as err:
        Detections(str(path))
    assert "\n" not in str(err.value)


def test_whole_image_box_and_bad_boxes_are_skipped_with_one_line(predictor, tiny_data):
    image = _val_frames(tiny_data)[0].image
    h, w = image.shape[:2]
    whole = ImageTask("whole", image)
    bad = ImageTask("bad", image, np.array([[w + 5, 0, 10, 10], [10, 10, 0, 20], [np.nan, 1, 5, 5], [-50, -50, 60, 60]]),
                    np.array([0.9, 0.9, 0.9, 0.7]))
    (_, whole_people), (_, bad_people) = list(predictor.predict([whole, bad]))
    assert len(whole_people) == 1 and whole_people[0].bbox.tolist() == [0, 0, w, h]
    assert whole_people[0].keypoints.shape == (17, 2) and whole_people[0].bbox_score == 1.0
    assert len(bad_people) == 1 and bad_people[0].bbox.tolist() == [-50, -50, 60, 60]  # partly inside: kept
    assert bad_people[0].bbox_score == pytest.approx(0.7)
    assert [p.split(" [")[0] for p in bad.problems] == ["box 0", "box 1", "box 2"]
    assert f"lies outside the {w}x{h} image" in bad.problems[0] and "positive width" in bad.problems[1]
    assert not whole.problems


def test_crops_of_many_images_share_batches_and_come_back_in_order(predictor, tiny_data, keypoints_agree):
    dets = Detections(str(tiny_data / "annotations" / "person_detection_results_val.json"))
    tasks = [ImageTask(f.image_id, f.image, *dets.boxes_for(f)[:2]) for f in _val_frames(tiny_data)]
    tasks.insert(1, ImageTask("empty", tasks[0].image, np.zeros((0, 4))))  # no box: no people, still in order
    one = [(t.key, people) for t, people in predictor.predict(tasks, batch_size=1)]
    three = [(t.key, people) for t, people in predictor.predict(tasks, batch_size=3)]
    assert [k for k, _ in one] == [k for k, _ in three] == [t.key for t in tasks]
    assert [len(p) for _, p in one] == [len(t.boxes) for t in tasks]
    for (_, a), (_, b) in zip(one, three):
        for pa, pb in zip(a, b):
            keypoints_agree(pa.keypoints, pb.keypoints)


def test_checkpoint_without_config_needs_one(tmp_path, pose_checkpoint):
    import torch

    bare = tmp_path / "bare.pth"
    torch.save({"state_dict": torch.load(pose_checkpoint, weights_only=True)["state_dict"]}, bare)
    with pytest.raises(ConfigError, match="carries no config.*--config CONFIG"):
        PosePredictor.from_checkpoint(str(bare))
    with pytest.raises(ConfigError, match="do not fit the config's model"):
        PosePredictor.from_checkpoint(str(bare), config="tiny")  # the full-width recipe, not this model
