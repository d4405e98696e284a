"""The parent run's summary, from a study of recorded trials (no training)."""
import json
import math
import shutil
import statistics

import optuna
import pytest
from mlflow import MlflowClient
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from mlpose.sweep.space import parse_sweep
from mlpose.sweep.summary import param_summaries, trial_rows, write_summary

LR, SEED = "optim_wrapper.optimizer.lr", "randomness.seed"
DISTS = {LR: FloatDistribution(1e-4, 1e-1, log=True), SEED: CategoricalDistribution((0, 1, 2))}


def make_study(points, direction="maximize"):
    study = optuna.create_study(direction=direction)
    for i, (lr, seed, value, state) in enumerate(points):
        study.add_trial(optuna.trial.create_trial(
            params={LR: lr, SEED: seed}, distributions=DISTS, value=value, state=state,
            user_attrs={"mlflow_run_id": f"run{i}"}, intermediate_values={1: value} if value is not None else {}))
    return study


def spec_of(direction="maximize"):
    return parse_sweep({"sweep": {"metric": "coco/AP (M)", "direction": direction, "params": {
        LR: dict(type="float", low=1e-4, high=1e-1, log=True), SEED: dict(type="categorical", choices=[0, 1, 2])}}}, "c.py")


@pytest.fixture
def parent(tmp_path, monkeypatch, empty_mlflow_store):
    monkeypatch.chdir(tmp_path)
    shutil.copy(empty_mlflow_store, tmp_path / "mlflow.db")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return client, client.create_run("0").info.run_id


def test_summary_on_the_parent_run(parent, tmp_path):
    client, run_id = parent
    C = TrialState.COMPLETE
    study = make_study([(1e-3, 0, 0.50, C), (1e-3, 1, 0.60, C), (1e-2, 0, 0.70, C), (1e-2, 1, 0.20, C),
                        (1e-3, 2, None, TrialState.PRUNED), (1e-2, 2, None, TrialState.FAIL)])
    out = write_summary(client, run_id, study, spec_of())

    run = client.get_run(run_id)
    m, tags = run.data.metrics, run.data.tags
    assert out["best"]["number"] == 2 and tags["best.run_id"] == "run2" and tags["best.trial"] == "2"
    assert tags[f"best.{LR}"] == "0.01" and tags[f"best.{SEED}"] == "0"
    assert m["best/coco/AP_M"] == 0.70  # 'coco/AP (M)' mapped to a valid MLflow key
    assert (m["trials/complete"], m["trials/pruned"], m["trials/failed"]) == (4, 1, 1)
    assert m[f"by/{SEED}/0/mean"] == pytest.approx(0.60) and m[f"by/{SEED}/0/std"] == pytest.approx(statistics.stdev([0.5, 0.7]))
    assert m[f"by/{LR}/0.001/mean"] == pytest.approx(0.55) and m[f"by/{LR}/0.01/count"] == 2
    assert f"by/{SEED}/2/mean" not in m  # seed 2 has no complete trial
    history = client.get_metric_history(run_id, "best/coco/AP_M")
    assert [h.step for h in history] == [6]  # finished trials so far

    path = client.download_artifacts(run_id, "summary/params.json", str(tmp_path))
    summary = json.loads(open(path).read())
    assert summary["best"]["params"] == {LR: 0.01, SEED: 0}
    assert set(summary["importance"]) == {LR, SEED} and math.isclose(sum(summary["importance"].values()), 1.0)
    trials = json.loads(open(client.download_artifacts(run_id, "summary/trials.json", str(tmp_path))).read())
    assert [t["state"] for t in trials] == ["COMPLETE"] * 4 + ["PRUNED", "FAIL"]
    plots = sorted(a.path for a in client.list_artifacts(run_id, "plots"))
    assert plots == [f"plots/objective_vs_{LR}.png"]
    assert all(a.file_size > 5000 for a in client.list_artifacts(run_id, "plots"))  # real images, not blanks


def test_minimize_picks_the_lowest_and_a_study_without_complete_trials_has_no_best(parent):
    client, run_id = parent
    C = TrialState.COMPLETE
    study = make_study([(1e-3, 0, 5.0, C), (1e-2, 0, 3.0, C), (1e-2, 1, 3.0, C)], "minimize")
    assert write_summary(client, run_id, study, spec_of("minimize"))["best"]["number"] == 1  # ties: earliest
    empty = client.create_run("0").info.run_id
    out = write_summary(client, empty, make_study([(1e-3, 0, None, TrialState.FAIL)]), spec_of())
    assert out["best"] is None and "best.run_id" not in client.get_run(empty).data.tags


def test_continuous_values_are_grouped_in_bins():
    values = [1e-4 * 1.5 ** i for i in range(15)]  # 15 distinct lrs from TPE
    study = make_study([(lr, 0, float(i), TrialState.COMPLETE) for i, lr in enumerate(values)])
    groups = param_summaries(trial_rows(study), spec_of())
    lr_groups = groups[LR]
    assert 2 <= len(lr_groups) <= 5 and sum(g["count"] for g in lr_groups) == 15
    assert all(".." in g["label"] for g in lr_groups)
    assert groups[SEED] == [{"label": "0", "count": 15, "mean": 7.0, "std": pytest.approx(statistics.stdev(range(15)))}]
