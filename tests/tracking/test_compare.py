"""`mlpose runs` / `mlpose compare`: run table rows, param differences, metric summaries, plot."""
import io

import pytest
from matplotlib.image import imread
from rich.console import Console

from mlpose.errors import ConfigError
from mlpose.tracking import Tracker, compare_runs, list_runs, print_runs


def train_like(lr, seed, ap_values, status="FINISHED", experiment="cmp"):
    cfg = {"optim_wrapper": {"optimizer": {"type": "Adam", "lr": lr}}, "randomness": {"seed": seed},
           "default_hooks": {"checkpoint": {"save_best": "coco/AP", "rule": "greater"}}}
    tracker = Tracker.start(cfg, config_name="tiny", experiment=experiment, run_name=f"lr{lr}-s{seed}")
    for step in range(1, 31):
        tracker.log_metrics({"loss": 1.0 / (step * lr * 1000), "epoch": float((step - 1) // 10)}, step)
    for epoch, ap in enumerate(ap_values, 1):
        tracker.log_metrics({"coco/AP": ap, "coco/AP (M)": ap / 2}, epoch * 10)
    tracker.finish(status)
    return tracker.run_id


@pytest.fixture
def runs(uri):
    return [train_like(1e-3, 0, [0.2, 0.5, 0.4]), train_like(5e-4, 1, [0.1, 0.3, 0.35], status="KILLED"),
            train_like(1e-3, 0, [0.6], experiment="other")]


def test_list_runs_rows(runs):
    rows = list_runs("cmp")
    assert [r["run_id"] for r in rows] == [runs[1], runs[0]]  # newest first, one experiment only
    first = rows[1]
    assert (first["config"], first["status"], first["best_metric"]) == ("tiny", "FINISHED", "coco/AP")
    assert first["best_value"] == pytest.approx(0.5)  # the best epoch, not the last one
    assert rows[0]["status"] == "KILLED" and rows[0]["best_value"] == pytest.approx(0.35)
    assert first["duration_s"] >= 0
    assert len(list_runs()) == 3
    with pytest.raises(ConfigError, match="not found"):
        list_runs("nope")


def test_print_runs_table(runs):
    out = io.StringIO()
    print_runs(console=Console(file=out, width=200))
    text = out.getvalue()
    for run_id in runs:
        assert run_id in text
    assert "coco/AP = 0.5" in text and "KILLED" in text and "other" in text


def test_compare_runs_text_and_plot(runs, tmp_path):
    png = tmp_path / "cmp.png"
    text = compare_runs(runs[:2], str(png))
    params = text[text.index("params that differ"):text.index("metrics: last / best")]
    assert "optim_wrapper.optimizer.lr" in params and "0.001" in params and "0.0005" in params
    assert "randomness.seed" in params
    assert "optim_wrapper.optimizer.type" not in params  # identical params are not listed
    ap_line = next(line for line in text.splitlines() if "coco/AP " in line and "/" in line)
    assert "0.4 / 0.5" in ap_line and "0.35 / 0.35" in ap_line  # last / best
    loss_line = next(line for line in text.splitlines() if line.strip("│┃ ").startswith("loss"))
    assert "0.03333 / 0.03333" in loss_line  # loss: best is the minimum
    assert png.is_file() and imread(str(png)).shape[0] > 100
    with pytest.raises(ConfigError, match="not found"):
        compare_runs(["0123456789abcdef0123456789abcdef"], str(png))


def test_runs_on_a_new_store_and_an_absent_server_print_only_mlposes_lines(tmp_path):
    """No MLflow table-creation chatter on a new store; a server that is away is one line at once."""
    import os
    import subprocess
    import sys

    def runs(uri):
        return subprocess.run([sys.executable, "-m", "mlpose.cli", "runs"], cwd=tmp_path, capture_output=True,
                              text=True, env={**os.environ, "MLFLOW_TRACKING_URI": uri}, timeout=120)

    new = runs(f"sqlite:///{tmp_path / 'new.db'}")
    assert new.returncode == 0 and new.stdout.strip() == "no runs" and not new.stderr, new.stderr
    away = runs("http://127.0.0.1:9")  # the discard port: nothing answers
    assert away.returncode == 2 and away.stderr.startswith("error: cannot reach tracking server at http://127.0.0.1:9")
    assert len(away.stderr.splitlines()) == 1 and not away.stdout
