"""The finished run as a user sees it: a real `mlflow server` over the run's store, the run page
in headless Chromium (Debian's chromium, driven by Playwright; `tools/mlflow_ui.py`)."""
import importlib.util
import os
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlpose.engine import jobs
from mlpose.engine.options import TrainOptions

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("mlflow_ui", REPO / "tools" / "mlflow_ui.py")
mlflow_ui = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mlflow_ui)

pytestmark = [
    pytest.mark.skipif(not os.path.exists(mlflow_ui.CHROMIUM),
                       reason=f"{mlflow_ui.CHROMIUM} not installed (make test installs Debian's chromium as root)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="playwright not installed (pip install -e '.[dev]')"),
]


def test_run_page_shows_step_images_system_metrics_datasets_and_models(mlflow_env, tiny_data, tiny_opts, tmp_path):
    opts = tiny_opts(tiny_data, 1, width=8) + ["tracking.system_metrics_interval=0.5"]
    run_id = jobs.train("tiny", TrainOptions(work_dir="run", cfg_options=opts))["run_id"]
    client = MlflowClient(mlflow_env)
    keys = mlflow_ui.image_keys(client, run_id)  # the step images of the run (validation pictures)

    start = time.monotonic()
    found = mlflow_ui.browse(mlflow_env, run_id, out=str(tmp_path / "shots"))
    print(f"browser check: {time.monotonic() - start:.1f} s")

    digests = {i.dataset.name: i.dataset.digest for i in client.get_run(run_id).inputs.dataset_inputs}
    assert found["datasets"] and all(digests[name] == digest for name, digest in found["datasets"])
    assert found["runs_table_datasets"] == ["coco/train", "coco/val"]  # the runs table's Datasets column
    models = {m.name for m in client.search_logged_models([client.get_run(run_id).info.experiment_id])}
    assert models == {"best", "last"} and sorted(found["logged_models"]) == ["best", "last"]
    system = {k for k in client.get_run(run_id).data.metrics if k.startswith("system/")}
    assert "system/cpu_utilization_percentage" in found["system_charts"]
    assert found["system_metric_count"] == len(system) >= 4
    # Every step-image key of the run shows a loaded picture at its last step. Without step images
    # (a build before validation pictures existed) there is nothing to show and nothing to check.
    assert found["images"] == keys
    shots = {p.name for p in (tmp_path / "shots").iterdir()}
    assert {"overview.png", "system_metrics.png"} <= shots
    if "coco/samples" in keys:
        assert "step_images.png" in shots
    assert all(p.stat().st_size < mlflow_ui.MAX_PNG_BYTES for p in (tmp_path / "shots").iterdir())
