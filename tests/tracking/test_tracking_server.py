"""The tracking layer against a real `mlflow server` (PostgreSQL backend, served artifacts)."""
import uuid
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient
from mlflow.entities import ViewType

from mlpose.config import load_config
from mlpose.stack import TrackingServer, create_database, drop_database
from mlpose.tracking import Tracker, fetch_run_for_resume, resolve_checkpoint

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def server(postgres_url, tmp_path_factory):
    name = f"mlpose_tracking_{uuid.uuid4().hex[:10]}"
    db = create_database(postgres_url, name)
    try:
        with TrackingServer(db, tmp_path_factory.mktemp("artifacts")) as srv:
            yield srv
    finally:
        drop_database(postgres_url, name)


@pytest.fixture
def remote(server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    return MlflowClient(server.url)


def test_train_like_run_over_http(remote, server, tmp_path, pose_checkpoint):
    cfg = load_config("tiny")
    tracker = Tracker.start(cfg, config_file=cfg.filename, config_name=cfg.name, experiment="server-e2e")
    for step in range(1, 301):
        tracker.log_metrics({"loss": 1.0 / step, "epoch": float(step // 100)}, step)
    model = torch.nn.Conv2d(3, 2, 1)
    ckpt = tmp_path / "epoch_3.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"epoch": 3}}, ckpt)
    tracker.log_checkpoint(ckpt, "last.pth")
    tracker.log_checkpoint(ckpt, "best.pth")
    for step in (200, 300):  # the second best model supersedes the first, served artifacts included
        tracker.log_metrics({"coco/AP": step / 1000}, step)
        tracker.log_model(pose_checkpoint, "best", step, {"coco/AP": step / 1000})
    tracker.register_models("server-tiny")
    tracker.finish()

    run = remote.get_run(tracker.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["mlpose.config"] == "tiny"
    assert run.data.params["optim_wrapper.optimizer.type"] == cfg.optim_wrapper.optimizer.type
    assert [m.step for m in sorted(remote.get_metric_history(tracker.run_id, "loss"), key=lambda m: m.step)] == \
        list(range(1, 301))
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert {a.path for a in remote.list_artifacts(tracker.run_id, "checkpoints")} == \
        {"checkpoints/last.pth", "checkpoints/best.pth"}

    for ref in (f"runs:/{tracker.run_id}/checkpoints/best.pth", f"{run.info.artifact_uri}/checkpoints/last.pth"):
        got = resolve_checkpoint(ref, cache_dir=tmp_path / "cache")
        assert got.source_run_id == tracker.run_id, ref
        assert torch.load(got.path)["meta"]["epoch"] == 3
    first, second = [o.model_id for o in sorted(run.outputs.model_outputs, key=lambda o: o.step)]
    model = remote.get_logged_model(second)
    assert run.data.tags["mlpose.model.best"] == f"models:/{second}" and str(model.status) == "READY"
    assert [(m.key, m.step, m.value) for m in model.metrics] == [("coco/AP", 300, 0.3)]
    models_dir = server.artifacts_destination + model.artifact_location.split("mlflow-artifacts:", 1)[1]
    assert (Path(models_dir) / "artifacts" / "checkpoint.pth").is_file()
    assert not (Path(models_dir).parents[1] / first / "artifacts").exists()  # deleted through the server
    got = resolve_checkpoint("models:/server-tiny@best", cache_dir=tmp_path / "cache")
    assert got.source_run_id == tracker.run_id
    assert torch.load(got.path)["state"] == torch.load(pose_checkpoint)["state"]


def test_resume_from_an_empty_folder_over_http(remote, tmp_path):
    first = Tracker.start({"train_cfg": {"max_epochs": 2}}, config_name="tiny", experiment="server-resume")
    for step in range(1, 21):
        first.log_metrics({"loss": float(step)}, step)
    torch.save({"meta": {"epoch": 1}}, tmp_path / "epoch_1.pth")
    first.log_checkpoint(tmp_path / "epoch_1.pth", "last.pth")
    first.finish("KILLED")

    info = fetch_run_for_resume(first.run_id, tmp_path / "fresh")
    assert torch.load(info.checkpoint_path)["meta"]["epoch"] == 1
    again = Tracker.start(load_config(info.config_path), config_name="tiny", run_id=first.run_id)
    for step in range(11, 31):
        again.log_metrics({"loss": float(step)}, step)
    again.finish()
    steps = sorted(m.step for m in remote.get_metric_history(first.run_id, "loss"))
    assert steps == list(range(1, 31))
    exp = remote.get_experiment_by_name("server-resume").experiment_id
    assert len(remote.search_runs([exp], run_view_type=ViewType.ALL)) == 1
