"""Study storage, heartbeats and the trial budget, without training."""
import time

import optuna
import pytest
from optuna.trial import TrialState

from mlpose.errors import ConfigError
from mlpose.sweep.objective import SurplusTrial, TrialObjective
from mlpose.sweep.space import parse_sweep
from mlpose.sweep.study import (HeartbeatJournalStorage, create_or_load, counted, default_storage, is_complete,
                                is_surplus, needs_work, open_storage, parent_run_id, storage_label)


def test_default_storage_is_a_journal_file_under_work_dirs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert default_storage("lr/seed sweep") == str(tmp_path / "work_dirs" / "sweeps" / "lr_seed_sweep.journal")
    storage = open_storage(default_storage("s"), heartbeat_interval=1, grace_period=2)
    assert isinstance(storage, HeartbeatJournalStorage)
    study, created = create_or_load(storage, "s", "maximize", None, None)
    again, created_again = create_or_load(open_storage(default_storage("s"), 1, 2), "s", "maximize", None, None)
    assert (created, created_again) == (True, False) and again._study_id == study._study_id
    with pytest.raises(ConfigError, match="exists with direction maximize, the config says minimize"):
        create_or_load(storage, "s", "minimize", None, None)


def test_sqlalchemy_urls_open_rdb_storage_with_heartbeats(tmp_path):
    storage = open_storage(f"sqlite:///{tmp_path / 'o.db'}", heartbeat_interval=5, grace_period=20)
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert (storage.heartbeat_interval, storage.grace_period) == (5, 20)


def test_storage_passwords_never_show(tmp_path):
    url = "postgresql://sweeper:s3cr3t-pw@127.0.0.1:1/db"
    assert storage_label(url) == "postgresql://sweeper:***@127.0.0.1:1/db"
    with pytest.raises(ConfigError) as err:
        open_storage(url, 1, 2)
    assert "s3cr3t" not in str(err.value) and "postgresql://sweeper:***@127.0.0.1:1/db" in str(err.value)


def test_journal_heartbeat_fails_a_silent_trial_and_requeues_it(tmp_path):
    seen = []
    storage = open_storage(str(tmp_path / "h.journal"), heartbeat_interval=1, grace_period=1,
                           on_stale=lambda study, trial: seen.append(trial.number))
    study, _ = create_or_load(storage, "h", "maximize", None, None)
    alive, dead = study.ask(), study.ask()
    dead.suggest_float("x", 0, 1)
    time.sleep(1.5)
    storage.record_heartbeat(alive._trial_id)  # only trial 0's worker is still beating
    optuna.storages.fail_stale_trials(study)
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.RUNNING, TrialState.FAIL, TrialState.WAITING] and seen == [1]
    retry = study.get_trials()[2]
    assert retry.params == dead.params and retry.system_attrs["failed_trial"] == 1
    trials = study.get_trials()
    assert [t.number for t in counted(trials)] == [0, 2]  # the retry replaces the lost trial
    assert needs_work(trials, 2)  # the queued retry must still run


def test_budget_counts_every_state_and_flags_surplus_asks(tmp_path):
    study, _ = create_or_load(open_storage(str(tmp_path / "b.journal"), 1, 2), "b", "maximize", None, None)
    for value in (1.0, 2.0):
        study.tell(study.ask(), value)
    study.tell(study.ask(), state=TrialState.PRUNED)
    study.ask()  # asked after 3 trials already took a budget of 3
    trials = study.get_trials()
    assert not needs_work(trials[:3], 3) and is_complete(trials[:3], 3)
    frozen = trials[3]
    assert is_surplus(trials, frozen, 3) and not is_surplus(trials, frozen, 4)
    assert not is_complete(trials, 4)  # trial 3 still runs


def test_objective_discards_a_surplus_trial_without_running_it(tmp_path):
    spec = parse_sweep({"sweep": {"params": {"randomness.seed": dict(type="categorical", choices=[0, 1])}}}, "c.py")
    study, _ = create_or_load(open_storage(str(tmp_path / "x.journal"), 1, 2), "x", "maximize", None, None)
    study.tell(study.ask(), 1.0)
    objective = TrialObjective("tiny", [], spec, 1, "x", client=None, parent_run_id="p", experiment_id="0",
                               work_root=tmp_path)
    study.optimize(objective, n_trials=1, catch=(SurplusTrial,))
    late = study.get_trials()[1]
    assert late.state == TrialState.FAIL and late.user_attrs["mlpose.surplus"] is True and not late.params
    assert [t.number for t in counted(study.get_trials())] == [0]


def test_joining_worker_uses_the_creators_parent_run(tmp_path):
    made, dropped = [], []

    def make():
        made.append(f"run{len(made)}")
        return made[-1]

    storage = open_storage(str(tmp_path / "p.journal"), 1, 2)
    study, created = create_or_load(storage, "p", "maximize", None, None)
    assert parent_run_id(study, created, make, lambda r: True, dropped.append) == "run0"
    joiner, joined_created = create_or_load(open_storage(str(tmp_path / "p.journal"), 1, 2), "p", "maximize", None, None)
    assert parent_run_id(joiner, joined_created, make, lambda r: True, dropped.append, wait_s=0) == "run0"
    # the parent run was deleted in MLflow: a new one replaces it, once
    assert parent_run_id(joiner, False, make, lambda r: r != "run0", dropped.append, wait_s=0) == "run1"
    assert made == ["run0", "run1"] and dropped == []
