"""Resuming a study by name, and a trial whose worker died (no heartbeat) being re-run."""
import os
import signal
import threading
import time

import optuna
import pytest

from mlpose.sweep import run_sweep
from mlpose.sweep.study import PARENT_ATTR, RUN_ATTR, default_storage

LR = "optim_wrapper.optimizer.lr"


def journal(name):
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(default_storage(name)))


def test_resume_by_study_name_adds_trials_under_the_same_parent(workspace):
    opts = workspace.options(**{"sweep.sampler": "random"})
    first = run_sweep(workspace.config, cfg_options=opts, n_trials=1, study_name="res")
    again = run_sweep(workspace.config, cfg_options=opts, n_trials=1, study_name="res")
    assert again["parent_run_id"] == first["parent_run_id"]
    assert len(workspace.runs(first["parent_run_id"])) == 1  # the study already had its 1 trial

    second = run_sweep(workspace.config, cfg_options=opts, n_trials=3, study_name="res")
    assert second["parent_run_id"] == first["parent_run_id"] and second["complete"]
    study = optuna.load_study(study_name="res", storage=journal("res"))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    children = workspace.runs(first["parent_run_id"])
    assert sorted(r.data.tags["mlpose.trial"] for r in children) == ["0", "1", "2"]
    assert {r.info.run_id for r in children} == {t.user_attrs[RUN_ATTR] for t in study.trials}
    parent = workspace.client.get_run(first["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials/complete"] == 3
    assert len(workspace.runs()) == 4  # one parent, three trials


def test_a_trial_whose_worker_died_is_failed_and_rerun_with_the_same_params(workspace):
    opts = workspace.options(**{"sweep.sampler": "random"})
    first = run_sweep(workspace.config, cfg_options=opts, n_trials=1, study_name="dead")
    # A worker that asked for trial 1, created its child run and then was killed (no heartbeats).
    study = optuna.load_study(study_name="dead", storage=journal("dead"))
    trial = study.ask()
    lr = trial.suggest_float(LR, 3e-4, 1e-2, log=True)
    seed = trial.suggest_categorical("randomness.seed", [0, 1])
    parent = study.user_attrs[PARENT_ATTR]
    exp = workspace.client.get_run(parent).info.experiment_id
    dead = workspace.client.create_run(exp, tags={"mlflow.parentRunId": parent, "trial_state": "RUNNING"})
    trial.set_user_attr(RUN_ATTR, dead.info.run_id)
    time.sleep(3.5)  # the test config's grace_period is 3 s

    result = run_sweep(workspace.config, cfg_options=opts, n_trials=2, study_name="dead")
    assert result["complete"] and result["parent_run_id"] == first["parent_run_id"]
    trials = optuna.load_study(study_name="dead", storage=journal("dead")).trials
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE"]
    retry = trials[2]
    assert retry.params == {LR: lr, "randomness.seed": seed}
    lost = workspace.client.get_run(dead.info.run_id)
    assert lost.info.status == "FAILED" and lost.data.tags["trial_state"] == "FAIL"
    assert "no heartbeat" in lost.data.tags["mlpose.error"]
    rerun = workspace.client.get_run(retry.user_attrs[RUN_ATTR])
    assert rerun.info.status == "FINISHED" and rerun.data.tags["mlpose.retry_of_trial"] == "1"
    assert float(rerun.data.params[f"sweep.{LR}"]) == pytest.approx(lr)
    assert workspace.client.get_run(result["parent_run_id"]).info.status == "FINISHED"


def test_ctrl_c_stops_the_sweep_and_the_interrupted_trial_reruns_on_resume(workspace):
    opts = workspace.options(**{"sweep.sampler": "random"})

    def press_ctrl_c_mid_trial():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                trials = optuna.load_study(study_name="stop", storage=journal("stop")).get_trials()
            except (KeyError, FileNotFoundError):
                trials = []
            if any(t.state.name == "RUNNING" and t.intermediate_values for t in trials):  # validated once
                break
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c_mid_trial, daemon=True)
    presser.start()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(workspace.config, cfg_options=opts + ["sweep.max_epochs=500"], n_trials=1, study_name="stop")
    presser.join()
    first = optuna.load_study(study_name="stop", storage=journal("stop")).get_trials()
    assert [t.state.name for t in first] == ["FAIL", "WAITING"] and first[1].params == first[0].params
    stopped = workspace.client.get_run(first[0].user_attrs[RUN_ATTR])
    assert stopped.info.status == "KILLED" and stopped.data.tags["trial_state"] == "FAIL"
    parents = [r for r in workspace.runs() if "mlpose.sweep.storage" in r.data.tags]
    assert [r.info.status for r in parents] == ["KILLED"]

    result = run_sweep(workspace.config, cfg_options=opts, n_trials=1, study_name="stop")
    trials = optuna.load_study(study_name="stop", storage=journal("stop")).get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"] and result["complete"]
    assert workspace.client.get_run(result["parent_run_id"]).info.status == "FINISHED"
