"""Several workers on one PostgreSQL storage share one study and one parent run."""
import concurrent.futures
import os
import socket
import threading

import optuna
import pytest
from mlflow import MlflowClient

from mlpose.sweep import run_sweep
from mlpose.sweep.study import PARENT_ATTR, RUN_ATTR, create_or_load, open_storage, parent_run_id


@pytest.mark.postgres
def test_two_worker_processes_on_postgres_run_n_trials_once_each(workspace, postgres_db):
    # a password in the URL (the local server trusts 127.0.0.1 and ignores it) must never reach MLflow
    storage = postgres_db.replace("postgresql://postgres@", "postgresql://postgres:pw-SECRET-123@")
    opts = workspace.options(**{"sweep.sampler": "random", "sweep.storage": storage})
    result = run_sweep(workspace.config, cfg_options=opts, n_trials=4, study_name="pg", workers=2)

    assert result["complete"] and result["storage"] == storage.replace("pw-SECRET-123", "***")
    study = optuna.load_study(study_name="pg", storage=postgres_db.replace("postgresql://", "postgresql+psycopg2://"))
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]  # none lost, none extra
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    children = workspace.runs(result["parent_run_id"])
    assert len(children) == 4 and len(workspace.runs()) == 5  # one parent for both workers
    assert sorted(int(r.data.tags["mlpose.trial"]) for r in children) == [0, 1, 2, 3]
    assert {r.info.run_id for r in children} == {t.user_attrs[RUN_ATTR] for t in trials}
    workers = {t.user_attrs["mlpose.worker"] for t in trials}
    assert f"{socket.gethostname()}:{os.getpid()}" not in workers, workers  # run by the spawned workers
    assert {r.data.tags["mlpose.sweep.worker"] for r in children} == workers
    parent = workspace.client.get_run(result["parent_run_id"])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["mlpose.sweep.storage"] == result["storage"]
    for run in [parent, *children]:
        assert "pw-SECRET-123" not in repr(run.data.params) + repr(run.data.tags)


@pytest.mark.postgres
def test_workers_starting_together_agree_on_one_parent_run(workspace, postgres_db):
    """Three 'machines' (threads, each with its own storage connection) open a new study at once."""
    client = MlflowClient(workspace.uri)
    exp = client.get_experiment_by_name("Default").experiment_id
    start, answers = threading.Barrier(3), []

    def join():
        storage = open_storage(postgres_db, heartbeat_interval=1, grace_period=3)
        start.wait(timeout=60)
        study, created = create_or_load(storage, "race", "maximize", optuna.samplers.RandomSampler(), None)
        run_id = parent_run_id(study, created, lambda: client.create_run(exp).info.run_id,
                               lambda r: client.get_run(r).info.lifecycle_stage == "active", client.delete_run)
        answers.append((created, run_id))

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        for future in [pool.submit(join) for _ in range(3)]:
            future.result(timeout=120)
    assert sorted(created for created, _ in answers) == [False, False, True]  # exactly one creator
    assert len({run_id for _, run_id in answers}) == 1
    study = optuna.load_study(study_name="race", storage=postgres_db.replace("postgresql://", "postgresql+psycopg2://"))
    assert study.user_attrs[PARENT_ATTR] == answers[0][1]
    assert len(workspace.runs()) == 1  # no stray parent runs


@pytest.mark.postgres
def test_workers_opening_a_fresh_database_together_all_get_the_storage(postgres_db):
    """Optuna creates its tables on first open; concurrent first opens race on PostgreSQL."""
    start = threading.Barrier(4)

    def open_it():
        start.wait(timeout=60)
        return open_storage(postgres_db, heartbeat_interval=1, grace_period=3)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        storages = [f.result(timeout=120) for f in [pool.submit(open_it) for _ in range(4)]]
    assert all(isinstance(s, optuna.storages.RDBStorage) for s in storages)
