"""A run that ends while its tracking server is away finishes locally; ``mlpose sync WORK_DIR``
sends what is pending once the server is back and ends the run with the job's status."""
import shutil

import torch
from mlflow import MlflowClient

from mlpose.stack.server import TrackingServer, free_port
from mlpose.tracking import Tracker
from mlpose.tracking.journal import journal_dir


def test_run_ended_during_an_outage_is_completed_by_sync(tmp_path, monkeypatch, empty_mlflow_store, run_cli, caplog,
                                                     kill_server):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(empty_mlflow_store, store / "mlflow.db")
    backend, artifacts, port = f"sqlite:///{store / 'mlflow.db'}", store / "artifacts", free_port()
    server = TrackingServer(backend, artifacts, port=port).start()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    work = tmp_path / "work"
    tracker = Tracker.start({"train_cfg": {"max_epochs": 1}}, config_name="tiny", experiment="sync",
                            journal_dir=journal_dir(work))
    for step in range(1, 11):
        tracker.log_metrics({"loss": 1.0 / step}, step)
    assert tracker.flush(timeout=60)
    kill_server(server)
    try:
        for step in range(11, 31):  # logged while the server is away
            tracker.log_metrics({"loss": 1.0 / step}, step)
        work.mkdir(exist_ok=True)
        ckpt = work / "epoch_1.pth"
        torch.save({"meta": {"run_id": tracker.run_id}}, ckpt)
        tracker.log_checkpoint(ckpt, "last.pth")
        tracker.finish("FINISHED", timeout=2)  # bounded: returns although nothing could be sent
        assert "are pending in" in caplog.text and f"mlpose sync {work}" in caplog.text

        refused = run_cli(["sync", str(work)], tmp_path, {"MLFLOW_TRACKING_URI": server.url}, check=False)
        assert refused.returncode == 2 and "cannot reach tracking server" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    finally:
        server = TrackingServer(backend, artifacts, port=port).start()  # same port, same store
    try:
        store_client = MlflowClient(backend)
        assert store_client.get_run(tracker.run_id).info.status == "RUNNING"  # not ended yet
        done = run_cli(["sync", str(work)], tmp_path, {"MLFLOW_TRACKING_URI": server.url})
        assert f"synced MLflow run {tracker.run_id}: " in done.stdout and "ended FINISHED" in done.stdout
        run = store_client.get_run(tracker.run_id)
        assert run.info.status == "FINISHED" and run.data.tags["mlpose.status"] == "FINISHED"
        assert [m.step for m in store_client.get_metric_history(tracker.run_id, "loss")] == list(range(1, 31))
        assert run.data.tags["mlpose.last_checkpoint"] == "checkpoints/last.pth"
        client = MlflowClient(server.url)
        got = client.download_artifacts(tracker.run_id, "checkpoints/last.pth", str(tmp_path))
        assert torch.load(got)["meta"]["run_id"] == tracker.run_id
        assert not journal_dir(work).exists() and not list(work.glob(".mlpose-upload-*"))
        again = run_cli(["sync", str(work)], tmp_path, {"MLFLOW_TRACKING_URI": server.url})
        assert "nothing pending" in again.stdout
    finally:
        server.stop()
