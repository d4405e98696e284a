"""MLflow tracking: one run per job, params/metrics/artifacts, resume by run id, URIs, redaction.

    tracker = Tracker.start(cfg, config_file=..., config_name=..., command=sys.argv, ...)
    tracker.log_metrics({'loss': 0.1}, step=it); tracker.log_checkpoint(path); tracker.finish()

See :mod:`mlpose.tracking.tracker` for where runs go, :mod:`~mlpose.tracking.uris` for checkpoint
URIs and the logged-model format, :mod:`~mlpose.tracking.resume` for resuming by run id, and
:mod:`~mlpose.tracking.base` for the interface (and the no-op tracker of the other ranks).

The names below are loaded on first use, so ``mlpose.tracking.base`` imports no MLflow (except
``redact``/``redact_text``, which need none and would otherwise be shadowed by their module).
"""
import importlib

from mlpose.tracking.redact import redact, redact_text  # noqa: F401 (eager: see above)

_WHERE = {
    "compare_runs": "compare", "list_runs": "compare", "print_runs": "compare", "runs_table": "compare",
    "canonical_str": "params", "flatten_config": "params", "truncate": "params",
    "ResumeInfo": "resume", "fetch_run_for_resume": "resume", "latest_checkpoint": "resume",
    "Tracker": "tracker", "mlflow_key": "tracker", "resolve_tracking_uri": "runs",
    "BaseTracker": "base", "NullTracker": "base",
    "ResolvedCheckpoint": "uris", "resolve_checkpoint": "uris",
    "check_tracking_access": "access",
}
__all__ = sorted([*_WHERE, "redact", "redact_text"])


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'mlpose.tracking' has no attribute {name!r}")
    return getattr(importlib.import_module(f"mlpose.tracking.{_WHERE[name]}"), name)
