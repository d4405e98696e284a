"""One job per work dir: the lock refuses a second job naming the first, is freed by the kernel
when its holder is SIGKILLed, nests within a process, and a job that never started takes back
the folders it made."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from mlpose.errors import ConfigError
from mlpose.runtime.folders import check_writable, make_dirs
from mlpose.runtime.worklock import LOCK_FILE, lock_work_dir, read_lock_record, try_lock_work_dir

HOLD = textwrap.dedent("""
    import sys, time
    from mlpose.runtime.worklock import lock_work_dir
    lock = lock_work_dir(sys.argv[1], ["mlpose", "train", "tiny", "--work-dir", sys.argv[1]])
    lock.note(run_id="run-of-the-holder")
    print("locked", flush=True)
    time.sleep(600)
""")


@pytest.fixture
def holder(tmp_path):
    """A real other process holding ``tmp_path / 'work'``; yields (process, work dir)."""
    work = tmp_path / "work"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(work)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.stdout.readline().strip() == "locked"
    yield proc, work
    proc.kill()
    proc.wait()


def test_a_second_job_is_refused_naming_the_first(holder):
    proc, work = holder
    with pytest.raises(ConfigError) as err:
        lock_work_dir(work, ["mlpose", "train", "tiny"])
    line = str(err.value)
    assert f"work dir {work} is in use by another job: pid {proc.pid} on " in line
    assert "`mlpose train tiny --work-dir " in line and "started 20" in line and "MLflow run run-of-the-holder" in line
    assert "\n" not in line
    assert try_lock_work_dir(work) is None


def test_a_sigkilled_holder_leaves_nothing_locked(holder):
    proc, work = holder
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock = lock_work_dir(work, ["mlpose", "train", "tiny", "--resume"])
    try:
        assert lock.previous["pid"] == proc.pid and lock.previous["run_id"] == "run-of-the-holder"
        record = read_lock_record(work)
        assert record["pid"] == os.getpid() and record["run_id"] == "run-of-the-holder"  # until the new run is noted
        lock.note(run_id="new-run")
        assert read_lock_record(work)["run_id"] == "new-run"
    finally:
        lock.release()


def test_nested_in_one_process_and_released_by_the_last(tmp_path):
    outer = lock_work_dir(tmp_path / "w", ["mlpose", "resume", "abc"])
    inner = lock_work_dir(tmp_path / "w", ["mlpose", "train", "x"])  # the train a resume runs
    assert inner is outer
    inner.release()
    probe = subprocess.run([sys.executable, "-c", "import sys; from mlpose.runtime.worklock import try_lock_work_dir;"
                            "sys.exit(0 if try_lock_work_dir(sys.argv[1]) is None else 1)", str(tmp_path / "w")],
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert probe.returncode == 0, "still held by the outer user"
    outer.release()
    again = try_lock_work_dir(tmp_path / "w")
    assert again is not None
    again.release()


def test_a_job_that_never_started_takes_back_the_folders_it_made(tmp_path):
    lock = lock_work_dir(tmp_path / "a" / "b", [])
    assert lock.created == [tmp_path / "a", tmp_path / "a" / "b"]
    lock.release(discard=True)
    assert not (tmp_path / "a").exists()
    (tmp_path / "kept").mkdir()
    lock = lock_work_dir(tmp_path / "kept", [])
    lock.note(run_id="r1")
    lock.release(discard=True)  # an existing work dir keeps its record: a later --resume needs it
    assert read_lock_record(tmp_path / "kept")["run_id"] == "r1"


def test_a_password_in_the_command_is_not_recorded(tmp_path):
    lock = lock_work_dir(tmp_path, ["/venv/bin/mlpose", "train", "x", "--cfg-options", "tracking.uri=http://bob:pw1@h"])
    lock.release()
    text = (tmp_path / LOCK_FILE).read_text()
    assert "pw1" not in text and "mlpose train x --cfg-options tracking.uri=http://bob:***@h" in text


def test_folders_that_cannot_be_made_are_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot create the work dir .*file/run: .*file is a file, not a folder"):
        make_dirs(tmp_path / "file" / "run", "work dir")
    with pytest.raises(ConfigError, match=r"cannot create the work dir .*file: it is a file"):
        make_dirs(tmp_path / "file", "work dir")
    with pytest.raises(ConfigError, match=r"cannot write the --out file .*file/m.json: .*file is a file"):
        check_writable(tmp_path / "file" / "m.json", "--out file")
    with pytest.raises(ConfigError, match="is a folder; give a file path"):
        check_writable(tmp_path, "--out file")
    check_writable(tmp_path / "new" / "deeper" / "m.json", "--out file")  # creatable: fine, nothing made
    assert not (tmp_path / "new").exists()
