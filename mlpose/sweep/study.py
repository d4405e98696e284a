"""Where a study lives and how workers share it.

* Storage: a path (default ``work_dirs/sweeps/<study>.journal``) is an Optuna journal file,
  safe for several processes; a URL with ``://`` is any SQLAlchemy URL (``sqlite:///...``,
  ``postgresql://...``) opened with :class:`optuna.storages.RDBStorage`.
* Heartbeat: each running trial records a heartbeat every ``heartbeat_interval`` seconds; a
  RUNNING trial silent for ``grace_period`` seconds (its worker was killed) is marked FAIL by the
  next worker that starts a trial, and re-queued once with the same parameters. RDB storages do
  this natively; the journal file gets it from :class:`HeartbeatJournalStorage`.
* Budget: ``n_trials`` counts the study's trials in every state, except trials that were re-queued
  (their retry counts instead) and surplus trials (asked for after another worker took the last
  slot: they are failed at once with the user attr ``mlpose.surplus``).
* One parent MLflow run per study: the worker that creates the study (creation is atomic in
  every storage) creates the parent run and stores its id in the study user attr
  ``mlflow_parent_run_id``; joining workers wait for it.
"""
from __future__ import annotations

import logging
import re
import time
import warnings
from pathlib import Path
from typing import Callable

import optuna
import sqlalchemy.exc
from optuna.exceptions import DuplicatedStudyError, ExperimentalWarning, UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat  # the hook optuna's optimize() runs heartbeats through
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from mlpose.errors import ConfigError
from mlpose.tracking.redact import redact_text

logger = logging.getLogger(__name__)

PARENT_ATTR = "mlflow_parent_run_id"
RUN_ATTR = "mlflow_run_id"
SURPLUS_ATTR = "mlpose.surplus"
HEARTBEAT_ATTR = "mlpose.heartbeat"
MAX_RETRY = 1  # a trial whose worker died is re-run once; a second death leaves it FAIL
PARENT_WAIT_S = 60.0  # how long a joining worker waits for the creator's parent run id
SETTLE_S = 1.0  # fallback check-then-set: time for a concurrent writer's value to land
TABLE_RACE_RETRIES = 4  # opening a fresh database: retries after losing the table-creation race


def default_storage(study_name: str) -> str:
    """``work_dirs/sweeps/<study>.journal`` as an absolute path (characters unsafe in file names
    replaced by ``_``)."""
    safe = re.sub(r"[^\w.\-]+", "_", study_name).strip("._") or "study"
    return str((Path("work_dirs") / "sweeps" / f"{safe}.journal").resolve())


def storage_label(storage: str) -> str:
    """``storage`` as it may be shown and logged: passwords masked."""
    return redact_text(storage)


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal-file storage with heartbeats, so a killed worker's trial does not stay RUNNING.

    A heartbeat is the trial system attr ``mlpose.heartbeat`` (Unix time, seconds) appended to the
    journal every ``heartbeat_interval`` s. A RUNNING trial is stale when its last heartbeat (or
    its start, before the first) is older than ``grace_period`` s by this machine's clock, so
    workers sharing a journal on a network disk need clocks agreeing to well under the grace.
    """

    def __init__(self, path: str, heartbeat_interval: int, grace_period: int,
                 stale_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(JournalFileBackend(path))
        self.path = path
        self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
        self.stale_callback = stale_callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        except UpdateFinishedTrialError:  # another worker already failed it as stale
            pass

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            start = trial.datetime_start.timestamp() if trial.datetime_start else now
            if now - float(trial.system_attrs.get(HEARTBEAT_ATTR, start)) > self.grace_period:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.stale_callback


def open_storage(storage: str, heartbeat_interval: int, grace_period: int,
                 on_stale: Callable[[optuna.Study, FrozenTrial], None] | None = None) -> BaseStorage:
    """Open ``storage`` (a journal file path or an SQLAlchemy URL) with heartbeats on.

    Args:
        storage: path, or URL such as ``sqlite:///sweeps.db`` / ``postgresql://u:p@host/db``.
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds of silence after which a RUNNING trial is failed (and retried).
        on_stale: called with ``(study, failed_trial)`` for each such trial before the retry.
    """
    with warnings.catch_warnings():  # heartbeats and retries are 'experimental' in optuna since 2.8
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)

    def stale(study: optuna.Study, trial: FrozenTrial) -> None:
        if on_stale is not None:
            on_stale(study, trial)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            retry(study, trial)

    if "://" not in storage:
        return HeartbeatJournalStorage(storage, heartbeat_interval, grace_period, stale)
    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", storage)  # psycopg2 is what mlpose installs
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    try:
        for attempt in range(TABLE_RACE_RETRIES + 1):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ExperimentalWarning)
                    return RDBStorage(url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval,
                                      grace_period=grace_period, heartbeat_stale_trial_callback=stale)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
                # Workers starting together on an empty database race to create optuna's tables
                # (PostgreSQL: duplicate pg_type/relation); the loser finds them made on a retry.
                if attempt == TABLE_RACE_RETRIES:
                    raise
                time.sleep(0.5 + attempt)
    except Exception as exc:  # noqa: BLE001 - any driver/connection error becomes one clear line
        message = redact_text(" ".join(str(exc).split()))[:300]
        raise ConfigError(f"--storage {storage_label(storage)}: cannot open it as an Optuna RDB storage "
                          f"({type(exc).__name__}: {message}); give a journal file path or a reachable "
                          "SQLAlchemy URL (sqlite:///file.db, postgresql://user@host:5432/db)") from None


def create_or_load(storage: BaseStorage, name: str, direction: str, sampler, pruner) -> tuple[optuna.Study, bool]:
    """Create study ``name``, or load it when it exists; returns ``(study, created_here)``.

    Creation is atomic in every Optuna storage (a unique study name), so exactly one of several
    concurrent workers gets ``created_here=True``.
    """
    try:
        return optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                   pruner=pruner, load_if_exists=False), True
    except DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name!r} exists with direction {study.direction.name.lower()}, the config says "
                          f"{direction}; use another --study-name")
    return study, False


def parent_run_id(study: optuna.Study, created: bool, make_run: Callable[[], str],
                  run_usable: Callable[[str], bool], drop_run: Callable[[str], None],
                  wait_s: float = PARENT_WAIT_S) -> str:
    """The study's one parent MLflow run id, creating the run when this worker must.

    Args:
        study: the shared study.
        created: whether this worker created the study (then it alone creates the parent run).
        make_run: creates a parent run, returns its id.
        run_usable: whether a stored id still names a live run at this tracking URI.
        drop_run: deletes a run this worker made but lost a race with.
        wait_s: how long a joining worker waits for the creator to store the id.
    """
    if created:
        run_id = make_run()
        study.set_user_attr(PARENT_ATTR, run_id)
        return run_id
    deadline = time.monotonic() + (0 if study.get_trials(deepcopy=False) else wait_s)
    while (stored := study.user_attrs.get(PARENT_ATTR)) is None and time.monotonic() < deadline:
        time.sleep(0.5)
    if stored is not None and run_usable(stored):
        return stored
    # The creator died before storing it, or the run was deleted: replace it. Check-then-set is
    # not atomic, so settle and re-read; the last writer wins and every loser deletes its run.
    logger.warning("study %s: parent MLflow run %s is missing; creating a new one", study.study_name, stored)
    mine = make_run()
    if study.user_attrs.get(PARENT_ATTR) == stored:
        study.set_user_attr(PARENT_ATTR, mine)
    time.sleep(SETTLE_S)
    winner = study.user_attrs.get(PARENT_ATTR)
    if winner != mine:
        drop_run(mine)
    return winner


def requeue(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a copy of ``trial`` (same params) to run later, e.g. after Ctrl-C stopped it; the
    copy replaces it in the budget, as a heartbeat retry does."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        RetryHeartbeatStaleTrialCallback(max_retry=None)(study, trial)


def superseded(trials: list[FrozenTrial]) -> set[int]:
    """Numbers of trials that were re-queued after a lost heartbeat (their retry replaces them)."""
    return {t.system_attrs["retry_history"][-1] for t in trials if t.system_attrs.get("retry_history")}


def counted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that use up ``n_trials`` (every state; retried and surplus trials excluded)."""
    gone = superseded(trials)
    return [t for t in trials if t.number not in gone and not t.user_attrs.get(SURPLUS_ATTR)]


def is_queued(trial: FrozenTrial) -> bool:
    """Whether the trial came from the queue (an enqueued point or a retry), not a fresh ask."""
    return "fixed_params" in trial.system_attrs or "failed_trial" in trial.system_attrs


def is_surplus(trials: list[FrozenTrial], trial: FrozenTrial, n_trials: int) -> bool:
    """Whether ``trial`` (freshly asked) lies beyond the budget, because several workers asked at once."""
    if is_queued(trial):
        return False
    return sum(t.number < trial.number for t in counted(trials)) >= n_trials


def needs_work(trials: list[FrozenTrial], n_trials: int) -> bool:
    """Whether a worker should ask for another trial: budget left, or queued trials waiting."""
    live = counted(trials)
    return len(live) < n_trials or any(t.state == TrialState.WAITING for t in live)


def is_complete(trials: list[FrozenTrial], n_trials: int) -> bool:
    """The budget is used up and no counted trial is still running or waiting."""
    live = counted(trials)
    return len(live) >= n_trials and all(t.state.is_finished() for t in live)
