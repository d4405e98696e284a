"""A run's models: each checkpoint a LoggedModel with its step and that step's metrics linked, the
superseded ones deleted with their artifacts, registry aliases best and last."""
import urllib.parse
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlpose.errors import ConfigError
from mlpose.inference.pyfunc import input_example
from mlpose.tracking import Tracker
from mlpose.tracking.models import ROLE_TAG, run_models

VAL = {"coco/AP": 0.25, "coco/AP (M)": 0.5}


def _folder(model) -> Path:
    return Path(urllib.parse.urlsplit(model.artifact_location).path)


def _validate(tracker, step: int, ap: float) -> dict:
    metrics = {**VAL, "coco/AP": ap}
    tracker.log_metrics({"loss": 1.0 / step}, step)
    tracker.log_metrics(metrics, step)
    return metrics


def test_a_checkpoint_becomes_a_pose_model_with_its_step_and_metrics(uri, pose_checkpoint):
    tracker = Tracker.start({}, config_name="models")
    tracker.log_model(pose_checkpoint, "best", 10, _validate(tracker, 10, 0.25))
    tracker.finish()
    client = MlflowClient(uri)
    run = client.get_run(tracker.run_id)
    model = client.get_logged_model(run.data.tags["mlpose.model.best"].split("/")[-1])
    assert (model.name, str(model.status), model.source_run_id) == ("best", "READY", tracker.run_id)
    assert model.tags[ROLE_TAG] == "best" and model.model_type == "pose"
    assert sorted((m.key, m.step, m.value) for m in model.metrics) == [("coco/AP", 10, 0.25), ("coco/AP_M", 10, 0.5)]
    assert [(o.model_id, o.step) for o in run.outputs.model_outputs] == [(model.model_id, 10)]
    for key in ("coco/AP", "coco/AP_M", "loss"):  # linking re-used the logged points: the histories are unchanged
        assert [(m.step, m.value) for m in client.get_metric_history(tracker.run_id, key)] == \
            [(10, {"coco/AP": 0.25, "coco/AP_M": 0.5, "loss": 0.1}[key])]
    (answer,) = mlflow.pyfunc.load_model(f"models:/{model.model_id}").predict(input_example())
    assert len(answer["poses"]) == 1 and len(answer["poses"][0]["keypoints"]) == 17


def test_only_the_current_best_and_last_models_are_kept(uri, pose_checkpoint):
    tracker = Tracker.start({}, config_name="models")
    for step, ap in ((10, 0.1), (20, 0.3)):
        metrics = _validate(tracker, step, ap)
        tracker.log_model(pose_checkpoint, "best", step, metrics)
        tracker.log_model(pose_checkpoint, "last", step, metrics)
    tracker.log_model(pose_checkpoint, "last", 30, {})  # an epoch without validation: nothing to link
    tracker.flush(uploads=True)
    client = MlflowClient(uri)
    logged = [o.model_id for o in client.get_run(tracker.run_id).outputs.model_outputs]
    kept = run_models(client, tracker.experiment_id, tracker.run_id)
    assert len(logged) == 5 and len(kept) == 2
    assert sorted((m.name, [(x.key, x.step) for x in m.metrics or [] if x.key == "coco/AP"]) for m in kept) == \
        [("best", [("coco/AP", 20)]), ("last", [])]
    assert all((_folder(m) / "artifacts" / "checkpoint.pth").is_file() for m in kept)
    models_dir = _folder(kept[0]).parents[1]  # .../models/<model id>/artifacts
    gone = set(logged) - {m.model_id for m in kept}
    assert len(gone) == 3 and not any((models_dir / g / "artifacts").exists() for g in gone)
    for model_id in gone:
        with pytest.raises(MlflowException, match="not found"):
            client.get_logged_model(model_id)
    tags = client.get_run(tracker.run_id).data.tags
    assert {tags["mlpose.model.best"], tags["mlpose.model.last"]} == {f"models:/{m.model_id}" for m in kept}
    tracker.finish()


def test_log_model_all_keeps_every_model_and_false_keeps_none(uri, pose_checkpoint):
    counts = {}
    for policy in ("all", False):
        tracker = Tracker.start({"tracking": {"log_model": policy}}, config_name=f"models-{policy}")
        for step in (10, 20):
            tracker.log_model(pose_checkpoint, "best", step, _validate(tracker, step, step / 100))
        tracker.finish()
        counts[policy] = len(run_models(MlflowClient(uri), tracker.experiment_id, tracker.run_id))
    assert counts == {"all": 2, False: 0}
    with pytest.raises(ConfigError, match="tracking.log_model='sometimes': use True .*, 'all' .* or False"):
        Tracker.start({"tracking": {"log_model": "sometimes"}}, config_name="models")


def test_register_sets_aliases_best_and_last_and_keeps_registered_models(uri, pose_checkpoint):
    tracker = Tracker.start({}, config_name="models")
    metrics = _validate(tracker, 10, 0.2)
    tracker.log_model(pose_checkpoint, "best", 10, metrics)
    tracker.log_model(pose_checkpoint, "last", 10, metrics)
    assert tracker.register_models("pose-reg") == {"best": "1", "last": "2"}
    client = MlflowClient(uri, registry_uri=uri)
    tags = client.get_run(tracker.run_id).data.tags
    for alias in ("best", "last"):
        version = client.get_model_version_by_alias("pose-reg", alias)
        assert version.source == tags[f"mlpose.model.{alias}"] and version.run_id == tracker.run_id
    newest = max(int(v.version) for v in client.search_model_versions("name='pose-reg'"))
    assert newest == 2  # models:/pose-reg/latest is @last
    first_best = tags["mlpose.model.best"]
    tracker.log_model(pose_checkpoint, "best", 20, _validate(tracker, 20, 0.4))  # a new best ...
    assert tracker.register_models("pose-reg") == {"best": "3", "last": "2"}  # ... a new version; last keeps its
    kept = {f"models:/{m.model_id}" for m in run_models(client, tracker.experiment_id, tracker.run_id)}
    assert first_best in kept and len(kept) == 3  # registered: never deleted under version 1
    tracker.finish()
    state = mlflow.pyfunc.load_model("models:/pose-reg@best").metadata.model_id
    assert f"models:/{state}" == client.get_run(tracker.run_id).data.tags["mlpose.model.best"]
