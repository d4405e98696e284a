"""``mlpose infer`` as users run it: images, folders and a video in one call, bad inputs skipped with
one line each, results and pictures written; every kind of model reference gives the same answer."""
import json
import shutil

import cv2
import pytest
import torch
from mlflow import MlflowClient

from mlpose.config import resolve_config_path
from mlpose.engine.predict import InferOptions, infer
from mlpose.errors import ConfigError
from mlpose.tracking import Tracker


def test_infer_reads_images_folders_and_videos_and_skips_bad_inputs(pose_checkpoint, tiny_data, tmp_path, run_cli,
                                                                   write_video):
    val = tiny_data / "images" / "val"
    loose = tmp_path / "loose.png"
    cv2.imwrite(str(loose), cv2.imread(str(sorted(val.iterdir())[0])))
    write_video(tmp_path / "clip.avi", 5, size=(128, 96))
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    (tmp_path / "empty").mkdir()
    args = ["infer", str(val), str(loose), str(tmp_path / "clip.avi"), str(tmp_path / "broken.jpg"),
            str(tmp_path / "empty"), "--model", str(pose_checkpoint), "--every", "2", "--batch-size", "4",
            "--out", "out/results.json", "--vis-dir", "vis"]
    proc = run_cli(args, tmp_path, check=False)
    assert proc.returncode == 3, proc.stderr  # results written, but inputs were skipped
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2 and all(line.endswith("; skipped") for line in warnings)
    assert "broken.jpg is not a readable image" in warnings[0] and "has no images" in warnings[1]
    assert "infer: 8 images, 8 people" in proc.stderr and "2 inputs skipped" in proc.stderr
    assert "Traceback" not in proc.stderr
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(results) == 8  # 4 + 1 images and 3 frames (0, 2, 4), each one whole-image box
    assert [r["image_id"] for r in results[-3:]] == [2, 3, 4]  # not the only input: after loose.png's 1
    assert {r["file_name"] for r in results[:4]} == {str(p) for p in val.iterdir()}
    assert all(len(r["keypoints"]) == 51 and r["category_id"] == 1 and r["score"] == 1.0 for r in results)
    pictures = sorted(str(p.relative_to(tmp_path / "vis")) for p in (tmp_path / "vis").rglob("*.jpg"))
    assert pictures == sorted([f"{p.stem}.jpg" for p in val.iterdir()] + ["loose.jpg"] +
                              [f"clip/{i:06d}.jpg" for i in (0, 2, 4)])
    assert cv2.imread(str(tmp_path / "vis" / "loose.jpg")).shape == (128, 128, 3)


@pytest.fixture
def logged(mlflow_env, pose_checkpoint):
    """The checkpoint as a run's checkpoint file and as its registered best model."""
    tracker = Tracker.start({}, config_name="infer-uris")
    tracker.log_checkpoint(pose_checkpoint, "best.pth")
    tracker.log_model(pose_checkpoint, "best", 8)
    tracker.register_models("infer-pose")
    tracker.finish()
    return tracker.run_id, MlflowClient(mlflow_env).get_run(tracker.run_id).data.tags["mlpose.model.best"]


def test_every_kind_of_model_reference_gives_the_same_keypoints(logged, pose_checkpoint, tiny_data, tmp_path,
                                                                monkeypatch):
    run_id, model_uri = logged
    monkeypatch.setenv("MLPOSE_CACHE", str(tmp_path / "cache"))
    images = [str(tiny_data / "images" / "val")]
    opts = InferOptions(boxes=str(tiny_data / "annotations" / "person_detection_results_val.json"))
    answers = {}
    for ref in (str(pose_checkpoint), f"runs:/{run_id}/checkpoints/best.pth", "models:/infer-pose@best", model_uri):
        answers[ref] = infer(images, ref, opts)["results"]
    first = answers[str(pose_checkpoint)]
    assert len(first) > 5 and all(a == first for a in answers.values())
    with pytest.raises(ConfigError, match="models:/infer-pose@nope"):
        infer(images, "models:/infer-pose@nope", opts)


def test_a_config_given_overrides_and_no_readable_input_is_an_error(pose_checkpoint, tiny_data, tmp_path):
    image = str(sorted((tiny_data / "images" / "val").iterdir())[0])
    ckpt = tmp_path / "weights-only.pth"
    torch.save({"state_dict": torch.load(pose_checkpoint, weights_only=True)["state_dict"]}, ckpt)
    config = tmp_path / "tiny-8.py"
    config.write_text(f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n"  # the checkpoint's model
                      "model = dict(backbone=dict(base_channels=8), head=dict(in_channels=64, "
                      "deconv_out_channels=(16, 16, 8, 8)))\n")
    with_config = infer([image], str(ckpt), InferOptions(config=str(config)))["results"]
    assert with_config == infer([image], str(pose_checkpoint), InferOptions())["results"]
    shutil.copy(tmp_path / "weights-only.pth", tmp_path / "not-an-image.jpg")
    with pytest.raises(ConfigError, match="no image could be read from"):
        infer([str(tmp_path / "not-an-image.jpg")], str(pose_checkpoint), InferOptions(), warn=lambda line: None)


def test_outputs_never_replace_an_input(pose_checkpoint, tiny_data, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(tiny_data / "images" / "val", photos)
    first = sorted(photos.iterdir())[0]
    before, weights = first.read_bytes(), pose_checkpoint.read_bytes()
    for opts, message in ((InferOptions(out=str(first)), f"--out {first} is an input of this command"),
                          (InferOptions(out=str(pose_checkpoint)), "is an input of this command"),
                          (InferOptions(vis_dir=str(photos)), f"--vis-dir {photos} holds the input")):
        with pytest.raises(ConfigError, match=message):
            infer([str(photos)], str(pose_checkpoint), opts)
    assert first.read_bytes() == before and pose_checkpoint.read_bytes() == weights


def test_detections_that_match_few_or_no_inputs_are_said(pose_checkpoint, tiny_data, tmp_path):
    val = tiny_data / "images" / "val"
    first = int(sorted(val.iterdir())[0].stem)
    dets = tmp_path / "dets.json"
    dets.write_text(json.dumps([{"image_id": 7, "bbox": [1, 2, 30, 40], "score": 0.9}]))
    with pytest.raises(ConfigError, match=r"--boxes .*dets.json: no input matched its detections \(image_id 7\)"):
        infer([str(val)], str(pose_checkpoint), InferOptions(boxes=str(dets)), warn=lambda line: None)
    dets.write_text(json.dumps([{"image_id": 7, "bbox": [1, 2, 30, 40], "score": 0.9},
                                {"image_id": first, "bbox": [1, 2, 30, 40], "score": 0.9},
                                {"image_id": first, "bbox": [500, 2, 30, 40], "score": 0.9}]))  # outside the image
    warnings: list[str] = []
    done = infer([str(val)], str(pose_checkpoint), InferOptions(boxes=str(dets)), warn=warnings.append)
    assert warnings[0].endswith("box 1 [500, 2, 30, 40] lies outside the 128x128 image; skipped")
    assert warnings[1].endswith("detections matched 1 of 4 images; 1 of its images match no input (image_id 7); "
                                "the other images get 0 people")
    assert done["people"] == 1 and done["exit_code"] == 3 and "detections for 1 of 4 images" in done["summary"]
    assert "1 boxes skipped" in done["summary"]


@pytest.mark.parametrize("native", [False, True])
def test_amp_on_a_cpu_without_native_bf16_is_said(pose_checkpoint, tiny_data, tmp_path, monkeypatch, native):
    monkeypatch.setattr("mlpose.runtime.launch.cpu_has_native_bf16", lambda: native)
    warnings: list[str] = []
    infer([str(sorted((tiny_data / "images" / "val").iterdir())[0])], str(pose_checkpoint),
          InferOptions(amp=True, out=str(tmp_path / "out.json")), warn=warnings.append)
    assert any("no bfloat16 kernels" in w for w in warnings) is (not native)
