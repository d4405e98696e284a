"""``mlpose train --resume`` after SIGKILLs continues the run its checkpoint recorded: one
MLflow run however often the job is killed, the killed process's RUNNING run marked KILLED (a
tag says so) before it is continued, stale upload folders and a stop signal's iter_N.pth gone."""
import re
import signal

import pytest

from mlpose.tracking.liveness import KILLED_TAG


@pytest.mark.slow  # CI keeps one killed-twice row: tests/test_bad_inputs.py (killed before the first checkpoint)
def test_killed_twice_then_interrupted_is_still_one_run(tiny_data, tiny_opts, tmp_path, new_store, interrupt_cli,
                                                        run_cli, all_runs):
    uri, client = new_store(tmp_path)
    env = {"MLFLOW_TRACKING_URI": uri}
    work = tmp_path / "work"
    train = ["train", "tiny", "--work-dir", "work", "--cfg-options", *tiny_opts(tiny_data, 4, width=8)]
    resume = [*train[:4], "--resume", *train[4:]]

    def saved(epoch):  # kill once the epoch's checkpoint is in the work dir
        return lambda: (work / f"epoch_{epoch}.pth").exists()

    rc, out = interrupt_cli(train, tmp_path, env, until="Epoch(val) [1]", sig=signal.SIGKILL, ready=saved(1))
    assert rc == -signal.SIGKILL, out[-2000:]
    per_epoch = int(re.search(r"Epoch\(train\) \[1\]\[\d+/(\d+)\]", out).group(1))
    (run,) = all_runs(client)
    run_id = run.info.run_id
    assert run.info.status == "RUNNING"
    stale = work / ".mlpose-upload-killed"  # what a SIGKILL during a checkpoint upload leaves
    stale.mkdir()
    (stale / "last.pth").write_bytes(b"\0" * 4096)

    rc, out = interrupt_cli(resume, tmp_path, env, until="Epoch(val) [2]", sig=signal.SIGKILL, ready=saved(2))
    assert rc == -signal.SIGKILL and "resumed from" in out, out[-2000:]
    assert [r.info.run_id for r in all_runs(client)] == [run_id]
    assert "ended without ending the run" in client.get_run(run_id).data.tags[KILLED_TAG]
    assert not stale.exists()

    rc, out = interrupt_cli(resume, tmp_path, env, until="Epoch(train) [3][2/", sig=signal.SIGINT)
    assert rc == 130, out[-2000:]
    assert list(work.glob("iter_*.pth")), "a stop signal writes iter_N.pth"
    assert client.get_run(run_id).info.status == "KILLED"

    done = run_cli(resume, tmp_path, env)
    assert "resumed from" in done.stdout + done.stderr
    (run,) = all_runs(client)
    assert run.info.run_id == run_id and run.info.status == "FINISHED"
    assert not list(work.glob("iter_*.pth"))  # a later checkpoint exists: the stop file is gone
    steps = [m.step for m in client.get_metric_history(run_id, "loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 4 * per_epoch  # each step once, up to the end
    assert [m.step for m in client.get_metric_history(run_id, "coco/AP")] == [per_epoch * e for e in (1, 2, 3, 4)]
