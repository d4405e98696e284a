"""A real `mlpose sweep` process killed with SIGKILL mid-trial: its trial is failed and re-run."""
import os
import signal
import subprocess
import sys
import time

import optuna

from mlpose.sweep import run_sweep
from mlpose.sweep.study import RUN_ATTR, default_storage


def running_trial(name):
    path = default_storage(name)
    if not os.path.exists(path):
        return None
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(path))
    try:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    except KeyError:  # study not created yet
        return None
    return next((t for t in trials if t.state.name == "RUNNING" and RUN_ATTR in t.user_attrs), None)


def test_sigkilled_worker_trial_is_failed_then_rerun(workspace):
    opts = workspace.options(**{"sweep.sampler": "random"})
    proc = subprocess.Popen([sys.executable, "-m", "mlpose.cli", "sweep", workspace.config, "--study-name", "kill",
                             "--n-trials", "1", "--cfg-options", *opts, "sweep.max_epochs=1000"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while (trial := running_trial("kill")) is None:
            assert proc.poll() is None and time.monotonic() < deadline, "the sweep never started its trial"
            time.sleep(0.5)
        time.sleep(2)  # let it train a little
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_run = trial.user_attrs[RUN_ATTR]
    assert workspace.client.get_run(killed_run).info.status == "RUNNING"  # nobody could finish it

    result = run_sweep(workspace.config, cfg_options=opts, n_trials=1, study_name="kill")  # waits the 3 s grace
    assert result["complete"]
    study = optuna.load_study(study_name="kill", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(default_storage("kill"))))
    first, retry = study.get_trials()
    assert (first.state.name, retry.state.name) == ("FAIL", "COMPLETE") and retry.params == first.params
    lost = workspace.client.get_run(killed_run)
    assert lost.info.status == "FAILED" and lost.data.tags["trial_state"] == "FAIL"
    assert workspace.client.get_run(retry.user_attrs[RUN_ATTR]).data.tags["mlpose.retry_of_trial"] == "0"
