"""One trial = one training run, recorded as an MLflow child run of the study's parent run.

The child run is created here (tags ``mlflow.parentRunId``, ``mlpose.sweep``, ``mlpose.trial``;
params ``sweep.<key>`` = the sampled values) and handed to the trainer as ``run_id``, so the
trainer logs the trial's config, metrics and checkpoints into it. Afterwards the run gets the tag
``trial_state`` (COMPLETE / PRUNED / FAIL), the metric ``sweep/objective`` and a status that
matches: FINISHED, KILLED for a pruned trial, FAILED for a failed one.
"""
from __future__ import annotations

import logging
import math
import os
import socket
from pathlib import Path
from typing import Any

import optuna
from mlflow import MlflowClient
from mlflow.entities import Param
from optuna.trial import FrozenTrial

from mlpose.errors import ConfigError, DataError
from mlpose.tracking.params import canonical_str, truncate
from mlpose.tracking.redact import redact_text

from .space import SweepSpec
from .study import RUN_ATTR, SURPLUS_ATTR, is_surplus, requeue

logger = logging.getLogger(__name__)

STATE_TAG = "trial_state"
WORKER_ATTR = "mlpose.worker"
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # which process ran a trial (host:pid)
OBJECTIVE_METRIC = "sweep/objective"
LOSS_METRIC = "loss"  # the trainer's total training loss


class TrialFailed(RuntimeError):
    """The trial ran but produced no usable objective (e.g. NaN)."""


class SurplusTrial(RuntimeError):
    """Asked for after the budget was already taken by other workers; discarded unrun."""


class TrialObjective:
    """The Optuna objective of a sweep: trains one config per trial and returns its objective.

    The objective is the best value of ``spec.metric`` over the trial's validations (the highest
    for ``maximize``), i.e. the score of the checkpoint the trial keeps as best. A ConfigError
    (a user mistake every trial would repeat) is kept in :attr:`fatal` so the worker stops; a
    DataError (a bad sample, which a searched data path may hold for one trial only) fails its trial.

    Args:
        config: config path or short name, as given to ``mlpose sweep``.
        cfg_options: the user's ``--cfg-options`` (applied before the trial's values).
        spec: the parsed search.
        n_trials: the study's budget (surplus check).
        study_name: for tags and the work dir ``work_dirs/sweeps/<study>/trial_<n>``.
        client: MLflow client of the tracking URI the trainer uses too.
        parent_run_id: the study's parent run.
        experiment_id: where child runs go (the parent's experiment).
    """

    def __init__(self, config: str, cfg_options: list[str], spec: SweepSpec, n_trials: int, study_name: str,
                 client: MlflowClient, parent_run_id: str, experiment_id: str, work_root: str | Path):
        self.config, self.cfg_options, self.spec = config, list(cfg_options), spec
        self.n_trials, self.study_name = n_trials, study_name
        self.client, self.parent_run_id, self.experiment_id = client, parent_run_id, experiment_id
        self.work_root = Path(work_root)
        self.fatal: BaseException | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        trials = trial.study.get_trials(deepcopy=False)
        frozen = next(t for t in trials if t.number == trial.number)  # its system attrs tell queued from fresh
        if is_surplus(trials, frozen, self.n_trials):
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise SurplusTrial(f"trial {trial.number} is beyond the study's {self.n_trials} trials "
                               "(another worker took the last one); discarded without running")
        values = {p.key: p.suggest(trial) for p in self.spec.params}
        run_id = self._start_child(frozen, values)
        trial.set_user_attr(RUN_ATTR, run_id)
        trial.set_user_attr(WORKER_ATTR, WORKER)
        state, value, reason = "FAIL", None, None
        try:
            value = self._train(trial, values, run_id)
            state = "COMPLETE"
            return value
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        except (SystemExit, KeyboardInterrupt) as exc:  # Ctrl-C/SIGTERM: stop the sweep, run this trial later
            requeue(trial.study, frozen)
            raise KeyboardInterrupt(f"trial {trial.number} interrupted; queued to run again on resume") from exc
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, ConfigError) and not isinstance(exc, DataError):  # a bad sample fails this trial only
                self.fatal = exc
            raise
        finally:
            close_child(self.client, run_id, state, value, reason)

    # ----- helpers ------------------------------------------------------------------------------
    def _start_child(self, trial: FrozenTrial, values: dict[str, Any]) -> str:
        from mlflow.tracking.context.registry import resolve_tags  # user, source name/type

        # No mlpose.config tag here: the trainer treats a run that has one as a resumed run.
        tags = {"mlflow.parentRunId": self.parent_run_id, "mlpose.sweep": self.study_name,
                "mlpose.trial": str(trial.number), "mlpose.sweep.worker": WORKER, STATE_TAG: "RUNNING"}
        retried = trial.system_attrs.get("failed_trial")
        if retried is not None:
            tags["mlpose.retry_of_trial"] = str(retried)
        run = self.client.create_run(self.experiment_id, run_name=f"{self.study_name}-trial-{trial.number}",
                                     tags=resolve_tags(tags))
        params = [Param(f"sweep.{key}", truncate(canonical_str(value))) for key, value in values.items()]
        self.client.log_batch(run.info.run_id, params=params, synchronous=True)
        return run.info.run_id

    def _train(self, trial: optuna.Trial, values: dict[str, Any], run_id: str) -> float:
        from mlpose.engine.jobs import TrainOptions, train

        metric, maximize = self.spec.metric, self.spec.direction == "maximize"
        seen: list[float] = []

        def on_validate(epoch: int, step: int, metrics: dict) -> None:
            value = _objective_value(metrics, metric)
            if not math.isfinite(value):
                raise TrialFailed(f"{metric} is {value} at epoch {epoch}")
            self._check_loss(run_id, f"epoch {epoch}")
            seen.append(value)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned at epoch {epoch}: {metric}={value:.4f}")

        work_dir = self.work_root / f"trial_{trial.number}"
        options = [*self.cfg_options, *self.spec.trial_options(values)]
        command = ["mlpose", "train", self.config, "--work-dir", str(work_dir), "--cfg-options", *options]
        opts = TrainOptions(work_dir=str(work_dir), cfg_options=options, run_id=run_id,
                            parent_run_id=self.parent_run_id, on_validate=on_validate, command=command)
        result = train(self.config, opts)  # the session puts the sweep's signal handlers back when it closes
        self._check_loss(run_id, "the end of training")  # everything is flushed now
        if not seen:  # validation never ran inside the loop: use what train() returned
            seen.append(_objective_value(result.get("metrics") or {}, metric))
        value = max(seen) if maximize else min(seen)
        if not math.isfinite(value):
            raise TrialFailed(f"{metric} is {value}")
        return value

    def _check_loss(self, run_id: str, when: str) -> None:
        """A diverged run (NaN/inf training loss) fails even when its validation metric looks finite
        (decoding NaN heatmaps still yields keypoints). Reads the trainer's latest logged loss."""
        loss = self.client.get_run(run_id).data.metrics.get(LOSS_METRIC)
        if loss is not None and not math.isfinite(loss):
            raise TrialFailed(f"training {LOSS_METRIC} is {loss} at {when}")


def _objective_value(metrics: dict, metric: str) -> float:
    if metric not in metrics:
        known = ", ".join(sorted(metrics)) or "none (no validation ran: check val_dataloader, val_evaluator, " \
                                               "train_cfg.val_interval <= max_epochs)"
        raise ConfigError(f"sweep.metric={metric!r} is not a validation metric; the trial reported: {known}")
    return float(metrics[metric])


def close_child(client: MlflowClient, run_id: str, state: str, value: float | None, reason: str | None = None) -> None:
    """Tag the trial's outcome and give its run the matching status.

    COMPLETE keeps the trainer's FINISHED; PRUNED becomes KILLED; FAIL becomes FAILED unless the
    trainer already ended the run KILLED (interrupted). A run the trainer never attached to (it
    failed before) is ended here too, so no trial run stays RUNNING.
    """
    try:
        run = client.get_run(run_id)
        client.set_tag(run_id, STATE_TAG, state)
        if reason and "mlpose.error" not in run.data.tags:  # the trainer records the errors it sees
            client.set_tag(run_id, "mlpose.error", truncate(redact_text(" ".join(reason.split())), 500))
        if value is not None:
            client.log_metric(run_id, OBJECTIVE_METRIC, value)
        status = run.info.status
        target = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}[state]
        if state == "FAIL" and status == "KILLED":
            target = "KILLED"
        if status != target:
            client.set_terminated(run_id, target)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not hide the trial's own outcome
        logger.warning("MLflow: could not record the outcome of trial run %s: %s", run_id, redact_text(str(exc))[:300])


class StaleTrialRecorder:
    """Heartbeat-stale callback: the trial's worker died, so end its MLflow run as FAILED."""

    def __init__(self, tracking_uri: str, grace_period: int):
        self.tracking_uri, self.grace_period = tracking_uri, grace_period

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        run_id = trial.user_attrs.get(RUN_ATTR)
        logger.warning("study %s: trial %d lost its worker (no heartbeat for %d s): marked failed; it is re-queued "
                       "unless it was already a retry", study.study_name, trial.number, self.grace_period)
        if run_id:
            close_child(MlflowClient(self.tracking_uri), run_id, "FAIL", None,
                        reason=f"worker lost: no heartbeat for {self.grace_period} s")
