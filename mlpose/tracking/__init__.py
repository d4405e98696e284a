"""MLflow tracking: one run per job, params/metrics/artifacts, resume by run id, URIs, redaction.

    tracker = Tracker.start(cfg, config_file=..., config_name=..., command=sys.argv, ...)
    tracker.log_metrics({'loss': 0.1}, step=it); tracker.log_checkpoint(path); tracker.finish()

See :mod:`mlpose.tracking.tracker` for where runs go, :mod:`~mlpose.tracking.uris` for checkpoint
URIs and the logged-model format, :mod:`~mlpose.tracking.resume` for resuming by run id.
"""
from mlpose.tracking.compare import compare_runs, list_runs, print_runs, runs_table
from mlpose.tracking.params import canonical_str, flatten_config, truncate
from mlpose.tracking.redact import redact, redact_text
from mlpose.tracking.resume import ResumeInfo, fetch_run_for_resume, latest_checkpoint
from mlpose.tracking.tracker import NullTracker, Tracker, mlflow_key, resolve_tracking_uri
from mlpose.tracking.uris import ResolvedCheckpoint, resolve_checkpoint

__all__ = [
    "NullTracker", "ResolvedCheckpoint", "ResumeInfo", "Tracker", "canonical_str", "compare_runs",
    "fetch_run_for_resume", "flatten_config", "latest_checkpoint", "list_runs", "mlflow_key",
    "print_runs", "redact", "redact_text", "resolve_checkpoint", "resolve_tracking_uri", "runs_table",
    "truncate",
]
