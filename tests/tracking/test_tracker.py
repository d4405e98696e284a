"""Tracker against a real MLflow SQLite store: run lifecycle, params, tags, async metrics, resume."""
import os
import socket

import pytest
import torch
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.entities import Param, ViewType

from mlpose.config import load_config
from mlpose.errors import ConfigError
from mlpose.tracking import Tracker, flatten_config, resolve_tracking_uri
from mlpose.tracking.tracker import LAST_CHECKPOINT_TAG


def all_runs(client):
    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return client.search_runs(exps, run_view_type=ViewType.ACTIVE_ONLY)


def history(client, run_id, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_start_logs_config_params_artifacts_and_tags(uri, tmp_path):
    cfg = load_config("tiny")
    tracker = Tracker.start(cfg, config_file=cfg.filename, config_name=cfg.name, command=["mlpose", "train", "tiny"],
                            launcher="pytorch", world_size=2, precision="bf16")
    tracker.finish()
    client = MlflowClient(uri)
    run = client.get_run(tracker.run_id)
    expected = flatten_config(cfg.to_dict())
    assert len(expected) > 100  # more than one log_batch worth of params
    assert run.data.params == expected
    assert client.get_experiment(run.info.experiment_id).name == "tiny"  # config name by default
    tags = run.data.tags
    assert tags["mlpose.config"] == "tiny"
    assert tags["mlpose.command"] == "mlpose train tiny"
    assert (tags["mlpose.launcher"], tags["mlpose.world_size"], tags["mlpose.precision"]) == ("pytorch", "2", "bf16")
    assert tags["mlpose.host"] == socket.gethostname() and tags["mlpose.version"]
    assert len(tags["mlflow.source.git.commit"]) == 40 and tags["mlpose.git_dirty"] in ("true", "false")
    assert tags["mlpose.best_metric"] == "coco/AP"
    folder = download_artifacts(run_id=tracker.run_id, artifact_path="config", dst_path=str(tmp_path / "dl"))
    assert sorted(os.listdir(folder)) == ["resolved.py", "tiny.py"]
    assert load_config(os.path.join(folder, "resolved.py")).to_dict() == cfg.to_dict()
    assert run.info.status == "FINISHED"


def test_many_params_and_long_values(uri):
    cfg = {f"group{g}": {f"k{i}": i for i in range(g * 50, g * 50 + 50)} for g in range(5)}
    cfg["long"] = "x" * 9000
    tracker = Tracker.start(cfg, config_name="many")
    tracker.finish()
    params = MlflowClient(uri).get_run(tracker.run_id).data.params
    assert len(params) == 251
    assert params["group4.k249"] == "249"
    assert params["long"].endswith("...[truncated 3025 chars]") and len(params["long"]) == 6000


def test_tracking_uri_precedence_and_refused_file_store(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = {"tracking": {"uri": "sqlite:///from_cfg.db"}}
    assert resolve_tracking_uri({}) == f"sqlite:///{tmp_path}/mlflow.db"
    assert resolve_tracking_uri(cfg) == "sqlite:///from_cfg.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert resolve_tracking_uri(cfg) == "http://127.0.0.1:5000"
    assert resolve_tracking_uri(cfg, "sqlite:///x.db") == "sqlite:///x.db"
    assert resolve_tracking_uri({}, "postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    for bad in ("file:./mlruns", "./mlruns"):
        with pytest.raises(ConfigError, match="file store"):
            resolve_tracking_uri({}, bad)


def test_experiment_name_precedence(uri, monkeypatch):
    client = MlflowClient(uri)

    def experiment_of(**kwargs):
        tracker = Tracker.start({"tracking": {"experiment": "from_cfg"}}, config_name="cfgname", **kwargs)
        tracker.finish()
        return client.get_experiment(client.get_run(tracker.run_id).info.experiment_id).name

    assert experiment_of() == "from_cfg"
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from_env")
    assert experiment_of() == "from_env"
    assert experiment_of(experiment="from_arg") == "from_arg"


def test_attach_to_mlflow_run_gives_one_run_without_param_conflict(uri, monkeypatch):
    client = MlflowClient(uri)
    # What `mlflow run -e train -P config=tiny -P amp=true` does before starting the command.
    launched = client.create_run(client.create_experiment("launched")).info.run_id
    client.log_batch(launched, params=[Param(k, v) for k, v in dict(
        config="tiny", amp="true", work_dir="", cfg_options="", launcher="none", nproc="1", resume="").items()])
    monkeypatch.setenv("MLFLOW_RUN_ID", launched)
    cfg = load_config("tiny", ["+work_dir=work_dirs/x", "+launcher=none"])
    tracker = Tracker.start(cfg, config_file=cfg.filename, config_name="tiny", precision="fp16")
    assert tracker.run_id == launched
    assert client.get_run(launched).info.status == "RUNNING"
    tracker.finish()
    runs = all_runs(client)
    assert [r.info.run_id for r in runs] == [launched]
    run = runs[0]
    assert run.data.params["amp"] == "true" and run.data.params["work_dir"] == ""  # the launcher's values stay
    assert run.data.params["optim_wrapper.optimizer.lr"] == flatten_config(cfg.to_dict())["optim_wrapper.optimizer.lr"]
    assert '"work_dir": "work_dirs/x"' in run.data.tags["mlpose.param_conflicts"]
    assert run.data.tags["mlpose.config"] == "tiny" and run.info.status == "FINISHED"


def test_child_run_ignores_env_run_id(uri, monkeypatch):
    client = MlflowClient(uri)
    parent = Tracker.start({}, config_name="sweep")
    monkeypatch.setenv("MLFLOW_RUN_ID", parent.run_id)
    child = Tracker.start({}, config_name="sweep", parent_run_id=parent.run_id)
    assert child.run_id != parent.run_id
    child.finish()
    parent.finish()
    assert client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id


def test_async_metrics_all_arrive_with_their_steps(uri):
    tracker = Tracker.start({}, config_name="metrics")
    for step in range(1, 1201):
        tracker.log_metrics({"loss": 1.0 / step, "lr": torch.tensor(0.5), "coco/AP (M)": step / 1200.0}, step=step)
    tracker.finish()  # everything queued is written before the status is set
    client = MlflowClient(uri)
    loss = history(client, tracker.run_id, "loss")
    assert [s for s, _ in loss] == list(range(1, 1201))
    assert loss[9] == (10, pytest.approx(0.1))
    assert len(history(client, tracker.run_id, "coco/AP_M")) == 1200  # name mapped to a valid key
    assert history(client, tracker.run_id, "lr")[0] == (1, 0.5)
    assert tracker._metrics.num_metric_calls >= 4  # 3600 points need at least 4 calls of <= 1000


def test_resume_continues_histories_without_duplicates(uri):
    client = MlflowClient(uri)
    first = Tracker.start({"train_cfg": {"max_epochs": 3}}, config_name="res", command=["mlpose", "train", "res"])
    for step in range(1, 31):  # killed at step 30; its last checkpoint was at step 20
        first.log_metrics({"loss": 100.0 - step, "epoch": float((step - 1) // 10)}, step)
        if step % 10 == 0:
            first.log_metrics({"coco/AP": step / 100.0}, step)
    first.finish("KILLED")

    resumed = Tracker.start({"train_cfg": {"max_epochs": 6}}, config_name="res", run_id=first.run_id,
                            command=["mlpose", "resume", first.run_id])
    assert client.get_run(first.run_id).info.status == "RUNNING"
    for step in range(21, 61):  # the deterministic rerun from the checkpoint recomputes 21..30
        resumed.log_metrics({"loss": 100.0 - step, "epoch": float((step - 1) // 10)}, step)
        if step % 10 == 0:
            resumed.log_metrics({"coco/AP": step / 100.0}, step)
    resumed.finish()
    loss = history(client, first.run_id, "loss")
    assert loss == [(s, 100.0 - s) for s in range(1, 61)]
    assert [s for s, _ in history(client, first.run_id, "coco/AP")] == [10, 20, 30, 40, 50, 60]
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED" and len(all_runs(client)) == 1
    assert run.data.params["train_cfg.max_epochs"] == "3"  # MLflow params cannot change ...
    assert run.data.tags["mlpose.param_conflicts"] == '{"train_cfg.max_epochs": "6"}'  # ... the new value is kept
    assert run.data.tags["mlpose.command"] == "mlpose train res"
    assert run.data.tags["mlpose.resume.command"] == f"mlpose resume {first.run_id}"
    assert run.data.tags["mlpose.num_resumes"] == "1"


def test_statuses_and_error_record(uri, tmp_path):
    client = MlflowClient(uri)
    ok = Tracker.start({}, config_name="status")
    ok.finish()
    assert client.get_run(ok.run_id).info.status == "FINISHED"

    failed = Tracker.start({}, config_name="status")
    try:
        raise ValueError("bad thing\nhappened")
    except ValueError as exc:
        failed.finish("FAILED", exc)
    run = client.get_run(failed.run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["mlpose.error"] == "ValueError: bad thing happened"
    text = open(download_artifacts(run_id=failed.run_id, artifact_path="error.txt", dst_path=str(tmp_path))).read()
    assert "Traceback" in text and "test_statuses_and_error_record" in text

    with pytest.raises(KeyboardInterrupt):
        with Tracker.start({}, config_name="status") as killed:
            raise KeyboardInterrupt
    assert client.get_run(killed.run_id).info.status == "KILLED"
    killed.log_metrics({"loss": 1.0}, 1)  # ignored after finish, no error
    with pytest.raises(ValueError, match="status must be"):
        Tracker.start({}, config_name="status").finish("DONE")


def test_checkpoint_upload_keeps_content_at_call_time(uri, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    path = work / "epoch_1.pth"
    torch.save({"epoch": 1}, path)
    tracker = Tracker.start({}, config_name="ckpt")
    tracker.log_checkpoint(path, "last.pth")
    tracker.log_checkpoint(path, "best.pth")
    torch.save({"epoch": 2}, work / "tmp.pth")
    os.replace(work / "tmp.pth", path)  # the trainer's atomic save of the next checkpoint
    assert tracker.flush(uploads=True)
    tracker.finish()
    client = MlflowClient(uri)
    for name in ("last.pth", "best.pth"):
        local = download_artifacts(run_id=tracker.run_id, artifact_path=f"checkpoints/{name}", dst_path=str(tmp_path / name))
        assert torch.load(local)["epoch"] == 1
    assert client.get_run(tracker.run_id).data.tags[LAST_CHECKPOINT_TAG] == "checkpoints/last.pth"
    assert sorted(os.listdir(work)) == ["epoch_1.pth"]  # staging folders are gone


def test_checkpoint_upload_waits_for_earlier_metrics(uri, tmp_path):
    torch.save({"epoch": 1}, tmp_path / "epoch_1.pth")
    tracker = Tracker.start({}, config_name="order")
    for step in range(1, 2501):
        tracker.log_metrics({"loss": float(step)}, step)
    tracker.log_checkpoint(tmp_path / "epoch_1.pth", "last.pth")
    tracker._uploads.flush()  # the upload lane only: no metrics flush from the training side
    client = MlflowClient(uri)
    assert client.get_run(tracker.run_id).data.tags[LAST_CHECKPOINT_TAG] == "checkpoints/last.pth"
    assert len(client.get_metric_history(tracker.run_id, "loss")) == 2500  # stored before the upload
    tracker.finish()


def test_unknown_run_id_is_a_clear_error(uri):
    with pytest.raises(ConfigError, match="not found"):
        Tracker.start({}, config_name="x", run_id="0123456789abcdef0123456789abcdef")
