"""Every bad input gets one line (issue 15): one row per case, each running the real CLI and
checking the exit code, a single ``error:`` line without a traceback, and what must survive."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

WIDTH8 = {"model.backbone.base_channels": 8, "model.head.in_channels": 64,
          "model.head.deconv_out_channels": "(16,16,8,8)"}


def error_line(proc, code: int = 2) -> str:
    """The one ``error:`` line of a failed command (and nothing like a traceback anywhere)."""
    text = proc.stdout + proc.stderr
    assert proc.returncode == code, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr[-3000:]
    return errors[0]


@pytest.fixture
def data(tiny_data, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(tiny_data, root)
    return root


def _only_run(uri: str):
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return run


# ---- data errors: train with a bad image, workers off and on; the run FAILS with that line
SLOW = pytest.mark.slow  # the rows that train: 30-45 s each on 2 shared cores; their unit tests run in CI


@pytest.mark.parametrize("kind, workers", [pytest.param("empty", 0, marks=SLOW), ("not an image", 2),
                                           pytest.param("missing", 0, marks=SLOW), pytest.param("missing", 2, marks=SLOW)])
def test_bad_image_file(kind, workers, data, tiny_opts, run_cli, mlflow_env, tmp_path):
    image = data / "images/train/000000000003.jpg"
    if kind == "missing":
        image.unlink()
    else:
        image.write_bytes({"empty": b"", "not an image": b"<html>not a picture</html>"}[kind])
    opts = tiny_opts(data, 1, width=8, **{"train_dataloader.num_workers": workers})
    line = error_line(run_cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *opts], tmp_path, check=False))
    assert str(image) in line and "image id 3" in line and "annotation id" in line
    run = _only_run(mlflow_env)
    assert run.info.status == "FAILED"
    assert run.data.tags["mlpose.error"] == "DataError: " + line.removeprefix("error: ")


@SLOW
def test_skip_bad_images_trains_on_and_counts(data, tiny_opts, run_cli, mlflow_env, tmp_path):
    (data / "images/train/000000000003.jpg").write_bytes(b"")
    opts = tiny_opts(data, 1, width=8, **{"data_cfg.skip_bad_images": True})
    proc = run_cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *opts], tmp_path)
    assert proc.stdout.count("skipped a bad image") == 1 and "1 bad image file(s) skipped" in proc.stdout
    from mlflow import MlflowClient

    run = _only_run(mlflow_env)
    assert run.info.status == "FINISHED"
    history = MlflowClient(mlflow_env).get_metric_history(run.info.run_id, "data/skipped_images")
    assert [m.value for m in history] == [1.0]


# ---- a checkpoint of another architecture, for test, --resume and load_from
@pytest.fixture(scope="module")
def res50_checkpoint(tmp_path_factory):
    import torch

    from mlpose.config import load_config
    from mlpose.registry import MODELS, build

    path = tmp_path_factory.mktemp("res50") / "res50.pth"
    torch.save({"model": build(load_config("res50").model, MODELS, "model").state_dict()}, path)
    return path


@pytest.mark.parametrize("use", ["test", pytest.param("resume", marks=SLOW), pytest.param("load_from", marks=SLOW)])
def test_checkpoint_of_another_architecture(use, res50_checkpoint, tiny_data, tiny_opts, run_cli, mlflow_env,
                                            tmp_path):
    opts = tiny_opts(tiny_data, 1)
    args = {"test": ["test", "tiny", str(res50_checkpoint)],
            "resume": ["train", "tiny", "--resume", str(res50_checkpoint)],
            "load_from": ["train", "tiny", f"--cfg-options=load_from={res50_checkpoint}"]}[use]
    line = error_line(run_cli([*args, "--work-dir", "run", "--cfg-options", *opts], tmp_path, check=False))
    assert str(res50_checkpoint) in line and "tensors differ in shape" in line
    assert "backbone.conv1.weight [64,3,7,7] in the file vs [16,3,7,7] in the model" in line
    assert "backbone depth 50 in the file vs 18 (model.backbone.depth)" in line and len(line) < 900


# ---- a full disk during a checkpoint save: previous checkpoint intact, no temporary file
@pytest.fixture
def small_disk(tmpfs):
    return tmpfs("3m")


@SLOW
def test_full_disk_during_checkpoint_save(pose_checkpoint, tiny_data, tiny_opts, run_cli, mlflow_env, small_disk,
                                          tmp_path):
    from mlpose.runtime.checkpoint_io import load_checkpoint

    previous = small_disk / "epoch_2.pth"
    shutil.copy(pose_checkpoint, previous)
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - previous.stat().st_size // 2))  # room for logs only
    opts = tiny_opts(tiny_data, 3, width=8)
    line = error_line(run_cli(["train", "tiny", "--work-dir", str(small_disk), "--resume", str(previous),
                               "--cfg-options", *opts], tmp_path, check=False))
    assert line.startswith("error: no space left on tmpfs (mounted at ") and "epoch_3.pth (needs ~" in line
    assert load_checkpoint(previous)["state"]["epoch"] == 2
    assert not [p.name for p in small_disk.iterdir() if p.name.endswith(".tmp")]
    assert _only_run(mlflow_env).info.status == "FAILED"


# ---- nothing to train / no validation / no people in the validation set
@pytest.mark.parametrize("option", ["train_dataloader.batch_size=-4", "train_cfg.max_epochs=-1", "train_cfg.max_epochs=0"])
def test_nothing_to_train_is_an_error_at_load(option, run_cli, tmp_path):
    line = error_line(run_cli(["train", "tiny", "--cfg-options", option], tmp_path, check=False))
    assert f"{option.split('=')[0]}={option.split('=')[1]} is out of range" in line and "tiny.py" in line


@SLOW
def test_no_validate_says_so(tiny_data, tiny_opts, run_cli, mlflow_env, tmp_path):
    proc = run_cli(["train", "tiny", "--no-validate", "--work-dir", "run", "--cfg-options",
                    *tiny_opts(tiny_data, 1, width=8)], tmp_path)
    (finished,) = [line for line in proc.stdout.splitlines() if "finished:" in line]
    assert finished.rstrip().endswith("(validation was off: --no-validate or no val_dataloader)")


def test_validation_set_without_people(data, tiny_opts, run_cli, mlflow_env, tmp_path):
    ann = data / "annotations" / "person_keypoints_val.json"
    coco = json.loads(ann.read_text())
    ann.write_text(json.dumps({**coco, "annotations": []}))
    line = error_line(run_cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *tiny_opts(data, 1, width=8)],
                              tmp_path, check=False))
    assert line.startswith(f"error: {ann}: val_dataloader has no people")
    assert not list((tmp_path / "run").glob("*.pth"))  # it stopped before the first epoch


# ---- mlpose data synth
@pytest.fixture
def read_only_dir(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() == 0:  # root writes through permission bits: a read-only mount instead
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip("root without mount rights: cannot make a read-only folder")
        yield folder
        subprocess.run(["umount", str(folder)], check=False)
    else:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)


def test_synth_into_a_read_only_folder(read_only_dir, run_cli, tmp_path):
    line = error_line(run_cli(["data", "synth", str(read_only_dir / "d"), "--num-train", "2", "--num-val", "1"],
                              tmp_path, check=False))
    assert f"cannot write {read_only_dir / 'd'}" in line and ("Read-only file system" in line or "Permission" in line)


def test_synth_says_what_it_wrote(run_cli, tmp_path):
    proc = run_cli(["data", "synth", "d", "--num-train", "2", "--num-val", "1", "--image-size", "64x64"], tmp_path)
    assert "wrote 2 train images" in proc.stdout and "1 val images" in proc.stdout and " s (" in proc.stdout
    assert str(Path("d") / "annotations" / "person_keypoints_train.json") in proc.stdout


# ---- config files and --cfg-options
@pytest.fixture
def typo_config(tmp_path):
    from mlpose.config import resolve_config_path

    path = tmp_path / "typo.py"
    path.write_text(f"_base_ = [{str(resolve_config_path('tiny').resolve())!r}]\ntrian_cfg = dict(max_epochs=1)\n")
    return path


def test_misspelt_section_warns_and_strict_fails(typo_config, run_cli, tmp_path):
    shown = run_cli(["config", "show", str(typo_config)], tmp_path)
    assert "'trian_cfg' is not a known section; did you mean 'train_cfg'?" in shown.stderr
    line = error_line(run_cli(["train", str(typo_config), "--strict"], tmp_path, check=False))
    assert "trian_cfg" in line and "did you mean 'train_cfg'" in line


def test_cfg_options_with_spaces_in_brackets_and_constructor_arguments(run_cli, tmp_path):
    proc = run_cli(["config", "show", "tiny", "--format", "json", "--cfg-options",
                    "+custom=[(a,b), [1,2], false] test_evaluator.nms_mode=none"], tmp_path)
    cfg = json.loads(proc.stdout)
    assert cfg["custom"] == [["a", "b"], [1, 2], False] and cfg["test_evaluator"]["nms_mode"] == "none"
    line = error_line(run_cli(["config", "show", "tiny", "--cfg-options", "test_evaluator.nms_mod=none"], tmp_path,
                              check=False))
    assert "closest existing keys: test_evaluator.nms_mode" in line


def test_sweep_override_it_would_replace(run_cli, tmp_path):
    line = error_line(run_cli(["sweep", "tiny-sweep", "--cfg-options", "train_cfg.max_epochs=1"], tmp_path, check=False))
    assert "sweep.max_epochs=10" in line and "use --cfg-options sweep.max_epochs=1 instead" in line


# ---- credentials in the tracking URI (a server that accepts them: tests/tracking/test_credentials.py)
def test_password_in_an_unreachable_tracking_uri_is_never_shown(tiny_data, tiny_opts, run_cli, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    password = f"pw-{uuid.uuid4().hex}"
    proc = run_cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *tiny_opts(tiny_data, 1, width=8)],
                   tmp_path, env={"MLFLOW_TRACKING_URI": f"http://alice:{password}@127.0.0.1:{port}"}, check=False)
    line = error_line(proc)
    assert f"cannot reach tracking server at http://127.0.0.1:{port} " in line
    assert password not in proc.stdout + proc.stderr and "Name or service not known" not in line


# ---- issue 20 (part B): outputs never replace an input; infer, evaluate, --cfg-options quoting, the served model
def test_export_into_its_own_checkpoint_is_refused_and_the_checkpoint_survives(pose_checkpoint, run_cli, tmp_path):
    import torch

    ckpt = tmp_path / "best.pth"
    shutil.copy(pose_checkpoint, ckpt)
    before = ckpt.read_bytes()
    line = error_line(run_cli(["export", "best.pth", "--format", "onnx", "--out", "best.pth"], tmp_path, check=False))
    assert line == "error: --out best.pth is an input of this command; writing it would destroy the input: choose " \
                   "another file"
    assert ckpt.read_bytes() == before and "state_dict" in torch.load(ckpt, weights_only=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pth"]  # no temporary file left


def test_export_into_a_read_only_folder(pose_checkpoint, read_only_dir, run_cli, tmp_path):
    out = read_only_dir / "pose.onnx"
    line = error_line(run_cli(["export", str(pose_checkpoint), "--format", "onnx", "--out", str(out)], tmp_path,
                              check=False))
    assert line.startswith(f"error: --out {out}: cannot write there (") and "choose a folder you can write to" in line
    assert "Read-only file system" in line or "Permission denied" in line


def test_infer_skips_an_empty_image_of_a_folder_and_gives_unique_ids(pose_checkpoint, tiny_data, run_cli, tmp_path):
    photos = tmp_path / "photos"
    shutil.copytree(tiny_data / "images" / "val", photos)
    (photos / "000000000000.jpg").write_bytes(b"")  # first in the folder: it used to abort the whole folder
    for name in ("2.jpg", "a.jpg"):
        shutil.copy(next((tiny_data / "images" / "val").iterdir()), photos / name)
    proc = run_cli(["infer", "photos", "--model", str(pose_checkpoint), "--out", "results.json"], tmp_path, check=False)
    assert proc.returncode == 3 and "Traceback" not in proc.stderr, proc.stderr[-3000:]  # 3: written, something skipped
    warnings = [line for line in proc.stderr.splitlines() if line.startswith(("warning:", "error:"))]
    assert warnings == [f"warning: image {Path('photos', '000000000000.jpg')} is empty (0 bytes); skipped"]
    results = json.loads((tmp_path / "results.json").read_text())
    ids = {Path(r["file_name"]).name: r["image_id"] for r in results}
    assert len(ids) == 6 and len(set(ids.values())) == 6 and ids["2.jpg"] == 2 and ids["a.jpg"] == 1


def test_infer_boxes_that_match_no_input_are_an_error(pose_checkpoint, tiny_data, run_cli, tmp_path):
    (tmp_path / "dets.json").write_text(json.dumps([{"image_id": 397133, "bbox": [1, 2, 30, 40], "score": 0.9}]))
    line = error_line(run_cli(["infer", str(tiny_data / "images" / "val"), "--model", str(pose_checkpoint),
                               "--boxes", "dets.json", "--out", "results.json"], tmp_path, check=False))
    assert line.startswith("error: --boxes dets.json: no input matched its detections (image_id 397133); give the "
                           "entries a file_name")
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("entries, entry, message", [
    (lambda r: [{**r, "keypoints": r["keypoints"][:-3]}] * 2, 0,
     "has 16 keypoints but the evaluated layout (coco) has 17; evaluate with the config of the model that made them"),
    (lambda r: [r, {**r, "image_id": 99}], 1, "has image_id 99, which is not in "),
], ids=["keypoint-count", "unknown-image"])
def test_evaluate_predictions_of_another_layout_or_other_images(entries, entry, message, tiny_data, run_cli,
                                                                mlflow_env, tmp_path):
    gt = tiny_data / "annotations" / "person_keypoints_val.json"
    image_id = json.loads(gt.read_text())["images"][0]["id"]
    good = {"image_id": image_id, "category_id": 1, "keypoints": [10.0, 20.0, 0.9] * 17, "score": 1.0}
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps(entries(good)))
    line = error_line(run_cli(["evaluate", "preds.json", "--ann-file", str(gt), "tiny"], tmp_path, check=False))
    assert line.startswith(f"error: preds.json: entry {entry} ") and message in line
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_env)
    assert not client.search_runs([e.experiment_id for e in client.search_experiments()])  # refused before a run


def test_quoted_cfg_options_keep_spaces_and_commas(run_cli, tmp_path):
    proc = run_cli(["config", "show", "tiny", "--format", "json", "--cfg-options", "data_root=/data/my set/",
                    "+tags='a,b' +names=['my file', \"c,d\"]"], tmp_path)  # the first: what a shell leaves of '...'
    cfg = json.loads(proc.stdout)
    assert (cfg["data_root"], cfg["tags"], cfg["names"]) == ("/data/my set/", "a,b", ["my file", "c,d"])


@pytest.fixture(scope="module")
def pose_server(tmp_path_factory, empty_mlflow_store, pose_checkpoint):
    """One ``mlflow models serve`` of the tiny checkpoint for the served-model rows."""
    from mlflow import MlflowClient

    from mlpose.stack import ModelServer
    from mlpose.tracking import Tracker

    folder = tmp_path_factory.mktemp("bad-requests")
    shutil.copy(empty_mlflow_store, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    MlflowClient(uri).create_experiment("serve", artifact_location=str(folder / "artifacts"))
    tracker = Tracker.start({}, config_name="serve", experiment="serve", tracking_uri=uri)
    tracker.log_model(pose_checkpoint, "best", 8)
    tracker.register_models("bad-requests")
    tracker.finish()
    repo = Path(__file__).resolve().parents[1]
    with ModelServer("models:/bad-requests@best", tracking_uri=uri, env={"PYTHONPATH": str(repo)}) as server:
        yield server


def _image_text() -> str:
    import base64

    from mlpose.inference.pyfunc import input_example

    return base64.b64encode(input_example().image[0]).decode()


@pytest.mark.parametrize("body, content_type, status, expected", [
    (lambda img: {"dataframe_records": [{"image": img}, {"image": "not base64!"}]}, "application/json", 400,
     "row 1: image: 11 characters that are not base64"),
    (lambda img: {"dataframe_records": []}, "application/json", 200, []),  # no rows, no answers
    (lambda img: f"image,boxes\n{img},\"[[10, 20, 100, 150]]\"\n", "text/csv", 200, [1]),
    (lambda img: "image\nnot-an-image\n", "text/csv", 400, "row 0: image: 12 characters that are not base64"),
], ids=["not-base64-row", "no-rows", "csv", "csv-bad-row"])
def test_the_served_model_names_the_row_and_field_and_never_sends_a_trace(body, content_type, status, expected,
                                                                          pose_server):
    import urllib.error
    import urllib.request

    payload = body(_image_text())
    data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
    request = urllib.request.Request(f"{pose_server.url}/invocations", data=data,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            got, answer = response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        got, answer = err.code, json.loads(err.read())
    assert got == status, answer
    assert "stack_trace" not in answer and "Traceback" not in json.dumps(answer)
    if status == 400:
        assert expected in answer["message"] and answer["error_code"] == "INVALID_PARAMETER_VALUE"
    else:
        assert [len(p["poses"]) for p in answer["predictions"]] == expected


# ---- issue 20/21: checkpoint files
@pytest.mark.parametrize("kind", ["json", "folder"])
def test_load_from_a_json_file_or_a_folder_is_one_line(kind, run_cli, tmp_path):
    path = tmp_path / ("results.json" if kind == "json" else "work_dirs")
    if kind == "json":
        path.write_text(json.dumps({"coco/AP": 0.7}))
    else:
        path.mkdir()
        (path / "epoch_3.pth").write_bytes(b"")
    line = error_line(run_cli(["train", "tiny", "--cfg-options", f"load_from={path}"], tmp_path, check=False))
    assert line == {"json": f"error: load_from: checkpoint '{path}' is a JSON file, not a PyTorch checkpoint; give a "
                            ".pth file written by torch.save (mlpose, MMPose or MMEngine)",
                    "folder": f"error: load_from: checkpoint '{path}' is a folder, not a file; name the checkpoint "
                              "file in it (it holds epoch_3.pth)"}[kind]


# ---- issue 20 (part A): one job per work dir, data files checked at load, runs named and continued, folders
#      that cannot be made, and what a run prints
def _runs(uri: str) -> list:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_a_second_training_in_a_work_dir_is_refused_naming_the_first(tiny_data, tiny_opts, run_cli, mlflow_env,
                                                                     tmp_path):
    from mlpose.runtime.worklock import lock_work_dir

    lock = lock_work_dir(tmp_path / "run", ["mlpose", "train", "tiny", "--work-dir", "run"])  # this process: the first job
    try:
        lock.note(run_id="0123abcd")
        before = sorted(p.name for p in (tmp_path / "run").iterdir())
        line = error_line(run_cli(["train", "tiny", "--work-dir", "run", "--resume", "--cfg-options",
                                   *tiny_opts(tiny_data, 1, width=8)], tmp_path, check=False))
        assert line.startswith("error: work dir run is in use by another job: pid ") and f"pid {os.getpid()} on " in line
        assert "(`mlpose train tiny --work-dir run`)" in line and "MLflow run 0123abcd" in line
        assert sorted(p.name for p in (tmp_path / "run").iterdir()) == before  # no log folder, no checkpoint
        assert not _runs(mlflow_env)
    finally:
        lock.release()


def test_sync_of_a_work_dir_a_job_holds_is_refused_naming_the_job(run_cli, tmp_path):
    """The training there sends its own backlog: a sync beside it would send it a second time."""
    from mlpose.runtime.worklock import lock_work_dir

    lock = lock_work_dir(tmp_path / "run", ["mlpose", "train", "tiny", "--work-dir", "run"])
    try:
        line = error_line(run_cli(["sync", "run"], tmp_path, check=False))
        assert line.startswith("error: work dir run is in use by another job: pid ") and "mlpose train tiny" in line
    finally:
        lock.release()
    assert run_cli(["sync", "run"], tmp_path).stdout.strip() == "nothing pending in run"  # free again


def test_synth_into_a_dataset_is_refused_unless_overwrite(run_cli, tmp_path):
    from mlpose.datasets.synth import generate

    generate(tmp_path / "d", num_train=2, num_val=1, image_size=(64, 64), progress=False)  # the user's dataset
    ann, image = tmp_path / "d/annotations/person_keypoints_train.json", tmp_path / "d/images/train/000000000001.jpg"
    kept = ann.read_bytes(), image.read_bytes()
    line = error_line(run_cli(["data", "synth", "d", "--num-train", "2", "--num-val", "1", "--seed", "1"], tmp_path,
                              check=False))
    assert line.startswith("error: synth: d already holds a dataset (d/annotations/person_keypoints_train.json")
    assert "--overwrite" in line and (ann.read_bytes(), image.read_bytes()) == kept  # --overwrite: test_synth.py


def _dup_image(coco):
    coco["images"].append(dict(coco["images"][1], file_name=coco["images"][0]["file_name"]))
    return f"image id {coco['images'][1]['id']} appears 2 times in 'images'"


def _dup_ann(coco):
    coco["annotations"].append(dict(coco["annotations"][0]))
    return f"annotation id {coco['annotations'][0]['id']} appears 2 times"


def _labelled(coco):
    return next(a for a in coco["annotations"] if a["num_keypoints"] > 0 and not a["iscrowd"])


def _stray(coco):
    coco["annotations"].append(dict(_labelled(coco), id=4242, image_id=999))
    return "annotation id 4242 (image id 999): image_id 999 is not in 'images'"


def _nan(coco):
    ann = _labelled(coco)
    ann["keypoints"][3] = float("nan")  # was: FloatingPointError "training loss is nan ... lower the learning rate"
    return f"annotation id {ann['id']} (image id {ann['image_id']}): keypoints hold nan at position 3"


def _box(coco):
    ann = _labelled(coco)
    ann["bbox"][2] = -ann["bbox"][2]
    return f"annotation id {ann['id']} (image id {ann['image_id']}): bbox ["


@pytest.mark.parametrize("spoil", [_dup_image, _nan, *(pytest.param(f, marks=SLOW) for f in (_dup_ann, _stray, _box))])
def test_a_bad_annotation_file_is_one_line_at_load(spoil, data, tiny_opts, run_cli, mlflow_env, tmp_path):
    ann = data / "annotations" / "person_keypoints_train.json"
    coco = json.loads(ann.read_text())
    expected = spoil(coco)
    ann.write_text(json.dumps(coco))
    line = error_line(run_cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *tiny_opts(data, 1, width=8)],
                              tmp_path, check=False))
    assert line.startswith(f"error: {ann}: ") and expected in line
    assert not (tmp_path / "run").exists() and not _runs(mlflow_env)  # nothing ran: no run, no folder


def test_the_evaluators_own_ground_truth_file_is_checked(data, tiny_opts, run_cli, mlflow_env, tmp_path):
    gt = data / "annotations" / "gt_copy.json"
    coco = json.loads((data / "annotations" / "person_keypoints_val.json").read_text())
    expected = _dup_ann(coco)  # perfect predictions would score AP 0.9505, not 1.0
    gt.write_text(json.dumps(coco))
    opts = tiny_opts(data, 1, width=8, **{"val_evaluator.ann_file": str(gt)})
    line = error_line(run_cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *opts], tmp_path, check=False))
    assert line.startswith(f"error: {gt}: {expected}")
    assert not (tmp_path / "run").exists() and not _runs(mlflow_env)


def test_killed_twice_before_the_first_checkpoint_then_resumed_is_one_finished_run(
        tiny_data, tiny_opts, run_cli, interrupt_cli, mlflow_env, tmp_path):
    import signal

    from mlflow import MlflowClient

    train = ["train", "tiny", "--work-dir", "run", "--cfg-options", *tiny_opts(tiny_data, 1, width=8)]
    resume = [*train[:4], "--resume", *train[4:]]
    for args in (train, resume):  # SIGKILL once the run exists, long before epoch 1's checkpoint
        rc, out = interrupt_cli(args, tmp_path, {}, until="| MLflow run ", sig=signal.SIGKILL)
        assert rc == -signal.SIGKILL and not list((tmp_path / "run").glob("*.pth")), out[-2000:]
    done = run_cli(resume, tmp_path)
    (run,) = _runs(mlflow_env)
    assert run.info.status == "FINISHED" and run.info.run_name == "tiny-1"
    steps = [m.step for m in MlflowClient(mlflow_env).get_metric_history(run.info.run_id, "loss")]
    assert steps and steps == sorted(set(steps))  # each step once
    assert f"continuing MLflow run {run.info.run_id}" in done.stdout
    # what a user sees: mlpose's summary last, MLflow's INFO lines only in the log file
    assert done.stdout.splitlines()[-1].split(" - INFO - ")[1].startswith("work dir run: checkpoints; ")
    assert " INFO mlflow" not in done.stdout + done.stderr and not done.stderr.strip()
    assert "Successfully terminated system metrics" in sorted((tmp_path / "run").glob("*/*.log"))[-1].read_text()


def test_test_runs_beside_a_training_and_names_its_run(pose_checkpoint, tiny_data, tiny_opts, run_cli, mlflow_env,
                                                      tmp_path):
    from mlpose.runtime.worklock import lock_work_dir

    lock = lock_work_dir(tmp_path / "run", ["mlpose", "train", "tiny"])  # a training holds the work dir
    try:
        out = run_cli(["test", "tiny", str(pose_checkpoint), "--work-dir", "run", "--cfg-options",
                       *tiny_opts(tiny_data, 1, width=8)], tmp_path).stdout.splitlines()
    finally:
        lock.release()
    (run,) = _runs(mlflow_env)
    assert run.info.run_name == "tiny-test-1" and any("running beside it" in line for line in out)
    assert f"MLflow run {run.info.run_id}: mlflow ui" in out[-2] and " - INFO - log: run/" in out[-1]


def test_ctrl_c_says_where_the_checkpoint_is_and_how_to_resume(tiny_data, tiny_opts, interrupt_cli, mlflow_env,
                                                                tmp_path):
    import shlex
    import signal

    train = ["train", "tiny", "--work-dir", "run", "--cfg-options", *tiny_opts(tiny_data, 1, width=8)]
    rc, out = interrupt_cli(train, tmp_path, {}, until="Epoch(train) [1][2/", sig=signal.SIGINT)
    assert rc == 130, out[-2000:]
    where, how = [line.split(" - WARNING - ")[1] for line in out.strip().splitlines()[-2:]]
    (checkpoint,) = (tmp_path / "run").glob("iter_*.pth")
    assert where == f"stopped: the latest checkpoint is {checkpoint}"
    assert how.startswith("to continue in the same MLflow run: mlpose train tiny --work-dir run --cfg-options ")
    assert shlex.split(how.split(": ", 1)[1])[1:] == [*train, "--resume"]


def test_evaluate_without_a_config_names_its_run_and_experiment(tiny_data, run_cli, mlflow_env, tmp_path):
    gt = tiny_data / "annotations" / "person_keypoints_val.json"
    perfect = [dict(image_id=a["image_id"], category_id=1, score=1.0, bbox=a["bbox"],
                    keypoints=[v if i % 3 < 2 else 1.0 for i, v in enumerate(a["keypoints"])])
               for a in json.loads(gt.read_text())["annotations"] if a["num_keypoints"]]
    (tmp_path / "perfect.json").write_text(json.dumps(perfect))
    out = run_cli(["evaluate", "perfect.json", "--ann-file", str(gt)], tmp_path).stdout.splitlines()
    (run,) = _runs(mlflow_env)
    from mlflow import MlflowClient

    assert MlflowClient(mlflow_env).get_experiment(run.info.experiment_id).name == "evaluate"
    assert run.info.run_name == "evaluate-1" and run.data.metrics["coco/AP"] == 1.0
    assert f"MLflow run {run.info.run_id}: " in out[-2] and out[-1].endswith("log: work_dirs/evaluate/" +
                                                                               out[-1].rsplit("/", 1)[1])


@pytest.mark.parametrize("where", ["work dir below a file", "store in a read-only folder",
                                   pytest.param("show dir below a file", marks=SLOW)])
def test_a_folder_that_cannot_be_made_is_one_line(where, tiny_data, tiny_opts, run_cli, mlflow_env, read_only_dir,
                                                  tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    args, env = ["train", "tiny", "--work-dir", "run"], {}
    expected = {"work dir below a file": "cannot create the work dir afile/run: afile is a file, not a folder",
                "store in a read-only folder": f"tracking store sqlite:///{read_only_dir}/mlflow.db: {read_only_dir} "
                                               "is not writable",
                "show dir below a file": f"cannot write the --show-dir folder {tmp_path}/afile/pics: "
                                         f"{tmp_path}/afile is a file, not a folder"}[where]
    if where == "work dir below a file":
        args[-1] = "afile/run"
    elif where == "store in a read-only folder":
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{read_only_dir}/mlflow.db"
    else:
        args += ["--show-dir", str(tmp_path / "afile" / "pics")]
    line = error_line(run_cli([*args, "--cfg-options", *tiny_opts(tiny_data, 1, width=8)], tmp_path, env=env,
                              check=False))
    assert line.startswith(f"error: {expected}")
    assert not (tmp_path / "run").exists() and not _runs(mlflow_env)
