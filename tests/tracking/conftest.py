"""Fixtures for end-to-end tracking tests: a tiny training recipe whose validation metric moves
from epoch to epoch, and a fresh MLflow SQLite store per working folder."""
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from mlpose.config import resolve_config_path


@pytest.fixture(scope="session")
def epe_recipe(tmp_path_factory, tiny_data, tiny_opts):
    """The tiny recipe validated with COCO AP and EPE, the best checkpoint chosen by EPE.

    AP stays 0 in a few tiny epochs; EPE (mean pixel error, lower is better) differs every epoch,
    so "the best epoch's metrics" identify one epoch. Returns ``namespace(config, options)``:
    ``options(epochs, **extra)`` gives the --cfg-options list.
    """
    config = tmp_path_factory.mktemp("recipe") / "tiny-epe.py"
    config.write_text(
        f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n"
        "val_evaluator = [_base_.val_evaluator, dict(type='EPE')]\ntest_evaluator = val_evaluator\n"
        "default_hooks = dict(checkpoint=dict(save_best='coco/EPE', rule='less'))\n")

    def options(epochs: int, **extra) -> list[str]:
        opts = tiny_opts(tiny_data, epochs, width=8, **extra)  # a quarter of tiny_opts' default model
        return [o.replace("_evaluator.ann_file", "_evaluator.0.ann_file") for o in opts]

    return SimpleNamespace(config=str(config), options=options)


@pytest.fixture
def new_store(empty_mlflow_store):
    """``new_store(folder)`` -> ``(uri, client)``: a fresh SQLite store in ``folder`` (created)."""

    def make(folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(empty_mlflow_store, folder / "mlflow.db")
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        return uri, MlflowClient(uri)

    return make


def _all_runs(client, view=ViewType.ACTIVE_ONLY):
    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return client.search_runs(exps, run_view_type=view, max_results=1000)


@pytest.fixture(scope="session")
def all_runs():
    """``all_runs(client, view=ACTIVE_ONLY)``: the runs of every experiment of the store."""
    return _all_runs


@pytest.fixture
def uri(mlflow_env) -> str:
    """A fresh SQLite store for the test (see ``mlflow_env``), under the name these tests use."""
    return mlflow_env


def _kill_hard(server) -> None:
    import os
    import signal

    pids = server.pids()
    for kill in (lambda: os.killpg(server.proc.pid, signal.SIGKILL),
                 *[lambda p=p: os.kill(p, signal.SIGKILL) for p in pids]):
        try:
            kill()
        except ProcessLookupError:
            pass
    server.proc.wait(timeout=30)


@pytest.fixture(scope="session")
def kill_server():
    """``kill_server(server)``: SIGKILL a ``TrackingServer``'s whole process tree, as the OOM
    killer would (no shutdown, the port closes with the processes)."""
    return _kill_hard
