"""MLflow's system metrics and the dataset inputs of real tiny trainings: a new run, the same
run resumed by id, and a run with system metrics off."""
import pytest
from mlflow import MlflowClient

from mlpose.config import load_config
from mlpose.engine import jobs
from mlpose.engine.options import TestOptions, TrainOptions
from mlpose.errors import ConfigError

SYSTEM_KEYS = {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes",
               "system/disk_usage_percentage", "system/network_receive_megabytes"}


def system_steps(client, run_id) -> dict:
    """key -> sorted steps of every ``system/`` metric of the run."""
    keys = [k for k in client.get_run(run_id).data.metrics if k.startswith("system/")]
    return {k: sorted(m.step for m in client.get_metric_history(run_id, k)) for k in keys}


@pytest.fixture
def trained(mlflow_env, tiny_data, tiny_opts):
    """A 1-epoch tiny run sampling system metrics every 0.2 s, then resumed by run id to 2 epochs."""
    opts = tiny_opts(tiny_data, 1, width=8) + ["tracking.system_metrics_interval=0.2", "tracking.log_model=False"]
    first = jobs.train("tiny", TrainOptions(work_dir="run", cfg_options=opts))
    client = MlflowClient(mlflow_env)
    before = system_steps(client, first["run_id"])
    jobs.resume_run(first["run_id"], ["train_cfg.max_epochs=2"], work_dir="resumed")
    return client, first["run_id"], before


def test_new_and_resumed_runs_have_system_metrics_and_datasets_once(trained):
    client, run_id, before = trained
    assert SYSTEM_KEYS <= set(before), sorted(before)
    after = system_steps(client, run_id)
    for key in SYSTEM_KEYS:
        steps = after[key]
        assert len(steps) == len(set(steps)), f"{key}: a step logged twice after the resume"
        assert steps[: len(before[key])] == before[key] and len(steps) > len(before[key])
    assert client.get_run(run_id).data.metrics["epoch"] == 2
    # the datasets are the run's inputs once, not once per attach
    inputs = client.get_run(run_id).inputs.dataset_inputs
    names = sorted((i.dataset.name, {t.key: t.value for t in i.tags}["mlflow.data.context"]) for i in inputs)
    assert names == [("coco/train", "training"), ("coco/val", "validation")]


@pytest.mark.slow  # a second training run; the switch's config path is covered by the interval test
def test_system_metrics_off(mlflow_env, tiny_data, tiny_opts):
    opts = tiny_opts(tiny_data, 1, width=8) + ["tracking.system_metrics=False", "tracking.log_model=False"]
    out = jobs.train("tiny", TrainOptions(work_dir="run", cfg_options=opts))
    assert system_steps(MlflowClient(mlflow_env), out["run_id"]) == {}


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_sampling_interval_not_above_zero_is_refused_at_load(value):
    with pytest.raises(ConfigError, match=r"tracking.system_metrics_interval: .* above 0"):
        load_config("tiny", [f"tracking.system_metrics_interval={value}"])


@pytest.mark.slow  # `mlflow run` + a test job: ~1.5 min on 2 cores; CI keeps the new/resumed run test
def test_run_made_by_mlflow_run_gets_system_metrics_and_a_test_job_its_test_set(
        mlflow_env, tiny_data, tiny_opts, pose_checkpoint, monkeypatch):
    client = MlflowClient(mlflow_env)
    launcher_run = client.create_run("0").info.run_id  # what `mlflow run` creates and exports
    monkeypatch.setenv("MLFLOW_RUN_ID", launcher_run)
    opts = tiny_opts(tiny_data, 1, width=8) + ["tracking.log_model=False"]
    jobs.test("tiny", str(pose_checkpoint), TestOptions(work_dir="test", cfg_options=opts))
    run = client.get_run(launcher_run)
    assert "system/cpu_utilization_percentage" in run.data.metrics  # attached: the same run
    (item,) = run.inputs.dataset_inputs
    assert item.dataset.name == "coco/test"
    assert [(t.key, t.value) for t in item.tags] == [("mlflow.data.context", "test")]
