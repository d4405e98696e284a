"""Fixtures for sweep tests: tiny generated data, a sweep config whose metric varies after one
epoch (EPE, lower is better), a fresh MLflow store, and a fresh PostgreSQL database."""
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlpose.datasets.synth import generate

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sweep_data(tmp_path_factory) -> Path:
    """4 train / 2 val generated images of 128x128."""
    out = tmp_path_factory.mktemp("sweep-synth")
    generate(out, num_train=4, num_val=2, seed=0, image_size=(128, 128), progress=False)
    return out


@pytest.fixture
def workspace(tmp_path, mlflow_env, sweep_data):
    """cwd = a fresh folder with its own MLflow SQLite store (``mlflow_env``); yields a helper
    namespace."""
    config = tmp_path / "sweep-test.py"
    config.write_text(
        f"_base_ = [{str(REPO / 'experiments' / 'tiny-sweep.py')!r}]\n"
        "# EPE (px, lower is better) differs between trials after one epoch; AP is still 0 everywhere.\n"
        "val_evaluator = dict(_delete_=True, type='EPE', prefix='synth')\n"
        "sweep = dict(metric='synth/EPE', direction='minimize', pruner='none', max_epochs=1,\n"
        "             heartbeat_interval=1, grace_period=3)\n")
    return Workspace(tmp_path, str(config), mlflow_env, sweep_data)


class Workspace:
    def __init__(self, root: Path, config: str, uri: str, data: Path):
        self.root, self.config, self.uri, self.data = root, config, uri, data
        self.client = MlflowClient(uri)

    def options(self, **extra) -> list[str]:
        """--cfg-options making the tiny recipe a seconds-long CPU run on the tiny data."""
        opts = {
            "model.backbone.base_channels": 8, "model.head.in_channels": 64,
            "model.head.deconv_out_channels": "(16,16,8,8)",
            "train_dataloader.batch_size": 4, "train_dataloader.num_workers": 0,
            "train_dataloader.dataset.data_root": str(self.data),
            "val_dataloader.batch_size": 8, "val_dataloader.num_workers": 0,
            "val_dataloader.dataset.data_root": str(self.data),
            "train_cfg.val_interval": 1, "default_hooks.logger.interval": 1,
            "default_hooks.checkpoint.interval": 1, "default_hooks.checkpoint.save_best": "synth/EPE",
            "default_hooks.checkpoint.rule": "less", "param_scheduler.0.end": 2,
            "tracking.log_model": False, "tracking.log_checkpoints": "none",
        }
        opts.update(extra)
        return [f"{k}={v}" for k, v in opts.items()]

    def runs(self, parent_run_id: str | None = None):
        """Every run of every experiment (children of ``parent_run_id`` only, when given)."""
        exps = [e.experiment_id for e in self.client.search_experiments()]
        runs = self.client.search_runs(exps, max_results=1000)
        if parent_run_id is not None:
            runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_run_id]
        return runs


@pytest.fixture
def postgres_db(postgres_url):
    """A fresh PostgreSQL database for one test (dropped afterwards); returns its URL."""
    import psycopg2

    name = f"sweep_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(postgres_url)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    yield url
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    conn.close()

