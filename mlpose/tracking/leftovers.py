"""What a job does with what earlier, killed or disconnected jobs left, before and right after
it starts its run: send pending journals, remove stale upload folders, pick the run to continue,
end runs whose process is gone (see :mod:`mlpose.tracking.sync`, :mod:`mlpose.tracking.liveness`)."""
from __future__ import annotations

import logging
import os

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlpose.errors import ConfigError, first_line
from mlpose.tracking.liveness import claim, mark_gone_runs, mark_if_gone
from mlpose.tracking.sync import clean_stale_uploads, pending_runs, sync_run


def before_job(work_dir: str | os.PathLike, uri: str, run_id: str | None, resumed_run: str | None,
               log: logging.Logger, unfinished_only: bool = False) -> str | None:
    """Rank 0, before ``Tracker.start``: send what jobs left pending in ``work_dir``'s journal,
    remove stale ``.mlpose-upload-*`` folders, and return the run to attach to.

    Args:
        run_id: the run asked for (``mlpose resume RUN_ID``, sweeps): returned as it is (a
            RUNNING run whose process is gone is ended KILLED first).
        resumed_run: the run id recorded in the checkpoint ``--resume`` restores: continued
            when it exists in this store and no live process runs it; else None (a new run).
        unfinished_only: ``resumed_run`` is the work dir's last run, found without a
            checkpoint: continued only when it did not finish (a finished run whose checkpoints
            are gone is not trained again from scratch).
    """
    for info in pending_runs(work_dir, include_unknown=False):
        try:
            log.info(sync_run(work_dir, info, uri).line())
        except ConfigError as exc:
            log.warning(f"pending MLflow writes in {work_dir} not sent: {exc}")
    for folder in clean_stale_uploads(work_dir):
        log.info(f"removed {folder}, a checkpoint upload a killed job left behind")
    wanted = run_id or resumed_run
    if not wanted:
        return None
    client = MlflowClient(uri)
    try:
        run = client.get_run(wanted)
    except MlflowException:
        run = None
    if run is None or run.info.lifecycle_stage == "deleted":
        if run_id is None:
            log.info(f"the checkpoint's MLflow run {resumed_run} is not in this tracking store: a new run continues it")
        return run_id  # an explicit run id that is missing fails in Tracker.start with one line
    ended = mark_if_gone(client, run)
    if run_id is None and unfinished_only and run.info.status == "FINISHED":
        log.info(f"the work dir's last MLflow run {resumed_run} FINISHED and its checkpoints are gone: a new run starts")
        return None
    if run_id is None and run.info.status == "RUNNING" and not ended:
        log.warning(f"the checkpoint's MLflow run {resumed_run} is RUNNING in another live process: "
                    "this job logs to a new run")
        return None
    return wanted


def after_start(client: MlflowClient, run_id: str, experiment_id: str, log: logging.Logger) -> None:
    """Rank 0, right after the run started: tag it with this process, and end KILLED the runs
    of the experiment that a dead process on this host left RUNNING."""
    try:
        claim(client, run_id)
        mark_gone_runs(client, experiment_id, exclude=run_id)
    except MlflowException as exc:  # housekeeping must not stop a job
        log.warning(f"MLflow: could not check for runs of killed jobs: {first_line(exc)[:200]}")
