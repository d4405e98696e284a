"""The background MLflow writer, against a real SQLite store (and a real refused connection):
batching, ordering across lanes, uploads with redaction, and failures that never stop training."""
import json
import logging
import socket
import threading
import time

from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts

from mlpose.tracking.async_logger import AsyncLogger, stage_file


def _run(uri):
    client = MlflowClient(uri)
    exp = client.create_experiment("async")
    return client, client.create_run(exp).info.run_id


def test_points_are_batched_and_stored_in_order_with_their_steps(uri):
    client, run_id = _run(uri)
    log = AsyncLogger(client, run_id, min_interval_s=0.5)
    for step in range(2500):
        log.put_metrics([("loss", 1.0 / (step + 1), 1000 + step, step), ("lr", 0.1, 1000 + step, step)])
    assert log.flush(timeout=60)
    assert log.num_metric_calls <= 6  # 5000 points in batches of at most 1000, not one call per put
    loss = client.get_metric_history(run_id, "loss")
    assert sorted(m.step for m in loss) == list(range(2500))
    assert {m.step: m.value for m in loss}[9] == 0.1
    log.close()


def test_tags_and_barriers_follow_the_metrics_queued_before_them(uri):
    client, run_id = _run(uri)
    log = AsyncLogger(client, run_id, min_interval_s=30)  # points would wait 30 s without company
    log.put_metrics([("acc", 0.5, 1, 7)])
    log.put_tags({"phase": "after-acc"})
    barrier = log.put_barrier()
    assert barrier.wait(timeout=30)  # well before min_interval_s: the tag pushed the point out
    run = client.get_run(run_id)
    assert run.data.metrics["acc"] == 0.5 and run.data.tags["phase"] == "after-acc"
    assert log.close(timeout=30)
    log.put_metrics([("acc", 0.9, 2, 8)])  # ignored after close
    assert client.get_run(run_id).data.metrics["acc"] == 0.5


def test_upload_waits_for_another_lanes_barrier_and_redacts_text(uri, tmp_path):
    client, run_id = _run(uri)
    metrics, uploads = AsyncLogger(client, run_id, min_interval_s=30), AsyncLogger(client, run_id)
    note = tmp_path / "run.log"
    note.write_text("tracking http://alice:s3cret@host:5000 ready\n")
    done = threading.Event()
    metrics.put_metrics([("loss", 0.25, 1, 3)])
    uploads.put_upload(str(note), "logs", on_done=done.set, redact_text_files=True, after=metrics.put_barrier())
    assert done.wait(timeout=60)
    assert client.get_run(run_id).data.metrics["loss"] == 0.25  # stored before the upload began
    local = download_artifacts(run_id=run_id, artifact_path="logs/run.log", dst_path=str(tmp_path / "dl"),
                               tracking_uri=uri)
    text = open(local).read()
    assert "s3cret" not in text and "alice:***@host" in text
    assert "s3cret" in note.read_text()  # the local file is left as it was
    metrics.close(), uploads.close()


def test_staged_file_keeps_its_content_when_the_original_is_replaced(tmp_path):
    path = tmp_path / "last.pth"
    path.write_bytes(b"epoch 1")
    staged, folder = stage_file(str(path), "last.pth")
    (tmp_path / "new").write_bytes(b"epoch 2")
    (tmp_path / "new").replace(path)  # what an atomic checkpoint save does
    assert open(staged, "rb").read() == b"epoch 1" and path.read_bytes() == b"epoch 2"
    assert staged.startswith(folder) and folder.startswith(str(tmp_path))


def test_a_refused_call_is_dropped_counted_and_the_next_item_still_runs(uri, caplog):
    client, run_id = _run(uri)
    log = AsyncLogger(client, "0" * 32, attempts=3, backoff_s=0.01)  # no such run: not transient
    log.put_tags({"a": "b"})
    log.put_call("set a tag on the real run", lambda: client.set_tag(run_id, "after", "yes"))
    with caplog.at_level(logging.WARNING, logger="mlpose.tracking.async_logger"):
        assert log.flush(timeout=30)
    assert log.num_failed == 1 and "could not set tags" in caplog.text
    assert client.get_run(run_id).data.tags["after"] == "yes"
    log.close()


def test_an_unreachable_server_is_journaled_not_dropped_and_close_is_bounded(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    journal = tmp_path / "run.metrics.jsonl"
    log = AsyncLogger(MlflowClient(f"http://127.0.0.1:{port}"), "0" * 32, attempts=3, backoff_s=0.05,
                      journal=journal, probe_s=0.1)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="mlpose.tracking.async_logger"):
        log.put_metrics([("loss", 1.0, 1, 1)])
        assert not log.flush(timeout=60)  # kept in the journal, not stored
        assert time.monotonic() - start < 5 and log.offline and log.num_failed == 0
        assert not log.close(timeout=0.5)  # waits for the server at most this long
    assert time.monotonic() - start < 8
    down = [r.getMessage() for r in caplog.records if "tracking server" in r.getMessage()]
    assert len(down) == 1 and "unreachable ([Errno 111] Connection refused)" in down[0], down
    assert [json.loads(line)["p"] for line in journal.read_text().splitlines()] == [[["loss", 1.0, 1, 1]]]
    assert log.num_pending() == 1
