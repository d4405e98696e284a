"""``mlpose test --out/--dump`` and ``mlpose evaluate --out`` never write over an input or each
other, and refuse before the job starts (no MLflow run, nothing evaluated); a bad predictions
file for ``evaluate`` is refused before its run and log folder exist."""
import pytest
from mlflow import MlflowClient

from mlpose.engine import jobs
from mlpose.errors import ConfigError


def _no_runs(uri: str) -> bool:
    client = MlflowClient(uri)
    return not client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_test_outputs_are_checked_before_the_run(pose_checkpoint, tiny_data, tiny_opts, mlflow_env, tmp_path):
    weights = pose_checkpoint.read_bytes()
    opts = dict(work_dir=str(tmp_path / "t"), cfg_options=tiny_opts(tiny_data, 1, width=8))
    with pytest.raises(ConfigError, match=f"--dump {pose_checkpoint} is an input of this command"):
        jobs.test("tiny", str(pose_checkpoint), jobs.TestOptions(dump=str(pose_checkpoint), **opts))
    with pytest.raises(ConfigError, match="--out and --dump both name .*m.json; one would overwrite the other"):
        jobs.test("tiny", str(pose_checkpoint), jobs.TestOptions(out=str(tmp_path / "m.json"),
                                                                  dump=str(tmp_path / "m.json"), **opts))
    assert pose_checkpoint.read_bytes() == weights and _no_runs(mlflow_env)


def test_evaluate_out_is_never_the_predictions(tiny_data, mlflow_env, tmp_path):
    preds = tmp_path / "preds.json"
    preds.write_text('[{"image_id": 1, "keypoints": [1, 2, 3]}]')
    gt = str(tiny_data / "annotations" / "person_keypoints_val.json")
    with pytest.raises(ConfigError, match=f"--out {preds} is an input of this command"):
        jobs.evaluate_predictions("tiny", str(preds), [], out=str(preds), ann_file=gt)
    with pytest.raises(ConfigError, match="entry 0 .* has 1 keypoints but the evaluated layout .* has 17"):
        jobs.evaluate_predictions("tiny", str(preds), [], ann_file=gt)
    assert preds.read_text().startswith('[{"image_id": 1') and _no_runs(mlflow_env)
    assert not (tmp_path / "work_dirs").exists()  # not even an empty log folder
