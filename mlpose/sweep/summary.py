"""What the parent run of a sweep carries about its trials.

* metric ``best/<metric key>`` (e.g. ``best/coco/AP``): the best objective so far, logged after
  every trial with step = number of finished trials; ``trials/complete|pruned|failed`` counts;
* tags ``best.trial``, ``best.run_id`` and ``best.<param key>`` (tags, not params: the best trial
  changes as trials are added, and MLflow params cannot change);
* per-parameter summaries: mean/std/count of the objective over complete trials grouped by each
  parameter's value (continuous values in 5 bins), as metrics ``by/<param key>/<value>/mean|std|count``
  and the artifact ``summary/params.json``; every trial in ``summary/trials.json``;
* plots (matplotlib, Agg): ``plots/objective_vs_<param key>.png`` for every numeric parameter (the
  learning rate...); Optuna's own history, importances and parallel coordinates are
  :mod:`mlpose.sweep.figures`' ``optuna/*.png``.
"""
from __future__ import annotations

import json
import logging
import math
import statistics
import tempfile
import warnings
from pathlib import Path
from typing import Any

import optuna
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Metric
from optuna.distributions import CategoricalDistribution

from mlpose.evaluation.names import mlflow_key
from mlpose.tracking.params import canonical_str, truncate

from .space import SweepSpec
from .study import RUN_ATTR, counted

logger = logging.getLogger(__name__)

MAX_GROUPS = 12  # more distinct values than this: group continuous values into bins
NUM_BINS = 5


def trial_rows(study: optuna.Study) -> list[dict]:
    """One dict per counted trial: ``number, state, value, params, run_id, epochs``."""
    rows = []
    for t in counted(study.get_trials(deepcopy=False)):
        rows.append({"number": t.number, "state": t.state.name, "value": t.value, "params": dict(t.params),
                     "run_id": t.user_attrs.get(RUN_ATTR), "epochs": len(t.intermediate_values)})
    return rows


def best_row(rows: list[dict], direction: str) -> dict | None:
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    if not complete:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(complete, key=lambda r: (sign * r["value"], r["number"]))  # ties: the earliest trial


def param_summaries(rows: list[dict], spec: SweepSpec) -> dict[str, list[dict]]:
    """``{param key: [{label, count, mean, std}, ...]}`` over complete trials; ``std`` is the sample
    standard deviation (None for a single trial). E.g. the spread over seeds at one lr."""
    complete = [r for r in rows if r["state"] == "COMPLETE" and r["value"] is not None]
    out = {}
    for p in spec.params:
        groups: dict[str, list[float]] = {}
        values = [r["params"][p.key] for r in complete if p.key in r["params"]]
        label = _labeller(values, p.distribution)
        for r in complete:
            if p.key in r["params"]:
                groups.setdefault(label(r["params"][p.key]), []).append(r["value"])
        out[p.key] = [{"label": name, "count": len(v), "mean": statistics.fmean(v),
                       "std": statistics.stdev(v) if len(v) > 1 else None} for name, v in sorted(groups.items(), key=_order)]
    return out


def _order(item):
    name = item[0]
    try:
        return (0, float(name.split("..")[0]), name)
    except ValueError:
        return (1, 0.0, name)


def _labeller(values: list, dist):
    distinct = sorted(set(values), key=canonical_str)
    if isinstance(dist, CategoricalDistribution) or len(distinct) <= MAX_GROUPS:
        return canonical_str
    low, high = dist.low, dist.high
    log = dist.log and low > 0
    lo, hi = (math.log(low), math.log(high)) if log else (low, high)
    edges = [lo + (hi - lo) * i / NUM_BINS for i in range(NUM_BINS + 1)]
    edges = [math.exp(e) for e in edges] if log else edges

    def label(value):
        i = min(sum(value >= e for e in edges[1:-1]), NUM_BINS - 1)
        return f"{edges[i]:.3g}..{edges[i + 1]:.3g}"
    return label


def log_progress(client: MlflowClient, parent_run_id: str, study: optuna.Study, spec: SweepSpec) -> dict | None:
    """Cheap per-trial update of the parent run: best value and counts. Returns the best row."""
    rows = trial_rows(study)
    finished = [r for r in rows if r["state"] in ("COMPLETE", "PRUNED", "FAIL")]
    step = len(finished)
    counts = {s: sum(r["state"] == s.upper() for r in rows) for s in ("complete", "pruned", "fail")}
    metrics = [Metric(f"trials/{'failed' if s == 'fail' else s}", float(n), _now(), step) for s, n in counts.items()]
    best = best_row(rows, spec.direction)
    tags = {}
    if best is not None:
        metrics.append(Metric(f"best/{mlflow_key(spec.metric)}", float(best["value"]), _now(), step))
        tags = {"best.trial": str(best["number"]), "best.run_id": str(best["run_id"])}
        tags.update({f"best.{k}": truncate(canonical_str(v)) for k, v in best["params"].items()})
    client.log_batch(parent_run_id, metrics=metrics, synchronous=True)
    for key, value in tags.items():
        client.set_tag(parent_run_id, key, value)
    return best


def write_summary(client: MlflowClient, parent_run_id: str, study: optuna.Study, spec: SweepSpec) -> dict:
    """Full summary on the parent run (see the module docstring); returns what was logged as a
    dict: ``best`` (row or None), ``params`` (per-parameter groups), ``plots`` (artifact names)."""
    best = log_progress(client, parent_run_id, study, spec)
    rows = trial_rows(study)
    groups = param_summaries(rows, spec)
    metrics = []
    for key, items in groups.items():
        for g in items:
            base = f"by/{key}/{g['label']}"
            metrics += [Metric(mlflow_key(f"{base}/mean"), g["mean"], _now(), 0),
                        Metric(mlflow_key(f"{base}/count"), float(g["count"]), _now(), 0)]
            if g["std"] is not None:
                metrics.append(Metric(mlflow_key(f"{base}/std"), g["std"], _now(), 0))
    for i in range(0, len(metrics), 1000):
        client.log_batch(parent_run_id, metrics=metrics[i:i + 1000], synchronous=True)

    importances, why = _importances(study)
    with tempfile.TemporaryDirectory(prefix="mlpose-sweep-") as tmp:
        folder = Path(tmp)
        (folder / "summary").mkdir()
        (folder / "plots").mkdir()
        (folder / "summary" / "trials.json").write_text(json.dumps(rows, indent=2, default=str))
        (folder / "summary" / "params.json").write_text(json.dumps(
            {"metric": spec.metric, "direction": spec.direction, "best": best, "by_param": groups,
             "importance": importances, "importance_note": why}, indent=2, default=str))
        plots = _plot_vs_params(rows, spec, folder / "plots")
        client.log_artifacts(parent_run_id, str(folder / "summary"), "summary")
        client.log_artifacts(parent_run_id, str(folder / "plots"), "plots")
    return {"best": best, "params": groups, "plots": plots}


def _importances(study: optuna.Study) -> tuple[dict[str, float], str | None]:
    try:
        with warnings.catch_warnings():  # 'too few trials: importances will be equal' is expected early on
            warnings.simplefilter("ignore", UserWarning)
            return dict(optuna.importance.get_param_importances(study)), None
    except Exception as exc:  # noqa: BLE001 - too few/too uniform trials: no importance, say why
        return {}, f"{type(exc).__name__}: {exc}"


def _now() -> int:
    import time

    return int(time.time() * 1000)


def _save(fig: Figure, path: Path) -> str:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return f"plots/{path.name}"


def _plot_vs_params(rows: list[dict], spec: SweepSpec, folder: Path) -> list[str]:
    """Objective against each numeric parameter, coloured by a seed parameter when there is one."""
    done = [r for r in rows if r["state"] == "COMPLETE"]
    colour_key = next((p.key for p in spec.params if "seed" in p.key.split(".")[-1]), None)
    out = []
    for p in spec.params:
        values = [r["params"][p.key] for r in done if p.key in r["params"]]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if p.key == colour_key or not numeric:
            continue
        fig = Figure(figsize=(6, 4))
        ax = fig.add_subplot()
        by_colour: dict[Any, list[dict]] = {}
        for r in done:
            by_colour.setdefault(r["params"].get(colour_key) if colour_key else None, []).append(r)
        for colour, items in sorted(by_colour.items(), key=lambda kv: canonical_str(kv[0])):
            label = f"{colour_key.split('.')[-1]}={colour}" if colour_key else None
            ax.plot([r["params"][p.key] for r in items], [r["value"] for r in items], "o", label=label)
        if colour_key and by_colour:
            ax.legend()
        spread = values and min(values) > 0 and max(values) >= 10 * min(values)
        if getattr(p.distribution, "log", False) or isinstance(p.distribution, CategoricalDistribution) and spread:
            ax.set_xscale("log")
        ax.set(xlabel=p.key, ylabel=spec.metric, title=f"{spec.metric} vs {p.key.split('.')[-1]}")
        out.append(_save(fig, folder / f"objective_vs_{p.key}.png"))
    return out

