"""End-to-end sweeps on the tiny recipe (1 epoch, 4 images): grid, pruning, failing trials."""
import json
import math
import re

import optuna
import pytest

from mlpose.errors import ConfigError
from mlpose.sweep import run_sweep
from mlpose.sweep.study import default_storage

LR = "optim_wrapper.optimizer.lr"
SEED = "randomness.seed"


def load_study(name):
    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(default_storage(name))))


def test_grid_over_2_lr_x_2_seeds_gives_4_child_runs_and_summarises_the_best(workspace):
    opts = workspace.options(**{"sweep.sampler": "grid", "tracking.log_checkpoints": "best_last"})
    result = run_sweep(workspace.config, cfg_options=opts, study_name="grid")

    assert result["complete"] and result["n_trials"] == 4
    parent = workspace.client.get_run(result["parent_run_id"])
    children = workspace.runs(parent.info.run_id)
    assert len(children) == 4 and len(workspace.runs()) == 5
    combos = sorted((float(r.data.params[f"sweep.{LR}"]), int(r.data.params[f"sweep.{SEED}"])) for r in children)
    assert combos == [(1e-3, 0), (1e-3, 1), (3e-3, 0), (3e-3, 1)]
    for run in children:  # the trainer logged the trial's own config, metrics and checkpoints here
        assert run.info.status == "FINISHED" and run.data.tags["trial_state"] == "COMPLETE"
        assert run.data.params[LR] == run.data.params[f"sweep.{LR}"]
        assert run.data.params[SEED] == run.data.params[f"sweep.{SEED}"]
        assert run.data.params["train_cfg.max_epochs"] == "1"
        assert "synth/EPE" in run.data.metrics and "loss" in run.data.metrics
        assert {a.path for a in workspace.client.list_artifacts(run.info.run_id, "checkpoints")} >= {"checkpoints/best.pth"}
        assert run.data.metrics["sweep/objective"] == run.data.metrics["synth/EPE"]

    best = min(children, key=lambda r: r.data.metrics["sweep/objective"])
    tags, metrics = parent.data.tags, parent.data.metrics
    assert parent.info.status == "FINISHED"
    assert tags["best.run_id"] == best.info.run_id == result["best"]["run_id"]
    assert metrics["best/synth/EPE"] == pytest.approx(best.data.metrics["sweep/objective"])
    assert tags[f"best.{LR}"] == best.data.params[f"sweep.{LR}"]
    assert tags["mlpose.sweep"] == "grid" and tags["mlpose.config"] == "sweep-test"
    # per-seed and per-lr mean/std of the objective
    values = {(float(r.data.params[f"sweep.{LR}"]), int(r.data.params[f"sweep.{SEED}"])): r.data.metrics["sweep/objective"]
              for r in children}
    lr_mean = (values[(1e-3, 0)] + values[(1e-3, 1)]) / 2
    assert metrics[f"by/{LR}/0.001/mean"] == pytest.approx(lr_mean)
    assert metrics[f"by/{SEED}/1/std"] == pytest.approx(abs(values[(1e-3, 1)] - values[(3e-3, 1)]) / math.sqrt(2))
    art = workspace.client.download_artifacts(parent.info.run_id, "summary/params.json", str(workspace.root))
    summary = json.loads(open(art).read())
    assert [g["count"] for g in summary["by_param"][SEED]] == [2, 2]
    plots = {a.path for a in workspace.client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {f"plots/objective_vs_{LR}.png"}


def test_pruner_stops_a_bad_trial_after_its_first_validation(workspace):
    # any EPE above 0 px is 'bad' for this threshold pruner, so each trial stops after epoch 1 of 3
    opts = workspace.options(**{"sweep.sampler": "random", "sweep.max_epochs": 3})
    with pytest.raises(ConfigError, match="upper"):  # ThresholdPruner needs a bound: the message says so
        run_sweep(workspace.config, cfg_options=opts + ["sweep.pruner=threshold"], n_trials=1, study_name="p0")
    config = workspace.root / "prune.py"
    config.write_text(f"_base_ = [{workspace.config!r}]\nsweep = dict(pruner=dict(type='threshold', upper=0.0))\n")
    result = run_sweep(str(config), cfg_options=opts, n_trials=2, study_name="prune")

    assert result["complete"] and result["best"] is None
    study = load_study("prune")
    assert [t.state.name for t in study.trials] == ["PRUNED", "PRUNED"]
    assert all(list(t.intermediate_values) == [1] for t in study.trials)
    for run in workspace.runs(result["parent_run_id"]):
        assert run.info.status == "KILLED" and run.data.tags["trial_state"] == "PRUNED"
        epochs = workspace.client.get_metric_history(run.info.run_id, "synth/EPE")
        assert len(epochs) == 1  # validated once, then stopped: epochs 2 and 3 never ran
    parent = workspace.client.get_run(result["parent_run_id"])
    assert parent.data.metrics["trials/pruned"] == 2 and parent.info.status == "FINISHED"


def test_trials_that_raise_or_diverge_are_marked_failed_and_the_sweep_finishes(workspace):
    config = workspace.root / "broken.py"
    config.write_text(
        f"_base_ = [{workspace.config!r}]\n"
        "sweep = dict(sampler='grid', params={'_delete_': True,\n"
        "    'train_dataloader.dataset.data_prefix.img': dict(type='categorical', choices=['images/train/', 'images/missing/']),\n"
        "    'optim_wrapper.optimizer.lr': dict(type='float', values=[3e-3, 1e30])})\n")
    result = run_sweep(str(config), cfg_options=workspace.options(), study_name="broken")

    assert result["complete"]
    study = load_study("broken")
    states = {(t.params["train_dataloader.dataset.data_prefix.img"], t.params[LR]): t.state.name for t in study.trials}
    assert states == {("images/train/", 3e-3): "COMPLETE", ("images/train/", 1e30): "FAIL",
                      ("images/missing/", 3e-3): "FAIL", ("images/missing/", 1e30): "FAIL"}
    runs = {(r.data.params["sweep.train_dataloader.dataset.data_prefix.img"], float(r.data.params[f"sweep.{LR}"])): r
            for r in workspace.runs(result["parent_run_id"])}
    missing, diverged, good = runs[("images/missing/", 3e-3)], runs[("images/train/", 1e30)], runs[("images/train/", 3e-3)]
    assert missing.info.status == "FAILED" and missing.data.tags["trial_state"] == "FAIL"
    assert missing.data.tags["mlpose.error"].startswith("DataError: ") and "images/missing" in missing.data.tags["mlpose.error"]
    # lr=1e30: the loss is NaN while EPE stays a finite number: still a failed trial
    assert diverged.info.status == "FAILED" and diverged.data.tags["trial_state"] == "FAIL"
    assert re.search(r"training loss is (nan|inf|-inf) at", diverged.data.tags["mlpose.error"])
    assert good.info.status == "FINISHED" and result["best"]["run_id"] == good.info.run_id
    parent = workspace.client.get_run(result["parent_run_id"])
    assert parent.info.status == "FINISHED" and parent.data.metrics["trials/failed"] == 3


def test_a_metric_the_trials_do_not_report_stops_the_sweep(workspace):
    opts = workspace.options(**{"sweep.sampler": "random", "sweep.metric": "coco/AP"})
    with pytest.raises(ConfigError, match=r"sweep.metric='coco/AP' is not a validation metric; the trial reported: synth/EPE"):
        run_sweep(workspace.config, cfg_options=opts, n_trials=3, study_name="nometric")
    assert [t.state.name for t in load_study("nometric").trials] == ["FAIL"]  # not 3 doomed trials
    parents = [r for r in workspace.runs() if "mlpose.sweep.storage" in r.data.tags]
    assert [r.info.status for r in parents] == ["FAILED"]  # not left RUNNING
