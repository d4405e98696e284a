"""``mlpose sweep``: open (or join) a study, run trials in one or K worker processes, summarise.

Every ``mlpose sweep`` process pointing at the same storage and study name joins the same study
and the same parent MLflow run, on this machine or another; the study is complete when
``n_trials`` trials (all states, see :mod:`mlpose.sweep.study`) have finished. Each invocation
returns once the study is complete (waiting for other workers' trials, and re-running any whose
worker died), when ``sweep.timeout`` seconds have passed, or on Ctrl-C.
"""
from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import shlex
import sys
import time
import warnings
from pathlib import Path

import optuna
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlpose.config import load_config
from mlpose.errors import ConfigError
from mlpose.tracking.params import truncate
from mlpose.tracking.redact import redact_text

from . import study as S
from .figures import StudyFigures
from .objective import StaleTrialRecorder, TrialObjective
from .overrides import check_overrides
from .space import SweepSpec, check_against_config, parse_sweep
from .summary import log_progress, write_summary

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class SweepJob:
    """What every worker of one ``mlpose sweep`` call needs (picklable, sent to spawned workers)."""

    config: str
    cfg_options: list
    spec: SweepSpec
    study_name: str
    storage: str
    n_trials: int  # the study's budget (grid: at most the number of grid points)
    tracking_uri: str
    work_root: str

    def open_study(self, worker: int) -> tuple[optuna.Study, bool]:
        on_stale = StaleTrialRecorder(self.tracking_uri, self.spec.grace_period)
        storage = S.open_storage(self.storage, self.spec.heartbeat_interval, self.spec.grace_period, on_stale)
        return S.create_or_load(storage, self.study_name, self.spec.direction, self.spec.build_sampler(worker),
                                self.spec.build_pruner())


def run_sweep(config: str, cfg_options: list[str] | None = None, n_trials: int | None = None,
              storage: str | None = None, study_name: str | None = None, workers: int = 1,
              experiment: str | None = None) -> dict:
    """Run (or join, or resume) the Optuna study over ``config``'s ``sweep`` search.

    Args:
        config: config path or short name; its ``sweep`` section declares the search.
        cfg_options: ``--cfg-options`` for every trial (``sweep.*`` keys change the search).
        n_trials: the study's total number of trials (default ``sweep.n_trials``); a resumed
            study with a larger number runs the difference.
        storage: journal file path or SQLAlchemy URL (default ``sweep.storage``, else
            ``work_dirs/sweeps/<study>.journal``).
        study_name: default ``sweep.study_name``, else the config name; the same name resumes.
        workers: worker processes on this machine (each runs whole trials).
        experiment: MLflow experiment of the parent and trial runs (default as ``mlpose train``).

    Returns:
        ``dict(study_name, storage (redacted), parent_run_id, n_trials, complete, best)`` where
        ``best`` is ``dict(number, value, params, run_id, ...)`` or None.

    Raises:
        ConfigError: a bad ``sweep`` section, search key, storage or metric name.
        KeyboardInterrupt: on Ctrl-C, after the summary is written.
    """
    from mlpose.engine.logger import setup_logger
    from mlpose.tracking.access import check_tracking_access
    from mlpose.tracking.runs import resolve_tracking_uri

    if workers < 1:
        raise ConfigError(f"--workers {workers}: expected 1 or more")
    setup_logger(name="mlpose.sweep")
    cfg_options = list(cfg_options or [])
    cfg = load_config(config, cfg_options)
    spec = parse_sweep(cfg, cfg.filename, n_trials, storage, study_name)
    check_overrides(spec, cfg_options)  # an option every trial overwrites is an error, not ignored
    check_against_config(spec, config, cfg_options)
    name = spec.study_name or cfg.name
    budget = spec.n_trials
    if spec.grid_size is not None and budget != spec.grid_size:
        logger.info("grid of %d points: the study runs each once (n_trials=%d ignored)", spec.grid_size, budget)
        budget = spec.grid_size
    job = SweepJob(config=config, cfg_options=cfg_options, spec=spec, study_name=name,
                   storage=spec.storage or S.default_storage(name), n_trials=budget,
                   tracking_uri=resolve_tracking_uri(cfg.to_dict()), work_root=str(Path("work_dirs") / "sweeps" / name))
    check_tracking_access(job.tracking_uri)  # one line for a bad server; a new SQLite store made under a lock
    client = MlflowClient(job.tracking_uri)
    study, created = job.open_study(worker=0)
    parent = S.parent_run_id(study, created, lambda: _create_parent(client, job, cfg, experiment, adopt=created),
                             lambda run_id: _usable(client, run_id), client.delete_run)
    _set_running(client, parent, job)
    logger.info("study %s (%s): %d trials, %d worker(s) here; parent MLflow run %s", name,
                S.storage_label(job.storage), budget, workers, parent)

    interrupted, failed, error = False, [], None  # failed: [(worker name, exit code)]
    try:
        if workers == 1:
            work(job, parent, study, worker=0)
        else:
            failed = _run_workers(job, parent, workers)
            interrupted = any(code == 130 for _, code in failed)  # Ctrl-C reached the workers only
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # noqa: BLE001 - summarise and end the parent run first, then re-raise
        error = exc
    result = _finish(client, parent, job, study, "KILLED" if interrupted else "FAILED" if error or failed else None)
    if interrupted:
        raise KeyboardInterrupt("sweep interrupted")
    if error is not None:
        raise error
    if failed and not result["complete"]:  # a crashed worker matters only if the study is left short
        codes = "; ".join(f"{worker_name}: exit code {code}" for worker_name, code in failed)
        raise RuntimeError(f"sweep workers failed ({codes}) before study {job.study_name!r} was complete; "
                           "see their errors above, then resume with the same --study-name")
    return result


def work(job: SweepJob, parent: str, study: optuna.Study, worker: int = 0) -> None:
    """One worker: run trials until the study needs no more, then wait for other workers' trials
    to finish (re-running those whose worker died). Raises the first ConfigError of a trial."""
    client = MlflowClient(job.tracking_uri)
    experiment_id = client.get_run(parent).info.experiment_id
    objective = TrialObjective(job.config, job.cfg_options, job.spec, job.n_trials, job.study_name, client,
                               parent, experiment_id, job.work_root)
    figures = StudyFigures(client, parent, job.spec.metric)  # Optuna's figures on the parent, per trial
    start, timeout = time.monotonic(), job.spec.timeout
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a dead worker's trial: FAIL, re-queued
        trials = study.get_trials(deepcopy=False)
        if timeout is not None and time.monotonic() - start >= timeout:
            logger.info("worker %d: sweep.timeout=%gs reached; stopping", worker, timeout)
            return
        if S.needs_work(trials, job.n_trials):
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[figures])
            if objective.fatal is not None:
                raise objective.fatal
            try:
                log_progress(client, parent, study, job.spec)
            except Exception as exc:  # noqa: BLE001 - bookkeeping: the next trial matters more
                logger.warning("could not update the parent run: %s", redact_text(str(exc))[:300])
        elif S.is_complete(trials, job.n_trials):
            return
        else:  # other workers' trials still run; they finish, or go stale and are re-queued
            time.sleep(min(job.spec.heartbeat_interval, 2))


def _worker_main(job: SweepJob, parent: str, worker: int, num_workers: int, errors) -> None:
    """Entry point of a spawned worker process."""
    import torch

    from mlpose.engine.logger import setup_logger

    setup_logger(name="mlpose.sweep")
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // num_workers))  # K workers share the cores
    try:
        study, _ = job.open_study(worker)
        work(job, parent, study, worker)
    except ConfigError as exc:
        errors.put(str(exc))
        raise SystemExit(2)
    except KeyboardInterrupt:
        raise SystemExit(130)


def _run_workers(job: SweepJob, parent: str, num_workers: int) -> list[tuple[str, int]]:
    """Start ``num_workers`` spawned workers and wait for them; returns ``(name, exit code)`` of
    those that failed."""
    ctx = multiprocessing.get_context("spawn")  # no fork: torch and MLflow clients are not fork-safe
    errors = ctx.SimpleQueue()
    procs = [ctx.Process(target=_worker_main, args=(job, parent, i, num_workers, errors), name=f"sweep-worker-{i}")
             for i in range(num_workers)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join()
    except KeyboardInterrupt:  # the workers got the signal too: give them time to stop cleanly
        for proc in procs:
            proc.join(timeout=120)
            if proc.is_alive():
                proc.terminate()
        raise
    if not errors.empty():
        raise ConfigError(errors.get())
    return [(p.name, p.exitcode) for p in procs if p.exitcode]


def _create_parent(client: MlflowClient, job: SweepJob, cfg, experiment: str | None, adopt: bool) -> str:
    """A new parent run (or the run ``mlflow run`` made for this process) with the search as
    params and the study as tags."""
    from mlflow.entities import Param
    from mlflow.tracking.context.registry import resolve_tags

    from mlpose.tracking.runs import experiment_id

    tags = {"mlpose.sweep": job.study_name, "mlpose.sweep.storage": S.storage_label(job.storage),
            "mlpose.config": cfg.name, "mlpose.command": redact_text(shlex.join(sys.argv))[:5000]}
    launcher_run = os.environ.get("MLFLOW_RUN_ID") if adopt else None
    if launcher_run and _usable(client, launcher_run):
        run_id = launcher_run
        for key, value in tags.items():
            client.set_tag(run_id, key, value)
    else:
        exp_id = experiment_id(client, cfg.to_dict(), cfg.name, experiment)
        run_id = client.create_run(exp_id, run_name=f"sweep-{job.study_name}", tags=resolve_tags(tags)).info.run_id
    params = [Param(k, truncate(v)) for k, v in job.spec.describe().items()]
    client.log_batch(run_id, params=params, synchronous=True)
    if cfg.filename and os.path.isfile(cfg.filename):
        text = Path(cfg.filename).read_text(encoding="utf-8", errors="replace")
        client.log_text(run_id, redact_text(text), f"config/{Path(cfg.filename).name}")
    return run_id


def _usable(client: MlflowClient, run_id: str) -> bool:
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:
        return False


def _set_running(client: MlflowClient, parent: str, job: SweepJob) -> None:
    client.update_run(parent, status="RUNNING")
    client.set_tag(parent, "mlpose.sweep.n_trials", str(job.n_trials))


def _finish(client: MlflowClient, parent: str, job: SweepJob, study: optuna.Study, stopped: str | None) -> dict:
    """Summarise on the parent run and set its status: FINISHED when the study is complete; when
    it is not and no trial is running anywhere, ``stopped`` (KILLED for Ctrl-C, FAILED for an
    error) or KILLED (timeout); else left RUNNING for the other workers."""
    trials = study.get_trials(deepcopy=False)
    complete = S.is_complete(trials, job.n_trials)
    best = None
    try:
        best = write_summary(client, parent, study, job.spec)["best"]
        running = any(t.state == optuna.trial.TrialState.RUNNING for t in S.counted(trials))
        if complete:
            client.set_terminated(parent, "FINISHED")
        elif not running:
            client.set_terminated(parent, stopped or "KILLED")
    except Exception as exc:  # noqa: BLE001 - the trials are done and stored; say what failed, return them
        logger.warning("could not write the sweep summary to run %s: %s: %s", parent, type(exc).__name__,
                       redact_text(str(exc))[:300])
    if best is not None:
        logger.info("study %s: best trial %d, %s=%.4f, params %s, run %s", job.study_name, best["number"],
                    job.spec.metric, best["value"], best["params"], best["run_id"])
    return {"study_name": job.study_name, "storage": S.storage_label(job.storage), "parent_run_id": parent,
            "n_trials": job.n_trials, "complete": complete, "best": best}
