"""Send what jobs left in a work dir's tracking journal, and clean what killed jobs left behind.

``mlpose sync WORK_DIR`` runs :func:`sync_dir`; every ``train``/``resume`` on a work dir runs it
too before it starts (:func:`before_job`), so that a run which ended while the tracking server
was away gets its metrics, tags, artifacts, models and final status as soon as a later command
reaches the server. Metric points already stored (a batch sent just before a SIGKILL but not
yet marked as sent) are not sent twice.
"""
from __future__ import annotations

import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlpose.errors import ConfigError, first_line
from mlpose.runtime.worklock import lock_work_dir
from mlpose.tracking import records as rec
from mlpose.tracking.access import check_tracking_access
from mlpose.tracking.artifact_store import CheckpointLinker
from mlpose.tracking.journal import (LANES, Journal, coalesced, forget_run, journal_dir, lane_path, read_run_info,
                                     referenced_paths)
from mlpose.tracking.liveness import is_gone, mark_if_gone
from mlpose.tracking.redact import REDACTED, redact_text
from mlpose.tracking.ending import end_run
from mlpose.tracking.runs import get_existing_run, last_steps

logger = logging.getLogger(__name__)


@dataclass
class Synced:
    """One run's replay: records sent, dropped (file gone, refused), the status it was ended with."""

    run_id: str
    num_sent: int
    num_dropped: int
    status: str | None

    def line(self) -> str:
        end = f"; ended {self.status}" if self.status else ""
        dropped = f", {self.num_dropped} dropped (see warnings)" if self.num_dropped else ""
        return f"synced MLflow run {self.run_id}: {self.num_sent} pending write(s) sent{dropped}{end}"


def pending_runs(work_dir: str | os.PathLike, include_unknown: bool = True) -> list[dict]:
    """The run infos of ``work_dir``'s journal whose tracker ended or whose process is gone (a
    live job sends its own); with ``include_unknown``, also those of processes of other hosts
    (cannot be checked)."""
    folder = journal_dir(work_dir)
    infos = [read_run_info(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    gone = [(i, True if i.get("end") else is_gone(i.get("process", ""))) for i in infos if i.get("run_id")]
    return [i for i, g in gone if g or g is None and include_unknown]


def sync_dir(work_dir: str | os.PathLike, tracking_uri: str | None = None) -> list[Synced]:
    """Replay every pending journal of ``work_dir`` (see the module docstring).

    Args:
        tracking_uri: default ``$MLFLOW_TRACKING_URI``, else the URI the job used.

    Raises:
        ConfigError: another job holds the work dir (named), the tracking server is still
            unreachable, the recorded URI held a password (give the URI), or a run no longer exists.
    """
    lock = lock_work_dir(work_dir, sys.argv)  # a job training there sends its own backlog; two syncs would send it twice
    try:
        return [sync_run(work_dir, info, tracking_uri) for info in pending_runs(work_dir)]
    finally:
        lock.release()


def sync_run(work_dir: str | os.PathLike, info: dict, tracking_uri: str | None = None) -> Synced:
    folder, run_id = journal_dir(work_dir), info["run_id"]
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or info.get("tracking_uri", "")
    if REDACTED in uri:
        raise ConfigError(f"{folder}: run {run_id} was tracked at {uri}; give the full URI "
                          "(MLFLOW_TRACKING_URI or --tracking-uri) to send its pending writes")
    check_tracking_access(uri)
    client = MlflowClient(uri)
    run = get_existing_run(client, run_id, uri, action="cannot sync: ")
    stored_steps = last_steps(client, run)
    sent = dropped = 0
    for lane in LANES:  # metrics first: uploads (checkpoints) were made after the points they follow
        journal = Journal(lane_path(folder, run_id, lane))
        try:
            for record, end in coalesced(journal.records()):
                if journal.superseded(record, end):  # replaced by a later record of the backlog
                    pass
                elif _replay(record, CheckpointLinker(client) if lane == "uploads" else client, run_id, stored_steps, uri):
                    sent += 1
                else:
                    dropped += 1
                journal.ack(end)
                rec.finished(record)
        finally:
            journal.close()
    end = info.get("end")
    if end:
        end_run(client, run_id, end["status"], end.get("error"), end.get("error_text"))
    elif mark_if_gone(client, client.get_run(run_id)):
        end = {"status": "KILLED"}
    forget_run(folder, run_id)
    return Synced(run_id, sent, dropped, end and end["status"])


def _replay(record: dict, client, run_id: str, last_steps: dict, uri: str) -> bool:
    try:
        rec.execute(record, client, run_id, last_steps)
        return True
    except rec.Skipped as exc:
        logger.warning("MLflow sync: skipped %s of run %s: %s", rec.describe(record), run_id, exc)
    except MlflowException as exc:
        if "Max retries exceeded" in str(exc) or exc.error_code in ("TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR"):
            raise ConfigError(f"tracking server {redact_text(uri)} unreachable or failing "
                              f"({redact_text(first_line(exc))[:160]}); nothing lost, run mlpose sync again later") from None
        logger.warning("MLflow sync: %s of run %s refused: %s", rec.describe(record), run_id,
                       redact_text(first_line(exc))[:300])
    return False


def clean_stale_uploads(work_dir: str | os.PathLike) -> list[str]:
    """Remove ``.mlpose-upload-*`` staging folders that a killed job left in ``work_dir`` (and
    one level below), except those pending journal lines still need."""
    root = Path(work_dir)
    if not root.is_dir():
        return []
    keep = referenced_paths(journal_dir(root)) if journal_dir(root).is_dir() else set()
    removed = []
    for folder in [*root.glob(".mlpose-upload-*"), *root.glob("*/.mlpose-upload-*")]:
        inside = {os.path.abspath(p) for p in [folder, *folder.rglob("*")]}
        if folder.is_dir() and not inside & keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed
