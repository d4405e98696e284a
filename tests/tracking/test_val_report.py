"""Validation pictures and tables of real tiny trainings, read back through ``MlflowClient``:
step images per dataset prefix, the per-sample and per-keypoint tables, ``--show-dir`` files
uploaded once, multi-dataset prefixes, the config keys; and the tracker calls underneath."""
import json
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts

from mlpose.config import load_config, resolve_config_path
from mlpose.datasets import AIC_TO_COCO
from mlpose.engine import jobs
from mlpose.errors import ConfigError
from mlpose.tracking import Tracker

REPO = Path(__file__).resolve().parents[2]
KEYPOINTS = 17
SAMPLE_COLUMNS = ["step", "dataset", "image_id", "annotation_id", "oks", "score", "mean_error_px"]
KEYPOINT_COLUMNS = ["step", "dataset", "keypoint", "keypoint_index", "pck", "pck_thr", "mean_error_px", "num_visible"]


def artifact_files(client, run_id, path=None):
    for f in client.list_artifacts(run_id, path):
        yield from artifact_files(client, run_id, f.path) if f.is_dir else [f.path]


def step_images(files) -> dict[str, list[tuple[int, str]]]:
    """key -> sorted [(step, full-size png path)] of the run's step images."""
    out: dict[str, list] = {}
    for f in files:
        m = re.fullmatch(r"images/(.+)\+step\+(\d+)\+timestamp\+\d+\+[0-9a-f-]+\.png", f)
        if m:
            out.setdefault(m.group(1).replace("~", "/"), []).append((int(m.group(2)), f))
    return {k: sorted(v) for k, v in out.items()}


def table(run_id, name) -> pd.DataFrame:
    return pd.read_json(download_artifacts(run_id=run_id, artifact_path=name), orient="split")


@pytest.fixture
def train_run(mlflow_env, tmp_path, tiny_data, tiny_opts):
    def run(epochs, config="tiny", extra=(), **opts):
        options = opts.pop("cfg_options", None) or tiny_opts(tiny_data, epochs, width=8)
        quick = ["tracking.log_model=False", "tracking.log_checkpoints=none"]  # not what these tests are about
        res = jobs.train(config, jobs.TrainOptions(work_dir=str(tmp_path / "work"), cfg_options=[*options, *quick, *extra],
                                                   **opts))
        client = MlflowClient(mlflow_env)
        return res, client, sorted(artifact_files(client, res["run_id"]))
    return run


def test_step_images_tables_and_show_dir_uploaded_once(train_run):
    res, client, files = train_run(2, show_dir="pics")  # iterations per epoch: 12 images -> 8 of batch 4
    run_id, steps = res["run_id"], [8, 16]
    images = step_images(files)
    assert sorted(images) == ["coco/failures", "coco/per_keypoint", "coco/samples"]
    for key, shots in images.items():
        assert [s for s, _ in shots] == steps, key  # one image per validation, on the global-iteration axis
    grids = [cv2.imread(download_artifacts(run_id=run_id, artifact_path=p)) for _, p in images["coco/samples"]]
    assert grids[0].shape == grids[1].shape and grids[0].shape[1] == 4 * 144 + 3 * 2  # 8 samples: 2 rows of 4
    # the same samples at both steps: the crops agree except where the prediction is drawn
    assert (grids[0] == grids[1]).all(axis=-1).mean() > 0.7
    assert client.get_run(run_id).data.tags.get("mlflow.loggedImages") == "True"

    # --show-dir pictures under show/ only; curves.png under plots/ only; the logs keep the rest
    shown = {f for f in files if f.startswith("show/")}
    assert shown and not any(f.startswith("logs/pics") for f in files)
    assert "plots/curves.png" in files and not any(f.endswith("curves.png") and f != "plots/curves.png" for f in files)
    assert any(re.fullmatch(r"logs/\d+_\d+\.log", f) for f in files)

    samples = table(run_id, "coco_samples.json")
    assert list(samples.columns[:7]) == SAMPLE_COLUMNS and samples.shape[1] == 7 + KEYPOINTS
    assert set(samples["step"]) == {16}  # replaced at each validation: the last one's rows
    # one row per validation sample: the pictures --show-dir drew of every sample (IMGID_ANNID.jpg)
    assert {f"show/{i}_{a}.jpg" for i, a in zip(samples["image_id"], samples["annotation_id"])} == shown
    assert samples["oks"].between(0, 1).all() and list(samples["oks"]) == sorted(samples["oks"])
    worst = samples.sort_values(["oks", "annotation_id"]).head(8)
    assert list(worst["annotation_id"]) == list(samples["annotation_id"][:8])
    per_kpt_cols = [c for c in samples.columns if c.startswith("error_px_")]
    np.testing.assert_allclose(samples[per_kpt_cols].mean(axis=1, skipna=True), samples["mean_error_px"], rtol=1e-3)

    kpts = table(run_id, "coco_per_keypoint.json")
    assert list(kpts.columns) == KEYPOINT_COLUMNS
    assert kpts.groupby("step").size().to_dict() == {8: KEYPOINTS, 16: KEYPOINTS}  # appended per validation
    assert kpts["keypoint"][:3].tolist() == ["nose", "left_eye", "right_eye"] and set(kpts["pck_thr"]) == {0.05}
    logged = json.loads(client.get_run(run_id).data.tags["mlflow.loggedArtifacts"])
    assert {"path": "coco_samples.json", "type": "table"} in logged  # the UI's table view lists them
    assert {"path": "coco_per_keypoint.json", "type": "table"} in logged


def _multi_config(tmp_path: Path, root: Path) -> str:
    coco = (f"dict(type='CocoDataset', data_root='{root}', ann_file='annotations/person_keypoints_val.json', "
            "data_prefix=dict(img='images/val/'), test_mode=True)")
    convert = f"dict(type='KeypointConverter', num_keypoints=17, mapping={[tuple(p) for p in AIC_TO_COCO]})"
    aic = (f"dict(type='AicDataset', data_root='{root}', ann_file='annotations/aic_val.json', "
           f"data_prefix=dict(img='images/val/'), test_mode=True, pipeline=[{convert}])")
    path = tmp_path / "tiny-coco-aic.py"
    path.write_text(
        f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n"
        f"val_dataloader = dict(dataset=dict(_delete_=True, type='CombinedDataset', datasets=[{coco}, {aic}], "
        f"metainfo=dict(from_file='{REPO}/experiments/_base_/datasets/coco.py'), pipeline=_base_.val_pipeline, "
        "test_mode=True))\n"
        "val_evaluator = dict(_delete_=True, type='MultiDatasetEvaluator', datasets=val_dataloader['dataset']['datasets'], "
        f"metrics=[dict(type='CocoMetric', ann_file='{root}/annotations/person_keypoints_val.json'), "
        f"dict(type='CocoMetric', ann_file='{root}/annotations/aic_val.json', use_area=False, gt_converter={convert}, "
        "prefix='aic')])\ntest_dataloader = val_dataloader\ntest_evaluator = val_evaluator\n")
    return str(path)


def test_multi_dataset_validation_gives_each_prefix_its_own_keys(train_run, tmp_path, tiny_data, tiny_opts):
    opts = [o for o in tiny_opts(tiny_data, 1, width=8) if not o.startswith(("val_", "test_"))]
    res, client, files = train_run(1, config=_multi_config(tmp_path, tiny_data), cfg_options=opts,
                                   extra=["tracking.num_failure_images=0"])
    assert {"coco/AP", "aic/AP"} <= set(res["metrics"])
    images = step_images(files)
    assert sorted(images) == ["aic/per_keypoint", "aic/samples", "coco/per_keypoint", "coco/samples"]
    assert all([s for s, _ in v] == [8] for v in images.values())
    coco, aic = table(res["run_id"], "coco_samples.json"), table(res["run_id"], "aic_samples.json")
    assert set(coco["dataset"]) == {"coco"} and set(aic["dataset"]) == {"aic"}
    assert len(aic) > 0 and aic["oks"].notna().any()  # OKS in the COCO layout the model predicts in
    assert set(table(res["run_id"], "aic_per_keypoint.json")["dataset"]) == {"aic"}


def test_config_keys_are_checked(tiny_data, tiny_opts, tmp_path):
    base = tiny_opts(tiny_data, 1, width=8)
    with pytest.raises(ConfigError, match="num_step_image"):
        load_config("tiny", [*base, "tracking.num_step_image=3"])
    with pytest.raises(ConfigError, match="log_breakdown"):
        load_config("tiny", [*base, "tracking.log_breakdown=3"])
    cfg = load_config("tiny", base)
    assert (cfg.tracking.num_step_images, cfg.tracking.num_failure_images, cfg.tracking.log_breakdown) == (8, 8, True)
    with pytest.raises(ConfigError, match=r"tracking\.num_failure_images: expected a count >= 0.*-1"):
        jobs.train("tiny", jobs.TrainOptions(work_dir=str(tmp_path), cfg_options=[
            *base, "tracking.enabled=False", "tracking.num_failure_images=-1"]))


def test_images_are_made_on_the_upload_thread_and_tables_replace_or_append(uri):
    tracker = Tracker.start({}, config_name="media")
    made_on = []

    def image():
        made_on.append(threading.current_thread())
        return np.zeros((4, 6, 3), np.uint8)

    tracker.log_image("val set/samples", image, 3)
    tracker.log_table({"a": [1, 2]}, "t.json")
    tracker.log_table({"a": [3]}, "t.json")  # appended
    tracker.log_table({"a": [1]}, "r.json")
    tracker.log_table(lambda: {"a": [9]}, "r.json", replace=True)
    tracker.finish()
    assert made_on and made_on[0] is not threading.main_thread()
    files = list(artifact_files(MlflowClient(uri), tracker.run_id))
    assert any(f.startswith("images/val set~samples+step+3+") for f in files)
    assert table(tracker.run_id, "t.json")["a"].tolist() == [1, 2, 3]
    assert table(tracker.run_id, "r.json")["a"].tolist() == [9]
    resumed = Tracker.start({}, config_name="media", run_id=tracker.run_id)  # a new process attaching
    resumed.log_table({"a": [4]}, "t.json")
    resumed.finish()
    assert table(tracker.run_id, "t.json")["a"].tolist() == [1, 2, 3, 4]  # the stored rows are kept


def test_folder_upload_leaves_out_files_uploaded_on_their_own(uri, tmp_path):
    logs = tmp_path / "logs"
    (logs / "pics").mkdir(parents=True)
    for name in ("run.log", "curves.png", "pics/1_2.jpg"):
        (logs / name).write_text(name)
    tracker = Tracker.start({}, config_name="folder")
    tracker.log_artifact(logs / "curves.png", "plots")
    tracker.log_artifact(logs / "pics" / "1_2.jpg", "show")
    tracker.log_artifact(logs, "logs")
    tracker.finish()
    files = sorted(f for f in artifact_files(MlflowClient(uri), tracker.run_id) if not f.startswith("config/"))
    assert files == ["logs/run.log", "plots/curves.png", "show/1_2.jpg"]
    assert not any(p.name.startswith(".mlpose-upload-") for p in tmp_path.iterdir())  # staging removed
