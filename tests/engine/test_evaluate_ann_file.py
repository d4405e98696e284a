"""``mlpose evaluate PREDICTIONS --ann-file GT.json [CONFIG]``: one option instead of five overrides."""
import json

import pytest

from mlpose.engine import jobs
from mlpose.errors import ConfigError


def test_ann_file_gives_the_metrics_of_the_full_overrides(pose_checkpoint, tiny_data, tiny_opts, mlflow_env,
                                                          tmp_path, run_cli):
    opts = tiny_opts(tiny_data, 2, width=8)
    dump = tmp_path / "d.json"
    metrics = jobs.test("tiny", str(pose_checkpoint), jobs.TestOptions(work_dir=str(tmp_path / "t"), dump=str(dump),
                                                                      cfg_options=opts))
    gt = tiny_data / "annotations" / "person_keypoints_val.json"
    proc = run_cli(["evaluate", str(dump), "--ann-file", str(gt), "tiny", "--out", str(tmp_path / "m.json")],
                   cwd=tmp_path)  # no data root, image folder, detections or evaluator overrides
    assert json.loads((tmp_path / "m.json").read_text()) == pytest.approx(metrics), proc.stdout
    # the CONFIG PREDICTIONS form stays: tests/engine/test_test_and_ddp.py


def test_missing_files_are_one_line(tmp_path, mlflow_env):
    with pytest.raises(ConfigError, match="predictions file .* does not exist"):
        jobs.evaluate_predictions("tiny", str(tmp_path / "none.json"), [])
    (tmp_path / "p.json").write_text("[]")
    with pytest.raises(ConfigError, match="--ann-file .*no such file"):
        jobs.evaluate_predictions("tiny", str(tmp_path / "p.json"), [], ann_file=str(tmp_path / "gt.json"))
