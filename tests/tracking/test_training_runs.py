"""Real tiny trainings tracked in a real MLflow SQLite store: what a user finds in MLflow after
``mlpose train``, a kill and ``mlpose resume RUN_ID`` elsewhere, ``mlpose test`` by ``runs:/``
URI, a 2-process DDP job, failures and interrupts, configs holding credentials, and
``mlflow run``."""
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mlflow.artifacts import download_artifacts

import mlpose
from mlpose.config import load_config
from mlpose.engine import jobs
from mlpose.errors import DataError
from mlpose.mlproject import ENTRY_POINTS
from mlpose.runtime.checkpoint_io import load_checkpoint
from mlpose.tracking import flatten_config, mlflow_key, redact, resolve_checkpoint

REPO = Path(__file__).resolve().parents[2]
EPOCHS = 3
TRAIN_SCALARS = {"loss", "loss_kpt", "acc_pose", "lr", "base_lr", "data_time", "time", "memory", "epoch"}
TIMING = {"data_time", "time", "memory"}  # differ between runs; every other metric is deterministic
SECRETS = ("s3cret-mlflow-pw", "optuna-pw-e2e")
# tracking.uri is logged but unused (MLFLOW_TRACKING_URI wins); the sweep storage is inert in training.
SECRET_OPTS = [f"tracking.uri=postgresql://mlflow:{SECRETS[0]}@db.invalid/mlflow",
               f"+sweep.storage=postgresql://optuna:{SECRETS[1]}@db.invalid/optuna"]
REGISTERED = "tiny-epe-pose"  # the reference run registers its models under this name


def history(client, run_id: str) -> dict:
    """key -> sorted [(step, value)] of every metric of the run (duplicates kept)."""
    keys = client.get_run(run_id).data.metrics
    return {k: sorted((m.step, m.value) for m in client.get_metric_history(run_id, k)) for k in keys}


def weights(path) -> dict:
    return load_checkpoint(path)["state_dict"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, epe_recipe, empty_mlflow_store, run_cli):
    """The uninterrupted `mlpose train` of EPOCHS epochs (its config carries credentials)."""
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("reference")
    (root / "mlflow.db").write_bytes(empty_mlflow_store.read_bytes())
    uri = f"sqlite:///{root / 'mlflow.db'}"
    opts = epe_recipe.options(EPOCHS) + SECRET_OPTS + [f"tracking.register_model={REGISTERED}"]
    args = ["train", epe_recipe.config, "--work-dir", "run", "--cfg-options", *opts]
    run_cli(args, root, {"MLFLOW_TRACKING_URI": uri})
    client = MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny-epe").experiment_id])
    return SimpleNamespace(root=root, uri=uri, client=client, run=run, run_id=run.info.run_id, opts=opts,
                           work=root / "run", history=history(client, run.info.run_id))


def test_train_logs_params_tags_metrics_artifacts_and_model(reference, epe_recipe, tmp_path):
    client, run, run_id = reference.client, reference.run, reference.run_id
    assert run.info.status == "FINISHED"
    cfg = load_config(epe_recipe.config, reference.opts)
    assert run.data.params == flatten_config(redact(cfg.to_dict()))
    assert run.data.params["optim_wrapper.optimizer.lr"] == "0.002"
    assert run.data.params["model.backbone.base_channels"] == "8"

    tags = run.data.tags
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert tags["mlflow.source.git.commit"] == commit and tags["mlpose.git_dirty"] in ("true", "false")
    assert tags["mlpose.config"] == "tiny-epe"
    assert f"train {epe_recipe.config} --work-dir run --cfg-options" in tags["mlpose.command"]
    assert (tags["mlpose.launcher"], tags["mlpose.world_size"], tags["mlpose.precision"]) == ("none", "1", "fp32")
    assert tags["mlpose.version"] == mlpose.__version__ and tags["mlpose.host"] == socket.gethostname()
    assert tags["mlpose.best_metric"] == "coco/EPE" and tags["mlpose.status"] == "FINISHED"

    # One step axis: the global iteration. Training scalars every 2 iterations, validation
    # metrics at each epoch's last iteration, `epoch` as its own metric.
    hist = reference.history
    last = load_checkpoint(reference.work / f"epoch_{EPOCHS}.pth")["state"]
    per_epoch = last["iteration"] // EPOCHS
    assert last["epoch"] == EPOCHS and per_epoch >= 4
    assert TRAIN_SCALARS | {"coco/AP", "coco/AR", "coco/AP_M", "coco/EPE"} <= set(hist)
    for key in TRAIN_SCALARS:
        assert [s for s, _ in hist[key]] == list(range(2, last["iteration"] + 1, 2)), key
    assert hist["epoch"] == [(s, float((s - 1) // per_epoch + 1)) for s in range(2, last["iteration"] + 1, 2)]
    assert [s for s, _ in hist["coco/AP"]] == [per_epoch * e for e in range(1, EPOCHS + 1)]
    assert len({v for _, v in hist["coco/EPE"]}) == EPOCHS  # the best epoch is well defined

    def files(path=None):
        for a in client.list_artifacts(run_id, path):
            yield from files(a.path) if a.is_dir else [a.path]

    stored = set(files())
    stamp = next(p for p in reference.work.iterdir() if p.is_dir() and p.name[:8].isdigit()).name
    assert {"config/tiny-epe.py", "config/resolved.py", "checkpoints/best.pth", "checkpoints/last.pth",
            f"logs/{stamp}.log", "logs/vis_data/scalars.json"} <= stored, stored
    assert any(p.startswith("logs/vis_data/events.out.tfevents.") for p in stored), stored
    assert load_config(download_artifacts(run_id=run_id, artifact_path="config/resolved.py",
                                          dst_path=str(tmp_path), tracking_uri=reference.uri)).to_dict() == \
        redact(cfg.to_dict())
    best_epoch = 1 + min(range(EPOCHS), key=lambda i: hist["coco/EPE"][i][1])
    for name, local in (("best", f"best_coco_EPE_epoch_{best_epoch}.pth"), ("last", f"epoch_{EPOCHS}.pth")):
        got = download_artifacts(run_id=run_id, artifact_path=f"checkpoints/{name}.pth", dst_path=str(tmp_path),
                                 tracking_uri=reference.uri)
        assert load_checkpoint(got)["state"] == load_checkpoint(reference.work / local)["state"], name



def test_best_and_last_checkpoints_are_models_with_their_step_metrics_and_aliases(reference, tmp_path):
    """The Models tab: the best and the last checkpoint, each with its step and that step's
    validation metrics, registered as @best and @last; nothing else is kept."""
    import mlflow

    from mlpose.inference import ImageTask, PosePredictor
    from mlpose.inference.pyfunc import input_example
    from mlpose.tracking.models import run_models

    client, run_id, hist = reference.client, reference.run_id, reference.history
    run = client.get_run(run_id)
    best_step = min(hist["coco/EPE"], key=lambda p: p[1])[0]
    last_step = hist["coco/EPE"][-1][0]
    models = {m.name: m for m in run_models(client, run.info.experiment_id, run_id)}
    assert set(models) == {"best", "last"} and {str(m.status) for m in models.values()} == {"READY"}
    outputs = {(o.model_id, o.step) for o in run.outputs.model_outputs}
    assert len(outputs) >= EPOCHS + 1  # a model per saved checkpoint was logged, the superseded ones deleted
    validation = [k for k in hist if k.startswith("coco/")]
    for name, step in (("best", best_step), ("last", last_step)):
        model = models[name]
        assert (model.model_id, step) in outputs and run.data.tags[f"mlpose.model.{name}"] == f"models:/{model.model_id}"
        assert {(m.key, m.step, m.value) for m in model.metrics} == {(k, step, dict(hist[k])[step]) for k in validation}
        version = client.get_model_version_by_alias(REGISTERED, name)
        assert version.source == f"models:/{model.model_id}" and version.run_id == run_id
    best_file = reference.work / f"best_coco_EPE_epoch_{best_step // (last_step // EPOCHS)}.pth"
    got = resolve_checkpoint(f"models:/{REGISTERED}@best", tmp_path / "cache", reference.uri)
    assert all(torch.equal(t, weights(best_file)[k]) for k, t in load_checkpoint(got.path)["state_dict"].items())
    # the logged model answers like the predictor of the best checkpoint file
    folder = download_artifacts(models["best"].artifact_location, dst_path=str(tmp_path / "model"))
    example = input_example()
    (answer,) = mlflow.pyfunc.load_model(folder).predict(example)
    image = cv2.imdecode(np.frombuffer(example.image[0], np.uint8), cv2.IMREAD_COLOR)
    box = np.asarray(example.boxes[0])
    ((_, people),) = PosePredictor.from_checkpoint(str(best_file)).predict([ImageTask(0, image, box[:, :4])])
    np.testing.assert_allclose(np.asarray(answer["poses"][0]["keypoints"])[:, :2], people[0].keypoints, atol=1e-4)


def test_no_credential_in_params_tags_or_artifacts(reference, tmp_path):
    run = reference.client.get_run(reference.run_id)
    assert run.data.params["tracking.uri"] == "postgresql://mlflow:***@db.invalid/mlflow"
    assert "postgresql://optuna:***@db.invalid" in run.data.tags["mlpose.command"]  # the command line, redacted
    text = " ".join([*run.data.params.values(), *run.data.tags.values()])
    files = [p for p in Path(download_artifacts(run_id=reference.run_id, dst_path=str(tmp_path / "run"),
                                                tracking_uri=reference.uri)).rglob("*") if p.is_file()]
    model = reference.client.get_logged_model(run.data.tags["mlpose.model.best"].split("/")[-1])
    folder = download_artifacts(model.artifact_location, dst_path=str(tmp_path / "model"), tracking_uri=reference.uri)
    files += [p for p in Path(folder).rglob("*") if p.is_file()]
    assert len(files) >= 10 and any(p.name == "checkpoint.pth" for p in files)
    for secret in SECRETS:
        assert secret not in text
        leaks = [str(p.relative_to(tmp_path)) for p in files if secret.encode() in p.read_bytes()]
        assert not leaks, f"{secret!r} found in {leaks}"


def test_test_by_runs_uri_gives_best_validation_metrics_and_links_the_run(reference, epe_recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # The tracking URI from the config alone: the runs:/ URI is looked up there too.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "")
    monkeypatch.setenv("MLPOSE_CACHE", str(tmp_path / "cache"))  # where runs:/ downloads go
    opts = epe_recipe.options(EPOCHS) + [f"tracking.uri={reference.uri}"]
    metrics = jobs.test(epe_recipe.config, f"runs:/{reference.run_id}/checkpoints/best.pth",
                          jobs.TestOptions(work_dir="test", cfg_options=opts))
    assert not (tmp_path / "mlflow.db").exists()
    epe = reference.history["coco/EPE"]
    best_step = min(epe, key=lambda p: p[1])[0]
    # Float noise only (this process's thread count differs from the training's); epochs differ by ~1 px.
    assert metrics["coco/EPE"] == pytest.approx(min(v for _, v in epe), rel=1e-5)
    for name, value in metrics.items():
        assert dict(reference.history[mlflow_key(name)])[best_step] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    (test_run,) = reference.client.search_runs([reference.run.info.experiment_id],
                                               f"tags.`mlpose.source_run_id` = '{reference.run_id}'")
    assert test_run.info.status == "FINISHED" and test_run.data.tags["mlpose.config"] == "tiny-epe"
    assert test_run.data.metrics["coco/EPE"] == pytest.approx(metrics["coco/EPE"])


def test_killed_then_resumed_by_run_id_elsewhere_equals_the_uninterrupted_run(
        reference, epe_recipe, tmp_path, new_store, interrupt_cli, run_cli, all_runs):
    uri, client = new_store(tmp_path / "first")
    env = {"MLFLOW_TRACKING_URI": uri, "MLPOSE_CACHE": str(tmp_path / "cache")}  # runs:/ downloads

    def checkpoint_uploaded():  # SIGKILL only once the run has something to resume from
        runs = all_runs(client)
        return bool(runs) and "mlpose.last_checkpoint" in runs[0].data.tags

    rc, out = interrupt_cli(["train", epe_recipe.config, "--work-dir", "run", "--cfg-options", *reference.opts],
                            tmp_path / "first", env, until="Epoch(train) [2][2/", sig=signal.SIGKILL,
                            ready=checkpoint_uploaded)
    assert rc == -signal.SIGKILL, out[-2000:]
    (run,) = all_runs(client)
    run_id, killed = run.info.run_id, history(client, run.info.run_id)
    assert client.get_run(run_id).info.status == "RUNNING"  # nobody could mark it
    assert max(s for s, _ in killed["loss"]) < reference.history["loss"][-1][0]

    elsewhere = tmp_path / "elsewhere"  # another machine: empty folder, same tracking server
    elsewhere.mkdir()
    # the logged config holds *** for the sweep storage's password: never trained with, asked for
    refused = run_cli(["resume", run_id], elsewhere, env, check=False)
    message = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-2000:]
    assert "sweep.storage holds a redacted secret" in message and "MLPOSE_SECRET_SWEEP_STORAGE" in message
    env["PGPASSWORD"] = SECRETS[1]  # where a postgresql:// URL's password comes from
    done = run_cli(["resume", run_id], elsewhere, env)
    assert "resumed from" in done.stdout + done.stderr
    assert [r.info.run_id for r in all_runs(client)] == [run_id]
    assert client.get_run(run_id).info.status == "FINISHED"
    resumed = history(client, run_id)
    assert set(resumed) == set(reference.history)
    for key, points in resumed.items():  # each step once, none missing, same values
        if key.startswith("system/"):  # MLflow's samples: one per interval of wall time, values vary
            continue
        steps = [s for s, _ in points]
        assert steps == [s for s, _ in reference.history[key]], key
        if key not in TIMING:
            assert points == reference.history[key], key
    final = download_artifacts(run_id=run_id, artifact_path="checkpoints/last.pth", dst_path=str(tmp_path),
                               tracking_uri=uri)
    ref = weights(reference.work / f"epoch_{EPOCHS}.pth")
    assert all(torch.equal(t, ref[k]) for k, t in weights(final).items())
    model = resolve_checkpoint(client.get_run(run_id).data.tags["mlpose.model.best"], tmp_path / "cache", uri)
    assert load_checkpoint(model.path)["state"] == \
        load_checkpoint(next(reference.work.glob("best_coco_EPE_epoch_*.pth")))["state"]
    assert client.get_model_version_by_alias(REGISTERED, "best").run_id == run_id

    # A FINISHED run resumed with more epochs continues in place.
    run_cli(["resume", run_id, "--cfg-options", f"train_cfg.max_epochs={EPOCHS + 1}"], elsewhere, env)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and len(all_runs(client)) == 1
    extended = history(client, run_id)
    per_epoch = reference.history["coco/EPE"][0][0]
    steps = [s for s, _ in extended["loss"]]
    assert steps == list(range(2, per_epoch * (EPOCHS + 1) + 1, 2))
    assert extended["loss"][:len(resumed["loss"])] == resumed["loss"]
    assert extended["epoch"][-1] == (per_epoch * (EPOCHS + 1), float(EPOCHS + 1))
    assert [s for s, _ in extended["coco/EPE"]] == [per_epoch * e for e in range(1, EPOCHS + 2)]
    assert run.data.tags["mlpose.num_resumes"] == "2"
    assert f'"train_cfg.max_epochs": "{EPOCHS + 1}"' in run.data.tags["mlpose.param_conflicts"]


def test_ddp_job_of_two_processes_is_one_run(epe_recipe, tmp_path, new_store, all_runs):
    from mlflow.entities import ViewType

    from mlpose.stack import free_port

    uri, client = new_store(tmp_path)
    opts = epe_recipe.options(1, **{"train_dataloader.batch_size": 2, "val_dataloader.batch_size": 2})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PORT": str(free_port()), "PYTHON": sys.executable,
           "MLFLOW_TRACKING_URI": uri}
    cmd = ["bash", str(REPO / "tools" / "dist_train.sh"), epe_recipe.config, "2", "--work-dir", "ddp",
           "--cfg-options", *opts]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    (run,) = all_runs(client, ViewType.ALL)
    tags = run.data.tags
    assert run.info.status == "FINISHED"
    assert (tags["mlpose.launcher"], tags["mlpose.world_size"]) == ("pytorch", "2")
    iterations = load_checkpoint(tmp_path / "ddp" / "epoch_1.pth")["state"]["iteration"]
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss")]
    assert sorted(steps) == list(range(2, iterations + 1, 2))  # rank 0's log, once
    assert [m.step for m in client.get_metric_history(run.info.run_id, "coco/EPE")] == [iterations]
    assert {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")} == \
        {"checkpoints/best.pth", "checkpoints/last.pth"}


def test_exception_during_training_ends_failed_with_the_error(epe_recipe, mlflow_env, all_runs, tmp_path):
    from mlflow import MlflowClient

    missing = {"train_dataloader.dataset.data_prefix.img": "images/missing/"}  # read at the first batch
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(DataError):
        jobs.train(epe_recipe.config, jobs.TrainOptions(work_dir="run", cfg_options=epe_recipe.options(1, **missing)))
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers  # Ctrl-C works again in the caller
    client = MlflowClient(mlflow_env)
    (run,) = all_runs(client)
    assert run.info.status == "FAILED" and run.data.tags["mlpose.status"] == "FAILED"
    assert run.data.tags["mlpose.error"].startswith("DataError: ")
    assert "cannot read the image file" in run.data.tags["mlpose.error"]
    assert "images/missing/" in run.data.tags["mlpose.error"]
    text = Path(download_artifacts(run_id=run.info.run_id, artifact_path="error.txt", dst_path=str(tmp_path),
                                   tracking_uri=mlflow_env)).read_text()
    assert text.startswith("Traceback") and "DataError" in text
    assert [a.path for a in client.list_artifacts(run.info.run_id, "logs")]  # the log still arrives


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_interrupt_ends_killed_with_exit_code_130(sig, epe_recipe, tmp_path, new_store, interrupt_cli, all_runs):
    uri, client = new_store(tmp_path)
    rc, out = interrupt_cli(["train", epe_recipe.config, "--work-dir", "run", "--cfg-options",
                             *epe_recipe.options(EPOCHS)], tmp_path, {"MLFLOW_TRACKING_URI": uri},
                            until="Epoch(train) [1][2/", sig=sig)
    assert rc == 130, out[-3000:]
    (run,) = all_runs(client)
    assert run.info.status == "KILLED" and run.data.tags["mlpose.status"] == "KILLED"
    # The step in flight finished and its checkpoint is the run's resumable latest.
    assert run.data.tags["mlpose.last_checkpoint"] == "checkpoints/last.pth"
    state = load_checkpoint(download_artifacts(run_id=run.info.run_id, artifact_path="checkpoints/last.pth",
                                               dst_path=str(tmp_path), tracking_uri=uri))["state"]
    assert state["epoch"] == 0 and 2 <= state["epoch_iter"] == state["iteration"]
    assert max(m.step for m in client.get_metric_history(run.info.run_id, "loss")) <= state["iteration"]


def test_mlflow_run_train_entry_point_is_one_finished_run(tiny_data, tiny_opts, tmp_path, new_store, all_runs):
    import time

    from mlflow.entities import ViewType

    uri, client = new_store(tmp_path)
    # Created here so its artifacts land in tmp_path, not in ./mlruns of the repository.
    client.create_experiment("mlflow-run", artifact_location=str(tmp_path / "artifacts"))
    options = " ".join(tiny_opts(tiny_data, 1))
    cmd = [sys.executable, "-m", "mlflow", "run", ".", "-e", "train", "--env-manager", "local",
           "--experiment-name", "mlflow-run", "-P", "config=tiny", "-P", f"cfg_options={options}",
           "-P", f"work_dir={tmp_path / 'work'}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # its `python`
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    deadline = time.monotonic() + 30  # a detached watcher may still be putting the job's status back
    while client.get_run(all_runs(client)[0].info.run_id).data.tags.get("mlpose.status") != "FINISHED" \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    (run,) = all_runs(client, ViewType.ALL)
    assert run.info.status == "FINISHED" and run.data.tags["mlpose.config"] == "tiny"
    assert run.data.params["config"] == "tiny" and options in run.data.params["cfg_options"]  # from mlflow run
    assert run.data.params["optim_wrapper.optimizer.lr"] == "0.002"  # from mlpose, in the same run
    # Config keys that share a name with an MLproject parameter (resume, work_dir) keep the
    # launcher's value; the config's is noted, nothing else differs.
    conflicts = json.loads(run.data.tags.get("mlpose.param_conflicts", "{}"))
    assert set(conflicts) <= set(ENTRY_POINTS["train"]), conflicts
    assert len(client.get_metric_history(run.info.run_id, "loss")) >= 2
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"checkpoints", "config", "logs"}
