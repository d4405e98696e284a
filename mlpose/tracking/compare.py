"""List tracked runs and compare a few of them: params that differ, metric summaries, curves.

``mlpose runs`` -> :func:`print_runs`; ``mlpose compare RUN_ID...`` -> :func:`compare_runs`.
A run's "best metric" is the checkpoint hook's ``save_best`` metric (tags ``mlpose.best_metric``
and ``mlpose.best_rule``, written at the start of training), maximised or minimised per rule.
"""
from __future__ import annotations

import io
import math
import time
from typing import Any, Sequence

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from rich.console import Console
from rich.table import Table

from mlpose.errors import ConfigError
from mlpose.evaluation.names import mlflow_key
from mlpose.tracking.access import check_tracking_access
from mlpose.tracking.runs import resolve_tracking_uri

_LOWER_IS_BETTER = ("loss", "epe", "nme", "error", "time", "memory")
MAX_PLOTS = 12


def _rule(key: str, best_key: str | None, best_rule: str | None) -> str:
    if key == best_key and best_rule in ("greater", "less"):
        return best_rule
    return "less" if any(w in key.lower() for w in _LOWER_IS_BETTER) else "greater"


def _best(values: Sequence[float], rule: str) -> float | None:
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return None
    return min(finite) if rule == "less" else max(finite)


def _duration(run) -> float | None:
    start, end = run.info.start_time, run.info.end_time
    if not start:
        return None
    return ((end or int(time.time() * 1000)) - start) / 1000.0


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, sec = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{sec:02d}s"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def list_runs(experiment: str | None = None, tracking_uri: str | None = None,
              max_results: int = 100) -> list[dict[str, Any]]:
    """Newest runs first, as rows for a table.

    Args:
        experiment: experiment name; None lists every active experiment.
        tracking_uri: default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlflow.db``.
        max_results: at most this many runs.

    Returns:
        One dict per run: ``run_id, run_name, experiment, config, status, best_metric`` (name),
        ``best_value`` (float or None), ``duration_s`` (float or None), ``start_time`` (ms).

    Raises:
        ConfigError: when the named experiment does not exist.
    """
    client = _client(tracking_uri)
    if experiment:
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            known = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise ConfigError(f"MLflow experiment {experiment!r} not found (known: {known})")
        exps = [exp]
    else:
        exps = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    names = {e.experiment_id: e.name for e in exps}
    if not names:
        return []
    runs = client.search_runs(list(names), max_results=max_results, order_by=["attributes.start_time DESC"])
    rows = []
    for run in runs:
        tags = run.data.tags
        best_name, rule = tags.get("mlpose.best_metric"), tags.get("mlpose.best_rule")
        value = None
        if best_name:
            key = mlflow_key(best_name)
            if key in run.data.metrics:
                value = _best([m.value for m in client.get_metric_history(run.info.run_id, key)],
                              _rule(key, key, rule))
        rows.append({
            "run_id": run.info.run_id, "run_name": run.info.run_name, "experiment": names[run.info.experiment_id],
            "config": tags.get("mlpose.config", "-"), "status": run.info.status, "best_metric": best_name,
            "best_value": value, "duration_s": _duration(run), "start_time": run.info.start_time,
        })
    return rows


def runs_table(rows: list[dict[str, Any]]) -> Table:
    """A rich table of :func:`list_runs` rows (an experiment column when they span several)."""
    several = len({row["experiment"] for row in rows}) > 1
    table = Table(title="MLflow runs")
    columns = ("experiment",) * several + ("run name", "config", "status", "best metric", "duration", "run id")
    for column in columns:
        table.add_column(column, no_wrap=column in ("run id", "status"))
    for row in rows:
        best = f"{row['best_metric']} = {_fmt(row['best_value'])}" if row["best_metric"] else "-"
        cells = (row["experiment"],) * several + (row["run_name"] or "-", row["config"], row["status"], best,
                                                  _fmt_duration(row["duration_s"]), row["run_id"])
        table.add_row(*cells)
    return table


def _client(tracking_uri: str | None) -> MlflowClient:
    """A client of the store; an unreachable server is one line at once (MLflow retries for
    minutes), a new SQLite store is created quietly under its lock."""
    uri = resolve_tracking_uri(None, tracking_uri)
    check_tracking_access(uri)
    return MlflowClient(uri)


def print_runs(experiment: str | None = None, tracking_uri: str | None = None,
               console: Console | None = None) -> list[dict[str, Any]]:
    """Print the runs table (``mlpose runs``); returns the rows."""
    rows = list_runs(experiment, tracking_uri)
    console = console or Console()
    if rows:
        console.print(runs_table(rows))
    else:
        console.print("no runs" + (f" in experiment {experiment!r}" if experiment else ""))
    return rows


def _get_runs(client: MlflowClient, run_ids: Sequence[str]) -> list:
    runs = []
    for run_id in run_ids:
        try:
            runs.append(client.get_run(run_id))
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise ConfigError(f"MLflow run {run_id!r} not found; check the id (mlpose runs lists them)") from None
            raise
    return runs


def compare_runs(run_ids: Sequence[str], out_png: str, tracking_uri: str | None = None) -> str:
    """Param differences and metric summaries of ``run_ids`` as text; curves plotted to ``out_png``.

    Args:
        run_ids: two or more runs (one also works).
        out_png: path of the plot: one panel per metric key (at most 12), x = step.
        tracking_uri: default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlflow.db``.

    Returns:
        The report text: runs, differing params (missing shown as ``-``), and per metric key
        each run's last value and best value (min for loss/EPE/NME/time/memory-like keys or
        a ``less`` save_best rule, else max).
    """
    client = _client(tracking_uri)
    runs = _get_runs(client, run_ids)
    labels = [r.info.run_name or r.info.run_id[:8] for r in runs]
    out = Console(file=io.StringIO(), width=160, record=True)

    overview = Table(title="runs")
    for column in ("label", "run id", "config", "status", "duration"):
        overview.add_column(column)
    for label, run in zip(labels, runs):
        overview.add_row(label, run.info.run_id, run.data.tags.get("mlpose.config", "-"), run.info.status,
                         _fmt_duration(_duration(run)))
    out.print(overview)

    keys = sorted(set().union(*(r.data.params for r in runs)))
    differing = [k for k in keys if len({r.data.params.get(k) for r in runs}) > 1]
    if differing:
        params = Table(title=f"params that differ ({len(differing)} of {len(keys)})")
        params.add_column("param")
        for label in labels:
            params.add_column(label, overflow="fold")
        for key in differing:
            params.add_row(key, *[r.data.params.get(key, "-") for r in runs])
        out.print(params)
    else:
        out.print(f"params: all {len(keys)} identical")

    histories = {}  # (run index, key) -> [(step, value)]
    for i, run in enumerate(runs):
        for key in run.data.metrics:
            histories[i, key] = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
    metric_keys = sorted({key for _, key in histories})
    summary = Table(title="metrics: last / best")
    summary.add_column("metric")
    for label in labels:
        summary.add_column(label)
    for key in metric_keys:
        cells = []
        for i, run in enumerate(runs):
            points = histories.get((i, key))
            if not points:
                cells.append("-")
                continue
            best_key = run.data.tags.get("mlpose.best_metric")
            rule = _rule(key, mlflow_key(best_key) if best_key else None, run.data.tags.get("mlpose.best_rule"))
            cells.append(f"{_fmt(points[-1][1])} / {_fmt(_best([v for _, v in points], rule))}")
        summary.add_row(key, *cells)
    out.print(summary)

    plotted = _plot(histories, metric_keys, labels, runs, out_png)
    out.print(f"plot of {plotted} metric(s) written to {out_png}")
    return out.export_text()


def _plot(histories: dict, metric_keys: list[str], labels: list[str], runs: list, out_png: str) -> int:
    # Figure + Agg canvas directly: no pyplot, no global backend switch, no display needed.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    best = {mlflow_key(r.data.tags["mlpose.best_metric"]) for r in runs if r.data.tags.get("mlpose.best_metric")}
    # The save_best metric and losses first: the curves people compare.
    order = sorted(metric_keys, key=lambda k: (k not in best, "loss" not in k, k))
    # 'epoch' is the x axis in disguise, not a curve to compare.
    keys = [k for k in order if k != "epoch" and any(histories.get((i, k)) for i in range(len(runs)))][:MAX_PLOTS]
    cols = min(3, max(1, len(keys)))
    rows = max(1, math.ceil(len(keys) / cols))
    fig = Figure(figsize=(5 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    for n, key in enumerate(keys):
        ax = fig.add_subplot(rows, cols, n + 1)
        for i, label in enumerate(labels):
            points = histories.get((i, key))
            if points:
                ax.plot([s for s, _ in points], [v for _, v in points], label=label,
                        marker="o" if len(points) < 20 else None, markersize=3)
        ax.set_title(key)
        ax.set_xlabel("step (global iteration)")
        ax.legend(fontsize="small")
    fig.savefig(out_png, dpi=100)
    return len(keys)
