"""mlpose test / evaluate / --dump / --out, --show-dir pictures, and 2-process DDP (gloo) training."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlpose.config import resolve_config_path
from mlpose.engine import jobs
from mlpose.engine.jobs import TrainOptions, evaluate_predictions, train
from mlpose.errors import ConfigError
from mlpose.stack import free_port


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_data, tiny_opts):
    work = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{work / 'mlflow.db'}")
        mp.chdir(work)  # MLflow's ./mlruns and any default work dir stay out of the repository
        result = train("tiny", TrainOptions(work_dir=str(work / "run"), cfg_options=tiny_opts(tiny_data, 2)))
        yield work, result


def test_test_out_dump_and_evaluate_agree(trained, tiny_data, tiny_opts, tmp_path):
    work, result = trained
    opts = tiny_opts(tiny_data, 2)
    metrics = jobs.test("tiny", result["best_checkpoint"], jobs.TestOptions(
        work_dir=str(tmp_path), out=str(tmp_path / "m.json"), dump=str(tmp_path / "d.json"),
        show_dir="pics", interval=3, cfg_options=opts))
    assert metrics == result["metrics"] or metrics["coco/AP"] == pytest.approx(
        json.loads((tmp_path / "m.json").read_text())["coco/AP"])
    assert json.loads((tmp_path / "m.json").read_text()) == pytest.approx(metrics)
    again = evaluate_predictions("tiny", str(tmp_path / "d.json"), opts)
    assert again == pytest.approx(metrics)
    pics = list(tmp_path.glob("*/pics/*.jpg"))
    assert pics, "--show-dir wrote no pictures"


def test_show_without_display_is_a_clear_error(trained, tiny_data, tiny_opts, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    work, result = trained
    with pytest.raises(ConfigError, match="--show needs"):
        jobs.test("tiny", result["best_checkpoint"], jobs.TestOptions(work_dir=str(tmp_path), show=True,
                                                             cfg_options=tiny_opts(tiny_data, 2)))


TOOLS = Path(__file__).resolve().parents[2] / "tools"


def test_ddp_two_processes_one_set_of_outputs_and_full_validation(tmp_path, tiny_data, tiny_opts, mlflow_env):
    # EPE (mean pixel error) is non-zero even for an untrained model and changes with any lost,
    # duplicated or extra sample, so it shows whether validation covered the whole set once.
    cfg = tmp_path / "ddp.py"
    cfg.write_text(f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n"
                   "val_evaluator = [_base_.val_evaluator, dict(type='EPE')]\ntest_evaluator = val_evaluator\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PORT": str(free_port()), "PYTHON": sys.executable}
    opts = tiny_opts(tiny_data, 1, **{"train_dataloader.batch_size": 2, "val_dataloader.batch_size": 3})
    opts = [o.replace("val_evaluator.ann_file", "val_evaluator.0.ann_file").replace("test_evaluator.ann_file", "test_evaluator.0.ann_file") for o in opts]
    cmd = ["bash", str(TOOLS / "dist_train.sh"), str(cfg), "2", "--work-dir", "ddp", "--cfg-options", *opts]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    work = tmp_path / "ddp"
    assert len(list(work.glob("*/*.log"))) == 1  # one log, written by rank 0
    assert sorted(p.name for p in work.glob("epoch_*.pth")) == ["epoch_1.pth"]
    val_lines = [l for l in proc.stdout.splitlines() if "Epoch(val) [1]" in l]
    assert len(val_lines) == 1
    ddp_epe = float(val_lines[0].split("EPE: ")[1].split()[0])
    # a single-process evaluation of the same checkpoint gives the same numbers (all ranks gathered)
    single = jobs.test(str(cfg), str(work / "epoch_1.pth"), jobs.TestOptions(work_dir=str(tmp_path / "t"), cfg_options=opts))
    assert ddp_epe > 0
    assert single["coco/EPE"] == pytest.approx(ddp_epe, abs=1e-4)
    _one_set_of_validation_pictures(mlflow_env, cfg, opts)


def _one_set_of_validation_pictures(uri, cfg, opts):
    """Rank 0 alone logs the pictures and tables, of every rank's samples, each once."""
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.artifacts import download_artifacts

    from mlpose.config import load_config
    from mlpose.registry import DATASETS, build

    client = MlflowClient(uri)
    run = next(r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
               if r.data.tags.get("mlpose.world_size") == "2")
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images") ]
    for key in ("coco~samples", "coco~failures", "coco~per_keypoint"):
        assert len([p for p in images if p.startswith(f"images/{key}+step+") and p.endswith(".png")]) == 1, key
    rows = pd.read_json(download_artifacts(run_id=run.info.run_id, artifact_path="coco_samples.json"), orient="split")
    num_val = len(build(load_config(str(cfg), opts).val_dataloader.dataset, DATASETS))
    assert len(rows) == rows["annotation_id"].nunique() == num_val  # both ranks' shares, padding repeats dropped
