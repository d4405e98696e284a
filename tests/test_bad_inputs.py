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
    assert ckpt.read_bytes() == before and "model" in torch.load(ckpt, weights_only=True)
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
