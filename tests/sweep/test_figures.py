"""Optuna's figures on the sweep parent run, and MLflow's system metrics on trial runs."""
import optuna
from mlflow import MlflowClient

from mlpose.sweep import run_sweep
from mlpose.sweep.figures import StudyFigures

FIGURES = {"optuna/optimization_history.png", "optuna/parallel_coordinate.png", "optuna/param_importances.png"}


def artifacts(client, run_id) -> set:
    return {a.path for a in client.list_artifacts(run_id, "optuna")}


def test_figures_follow_the_trials_and_importances_wait_for_two(mlflow_env):
    client = MlflowClient(mlflow_env)
    run_id = client.create_run("0").info.run_id
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    figures = StudyFigures(client, run_id, "synth/EPE")
    assert figures(study) == [] and artifacts(client, run_id) == set()  # no trial yet: nothing to draw

    def objective(trial):
        return trial.suggest_float("lr", 1e-4, 1e-2, log=True) * 100 + trial.suggest_int("seed", 0, 3)

    study.optimize(objective, n_trials=1, callbacks=[figures])
    assert artifacts(client, run_id) == FIGURES - {"optuna/param_importances.png"}
    study.optimize(objective, n_trials=3, callbacks=[figures])
    assert artifacts(client, run_id) == FIGURES
    sizes = {a.path: a.file_size for a in client.list_artifacts(run_id, "optuna")}
    assert all(size > 5000 for size in sizes.values()), sizes  # real pictures, not empty canvases


def test_sweep_parent_has_the_figures_and_trials_have_system_metrics(workspace):
    result = run_sweep(workspace.config, cfg_options=workspace.options(**{"sweep.sampler": "random"}),
                       n_trials=2, study_name="figs")
    parent = result["parent_run_id"]
    assert artifacts(workspace.client, parent) == FIGURES
    children = workspace.runs(parent)
    assert len(children) == 2
    for run in children:  # one sample at least, even for a trial shorter than the 10 s interval
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(run.data.metrics)
    assert not any(k.startswith("system/") for k in workspace.client.get_run(parent).data.metrics)
