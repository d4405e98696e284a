"""The journal under an absent server: writes spill to disk (the in-memory queue stays empty),
nothing is dropped, and everything is stored in order once the server answers again."""
import json
import logging
import time

import requests
from mlflow import MlflowClient

from mlpose.tracking.async_logger import AsyncLogger
from mlpose.tracking.journal import Journal, read_records


class Unplugged:
    """A real MLflow client behind a cable: while ``down``, every call fails as a refused
    connection does (requests' ConnectionError), without reaching the store."""

    def __init__(self, client):
        self.client, self.down, self.num_refused = client, True, 0

    def __getattr__(self, name):
        attr = getattr(self.client, name)

        def call(*args, **kwargs):
            if self.down:
                self.num_refused += 1
                raise requests.exceptions.ConnectionError("[Errno 111] Connection refused")
            return attr(*args, **kwargs)

        return call


def _wait(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def test_outage_spills_to_the_journal_and_replays_in_order(uri, tmp_path, caplog):
    real = MlflowClient(uri)
    run_id = real.create_run(real.create_experiment("journal")).info.run_id
    cable = Unplugged(real)
    path = tmp_path / f"{run_id}.metrics.jsonl"
    log = AsyncLogger(cable, run_id, min_interval_s=0.01, journal=path, probe_s=0.2, lane="metrics")
    with caplog.at_level(logging.WARNING, logger="mlpose.tracking.async_logger"):
        for step in range(3000):  # 3000 points while the server is away
            log.put_metrics([("loss", 1.0 / (step + 1), 1000 + step, step)])
            if step % 1000 == 999:
                log.put_tags({"phase": f"after-{step}"})
        assert not log.flush(timeout=30)  # journaled, not stored
        assert _wait(lambda: log._queue.qsize() == 0)  # nothing waits in memory
        on_disk = [r for r, _ in read_records(path, 0)]
        assert sum(len(r["p"]) for r in on_disk if r["k"] == "metrics") == 3000
        assert [r["t"]["phase"] for r in on_disk if r["k"] == "tags"] == ["after-999", "after-1999", "after-2999"]
        assert log.offline and log.num_failed == 0 and log.num_pending() == len(on_disk)
        assert real.get_metric_history(run_id, "loss") == []

        cable.down = False  # the next probe finds the server; the backlog is sent
        assert _wait(lambda: not log.offline and log.num_pending() == 0)
        assert log.flush(timeout=60)
        assert log.close(timeout=30)
    history = real.get_metric_history(run_id, "loss")
    assert [m.step for m in history] == list(range(3000))  # each step once, in order
    assert [m.value for m in history] == [1.0 / (s + 1) for s in range(3000)]
    assert real.get_run(run_id).data.tags["phase"] == "after-2999"
    messages = [r.getMessage() for r in caplog.records if "tracking server" in r.getMessage()]
    assert len(messages) == 2 and "unreachable" in messages[0] and "is back" in messages[1], messages
    assert not path.exists()  # all stored: the journal is removed


def test_a_new_logger_sends_what_a_killed_one_left_first(uri, tmp_path):
    real = MlflowClient(uri)
    run_id = real.create_run(real.create_experiment("journal-left")).info.run_id
    path = tmp_path / f"{run_id}.metrics.jsonl"
    left = Journal(path)  # what a killed process left: two records, the first one stored
    left.append({"k": "metrics", "p": [["loss", 0.5, 1, 1]]})
    first_end = left.size
    left.append({"k": "metrics", "p": [["loss", 0.25, 2, 2]]})
    left.ack(first_end)
    left.close(remove_if_done=False)
    real.log_metric(run_id, "loss", 0.5, 1, 1)

    log = AsyncLogger(real, run_id, journal=path, min_interval_s=0.01)
    log.put_metrics([("loss", 0.125, 3, 3)])
    assert log.close(timeout=30)
    assert [(m.step, m.value) for m in real.get_metric_history(run_id, "loss")] == [(1, 0.5), (2, 0.25), (3, 0.125)]


def test_journal_is_compacted_once_everything_is_stored(tmp_path):
    journal = Journal(tmp_path / "j.jsonl", compact_bytes=200)
    for i in range(10):
        journal.append({"k": "tags", "t": {"i": str(i)}})
    assert journal.size > 200 and journal.count_pending() == 10
    ends = [end for _, end in journal.records()]
    journal.ack(ends[4])
    assert journal.count_pending() == 5 and journal.size > 200
    journal.ack(ends[-1])
    assert journal.size == 0 and (tmp_path / "j.jsonl").stat().st_size == 0 and not journal.pending
    journal.append({"k": "tags", "t": {"i": "10"}})
    assert [json.loads(line)["t"]["i"] for line in (tmp_path / "j.jsonl").read_text().splitlines()] == ["10"]
    journal.close()
    assert (tmp_path / "j.jsonl").exists()  # one pending line left: kept


def test_a_backlog_skips_what_a_later_write_replaces(tmp_path):
    journal = Journal(tmp_path / "run.uploads.jsonl")
    records = [{"k": "upload", "path": "/w/.mlpose-upload-1/last.pth", "ap": "checkpoints"},
               {"k": "model", "role": "last", "path": "/w/.mlpose-upload-2/epoch_1.pth"},
               {"k": "upload", "path": "/w/.mlpose-upload-3/best.pth", "ap": "checkpoints"},
               {"k": "upload", "path": "/w/.mlpose-upload-4/last.pth", "ap": "checkpoints"},
               {"k": "model", "role": "last", "path": "/w/.mlpose-upload-5/epoch_2.pth"},
               {"k": "model", "role": "best", "path": "/w/.mlpose-upload-6/epoch_2.pth", "keep": True},
               {"k": "model", "role": "best", "path": "/w/.mlpose-upload-7/epoch_2.pth", "keep": True}]
    for record in records:
        journal.append(record)
    journal.close(remove_if_done=False)
    reopened = Journal(tmp_path / "run.uploads.jsonl")  # what sync (or a restarted lane) sees
    assert [reopened.superseded(r, end) for r, end in reopened.records()] == \
        [True, True, False, False, False, False, False]  # log_model='all' (keep) models all stay
