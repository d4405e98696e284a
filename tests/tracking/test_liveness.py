"""Runs left RUNNING by a process that is gone end KILLED with a tag saying so; a live owner's,
and another host's, are left alone. Stale upload folders are removed unless a journal needs them."""
import subprocess
import sys

from mlflow import MlflowClient

from mlpose.tracking.journal import Journal, journal_dir, lane_path
from mlpose.tracking.liveness import KILLED_TAG, PROCESS_TAG, is_gone, mark_gone_runs, process_id
from mlpose.tracking.sync import clean_stale_uploads


def _dead_process_id() -> str:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    owner = process_id(child.pid)
    child.kill()
    child.wait()
    return owner


def test_running_runs_of_dead_processes_end_killed(uri):
    client = MlflowClient(uri)
    exp = client.create_experiment("liveness")
    dead, alive, elsewhere, finished = (client.create_run(exp).info.run_id for _ in range(4))
    client.set_tag(dead, PROCESS_TAG, _dead_process_id())
    client.set_tag(alive, PROCESS_TAG, process_id())
    client.set_tag(elsewhere, PROCESS_TAG, "some-other-host:1:123")
    client.set_tag(finished, PROCESS_TAG, _dead_process_id())
    client.set_terminated(finished, "FINISHED")

    assert mark_gone_runs(client, exp) == [dead]
    run = client.get_run(dead)
    assert run.info.status == "KILLED" and run.data.tags["mlpose.status"] == "KILLED"
    assert "ended without ending the run" in run.data.tags[KILLED_TAG]
    assert [client.get_run(r).info.status for r in (alive, elsewhere, finished)] == ["RUNNING", "RUNNING", "FINISHED"]


def test_a_reused_pid_counts_as_gone():
    host, pid, start = process_id().rsplit(":", 2)
    assert is_gone(f"{host}:{pid}:{start}") is False
    assert is_gone(f"{host}:{pid}:{int(start) + 1}") is True  # same pid, another start time
    assert is_gone("other-host:1:1") is None and is_gone("garbage") is None


def test_stale_upload_folders_are_removed_unless_a_journal_needs_them(tmp_path):
    stale = tmp_path / ".mlpose-upload-abc123"
    stale.mkdir()
    (stale / "last.pth").write_bytes(b"x" * 1000)
    needed = tmp_path / ".mlpose-upload-def456"
    needed.mkdir()
    (needed / "last.pth").write_bytes(b"y")
    journal = Journal(lane_path(journal_dir(tmp_path), "r" * 32, "uploads"))
    journal.append({"k": "upload", "path": str(needed / "last.pth"), "ap": "checkpoints", "cleanup": str(needed)})
    journal.close(remove_if_done=False)
    (tmp_path / "epoch_1.pth").write_bytes(b"z")

    assert clean_stale_uploads(tmp_path) == [str(stale)]
    assert not stale.exists() and (needed / "last.pth").exists() and (tmp_path / "epoch_1.pth").exists()
