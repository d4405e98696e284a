"""Fixtures for end-to-end engine tests: a tiny generated dataset and tiny-model options."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlpose.datasets.synth import generate


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """12 train / 4 val generated images of 128x128 (about 30 / 10 people)."""
    out = tmp_path_factory.mktemp("synth")
    generate(out, num_train=12, num_val=4, seed=0, image_size=(128, 128), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_opts():
    """``tiny_opts(data, epochs=2, **overrides)`` -> --cfg-options list (see :func:`tiny_options`)."""
    return tiny_options


def tiny_options(data: Path, epochs: int = 2, **extra) -> list[str]:
    """--cfg-options turning the `tiny` recipe into a seconds-long CPU run on ``data``."""
    ann = data / "annotations"
    opts = {
        "model.backbone.base_channels": 16, "model.head.in_channels": 128,
        "model.head.deconv_out_channels": "(32,32,32)",
        "train_cfg.max_epochs": epochs, "train_cfg.val_interval": 1,
        "train_dataloader.batch_size": 4, "train_dataloader.num_workers": 0,
        "train_dataloader.dataset.data_root": str(data),
        "val_dataloader.batch_size": 8, "val_dataloader.num_workers": 0,
        "val_dataloader.dataset.data_root": str(data),
        "test_dataloader.dataset.data_root": str(data),
        "val_evaluator.ann_file": str(ann / "person_keypoints_val.json"),
        "test_evaluator.ann_file": str(ann / "person_keypoints_val.json"),
        "default_hooks.logger.interval": 2, "default_hooks.checkpoint.interval": 1,
        "randomness.seed": 0, "randomness.deterministic": True,
        "param_scheduler.0.end": 5,
    }
    opts.update(extra)
    return [f"{k}={v}" for k, v in opts.items()]


@pytest.fixture
def mlflow_env(tmp_path, monkeypatch) -> str:
    """A fresh SQLite tracking store for the test; returns its URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    return uri


def run_cli(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 300, check: bool = True):
    """Run ``mlpose ARGS`` in a subprocess (a real process, as users run it)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "mlpose.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"mlpose {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc
