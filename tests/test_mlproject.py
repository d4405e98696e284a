"""MLproject entry points: parameter parsing, CLI mapping, and `mlflow run` leaving exactly one run."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.projects._project_spec import load_project

from mlpose.errors import ConfigError
from mlpose.tracking import Tracker
from mlpose.mlproject import (ENTRY_POINTS, cli_args, parse_bool, parse_count, parse_params,
                                       restore_status_when_released, torchrun_command)

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("text, value", [("true", True), ("True", True), ("1", True), ("YES", True),
                                          ("false", False), ("False", False), ("0", False), ("no", False)])
def test_parse_bool(text, value):
    assert parse_bool(text, "amp") is value


def test_bad_values_are_clear_errors():
    with pytest.raises(ConfigError, match="amp='maybe'.*true/false"):
        parse_bool("maybe", "amp")
    assert parse_count("4.0", "nproc") == 4 and parse_count("", "n_trials") is None
    for bad in ("2.5", "0", "two"):
        with pytest.raises(ConfigError, match="whole number"):
            parse_count(bad, "nproc")


def test_undeclared_parameters_are_rejected():
    with pytest.raises(ConfigError, match="has no parameter 'lr'.*declared: config, amp.*cfg_options="):
        parse_params(["train", "--config", "tiny", "--lr", "0.1"])
    with pytest.raises(ConfigError, match="unknown MLproject entry point 'fit'"):
        parse_params(["fit"])
    with pytest.raises(ConfigError, match="has no value"):
        parse_params(["resume", "--run_id"])


def test_cli_arguments_per_entry_point():
    train = dict(config="res50", amp="True", work_dir="", cfg_options="train_cfg.max_epochs=2 'a.b=[1, 2]'",
                 launcher="none", nproc="1", resume="")
    assert cli_args("train", train) == ["train", "res50", "--amp", "--cfg-options", "train_cfg.max_epochs=2", "a.b=[1, 2]"]
    assert cli_args("train", {**train, "amp": "false", "cfg_options": "", "work_dir": "w", "resume": "true"}) == [
        "train", "res50", "--work-dir", "w", "--resume", "auto"]
    assert cli_args("train", {**train, "amp": "0", "cfg_options": "", "resume": "runs/x.pth"})[-2:] == ["--resume", "runs/x.pth"]
    assert cli_args("test", dict(config="res50", checkpoint="runs:/abc/checkpoints/best.pth", cfg_options="")) == [
        "test", "res50", "runs:/abc/checkpoints/best.pth"]
    assert cli_args("resume", dict(run_id="abc")) == ["resume", "abc"]
    assert cli_args("sweep", dict(config="tiny", n_trials="8", storage="", study_name="s")) == [
        "sweep", "tiny", "--n-trials", "8", "--study-name", "s"]
    with pytest.raises(ConfigError, match="needs -P config"):
        cli_args("train", {**train, "config": ""})


def test_nproc_starts_torchrun_with_pytorch_launcher():
    cmd = torchrun_command(["train", "tiny", "--launcher", "pytorch"], 2)
    assert cmd[:4] == [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=2" in cmd and cmd[-4:] == ["train", "tiny", "--launcher", "pytorch"]
    with pytest.raises(ConfigError, match="launcher=pytorch"):
        torchrun_command(["train", "tiny", "--launcher", "slurm"], 2)


def test_mlproject_file_declares_what_the_parser_accepts():
    project = load_project(str(REPO))
    assert project.env_type == "python_env" and project.env_config_path.endswith("python_env.yaml")
    for name, params in ENTRY_POINTS.items():
        entry = project.get_entry_point(name)
        assert tuple(entry.parameters) == params, name
        assert f"mlpose.mlproject {name}" in entry.command
    train = project.get_entry_point("train").parameters
    assert train["nproc"].type == "float" and train["nproc"].default == 1
    assert train["amp"].default == "false" and train["config"].default is None  # config is required


@pytest.fixture
def store(tmp_path, monkeypatch, empty_mlflow_store):
    shutil.copy(empty_mlflow_store, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return MlflowClient(uri)


def mlflow_run(*args):
    return subprocess.run([sys.executable, "-m", "mlflow", "run", str(REPO), "--env-manager", "local", *args],
                          capture_output=True, text=True, timeout=300)


def active_runs(client):
    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return client.search_runs(exps, run_view_type=ViewType.ACTIVE_ONLY)


def wait_for(condition, timeout=30.0):
    deadline = time.time() + timeout
    while not condition() and time.time() < deadline:
        time.sleep(0.2)
    return condition()


def test_mlflow_run_resume_leaves_exactly_the_resumed_run(store):
    target = Tracker.start({}, config_name="tiny")
    target.finish("KILLED")
    done = mlflow_run("-e", "resume", "-P", f"run_id={target.run_id}")
    assert "Running command 'python -m mlpose.mlproject resume" in done.stderr
    # Whether or not the resume itself succeeded, the launcher's run is gone once mlflow run is.
    assert wait_for(lambda: [r.info.run_id for r in active_runs(store)] == [target.run_id]), done.stderr[-2000:]
    exps = [e.experiment_id for e in store.search_experiments(view_type=ViewType.ALL)]
    deleted = store.search_runs(exps, run_view_type=ViewType.DELETED_ONLY)
    assert [r.data.tags["mlpose.resumed_run_id"] for r in deleted] == [target.run_id]


def test_mlflow_run_resume_of_unknown_run_fails_clearly(store):
    done = mlflow_run("-e", "resume", "-P", "run_id=0123456789abcdef0123456789abcdef")
    assert done.returncode != 0
    assert "cannot resume: MLflow run '0123456789abcdef0123456789abcdef' not found" in done.stderr
    assert "Traceback" not in done.stderr.split("=== Running command")[-1].split("ERROR mlflow.cli")[0]
    assert wait_for(lambda: active_runs(store) == [])


def test_mlflow_run_rejects_undeclared_parameter(store):
    done = mlflow_run("-e", "train", "-P", "config=tiny", "-P", "lr=0.1")
    assert done.returncode != 0
    assert "entry point 'train' has no parameter 'lr'" in done.stderr


def test_status_written_by_mlflow_run_is_put_back(store):
    tracker = Tracker.start({}, config_name="tiny")
    tracker.finish("KILLED")
    store.set_terminated(tracker.run_id, "FAILED")  # what `mlflow run` does after Ctrl-C
    launcher = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    restore_status_when_released(tracker.run_id, launcher.pid, poll_s=0.1)  # returns once it exits
    assert launcher.poll() is not None
    assert store.get_run(tracker.run_id).info.status == "KILLED"
