"""Ending a run: its error (tag ``mlpose.error`` + ``error.txt``) and status, now or, after an
outage, from the journal (:mod:`mlpose.tracking.sync`)."""
from __future__ import annotations

import logging
import traceback

from mlflow import MlflowClient

from mlpose.tracking.params import truncate
from mlpose.tracking.redact import redact_text

logger = logging.getLogger("mlpose.tracking.tracker")


def error_texts(error: BaseException) -> tuple[str, str]:
    """``(one-line summary, traceback text)`` of ``error``, both redacted."""
    message = " ".join(str(error).split())
    summary = f"{type(error).__name__}: {message}" if message else type(error).__name__
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return truncate(redact_text(summary), 500), redact_text(text)


def end_run(client: MlflowClient, run_id: str, status: str, summary: str | None = None,
            text: str | None = None) -> None:
    """Record an error (tag ``mlpose.error`` + ``error.txt``) and set the run's status."""
    if summary is not None:
        try:
            client.set_tag(run_id, "mlpose.error", summary)
            client.log_text(run_id, text or summary, "error.txt")
        except Exception as exc:  # noqa: BLE001 - the original error matters more than this one
            logger.warning("MLflow: could not record the error of run %s: %s", run_id, redact_text(str(exc))[:300])
    # Kept as a tag too: `mlflow run` overwrites the status after the job (see mlproject.py).
    client.set_tag(run_id, "mlpose.status", status)
    client.set_terminated(run_id, status)
