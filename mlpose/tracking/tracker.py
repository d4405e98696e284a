"""One MLflow run per mlpose job: start or attach, log without stalling training, finish.

Only rank 0 creates a :class:`Tracker` (other ranks use :class:`NullTracker` with the run id
broadcast from rank 0). Typical use by the engine::

    tracker = Tracker.start(cfg, config_file=cfg.filename, config_name=cfg.name, experiment=None,
                            tracking_uri=None, command=sys.argv, launcher='none', world_size=1,
                            precision='fp32')
    tracker.log_metrics({'loss': 0.12, 'lr': 5e-4, 'epoch': 1}, step=it)   # python floats
    tracker.log_checkpoint(path, 'last.pth'); tracker.flush()              # at a checkpoint
    tracker.finish('FINISHED')                                              # or FAILED/KILLED

Where: ``tracking_uri`` argument, else ``$MLFLOW_TRACKING_URI``, else ``cfg.tracking.uri``, else
``sqlite:///<cwd>/mlflow.db`` (MLflow's own default, written out: the ``file:`` store is refused).
Which run: ``run_id``, else ``$MLFLOW_RUN_ID`` (set by ``mlflow run``; ignored for child runs,
i.e. when ``parent_run_id`` is given), else a new run in the experiment named by ``experiment``,
``$MLFLOW_EXPERIMENT_NAME``, ``$MLFLOW_EXPERIMENT_ID``, ``cfg.tracking.experiment`` or the config
name. An attached run keeps the params it has; config values that differ from them are kept
in the tag ``mlpose.param_conflicts`` (MLflow forbids changing a param).
"""
from __future__ import annotations

import atexit
import logging
import os
import re
import time
import traceback
from typing import Any, Mapping

import mlflow
from mlflow import MlflowClient
from mlflow.entities import RunTag
from mlflow.exceptions import MlflowException

from mlpose.evaluation.names import mlflow_key
from mlpose.registry import ConfigError
from mlpose.tracking.async_logger import AsyncLogger, stage_file
from mlpose.tracking.params import MAX_TAG_VAL_LENGTH, log_run_setup, truncate
from mlpose.tracking.redact import redact_text

logger = logging.getLogger(__name__)

STATUSES = ("FINISHED", "FAILED", "KILLED")
LAST_CHECKPOINT_TAG = "mlpose.last_checkpoint"
LAST_CHECKPOINT_BYTES_TAG = "mlpose.last_checkpoint_bytes"


def resolve_tracking_uri(cfg: Mapping | None = None, explicit: str | None = None) -> str:
    """The tracking URI a job uses (see the module docstring for the order)."""
    tracking = (cfg or {}).get("tracking") or {}
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI") or tracking.get("uri")
    if not uri:
        return f"sqlite:///{os.path.abspath('mlflow.db')}"
    uri = str(uri)
    if uri.startswith("file:") or "://" not in uri and not uri.startswith(("databricks", "uc")):
        raise ConfigError(
            f"tracking URI {redact_text(uri)!r}: MLflow 3.13+ refuses the file store; use "
            "sqlite:///path/to/mlflow.db or an http(s):// tracking server (MLFLOW_TRACKING_URI or tracking.uri)")
    # SQLAlchemy 2.1 maps postgresql:// to psycopg 3; mlpose installs psycopg2.
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", uri)


def experiment_id(client: MlflowClient, cfg: Mapping, config_name: str, experiment: str | None) -> str:
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name and os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    name = name or ((cfg.get("tracking") or {}).get("experiment")) or config_name
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name)
        except MlflowException as exc:  # another process created it first
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            exp = client.get_experiment_by_name(name)
    if exp.lifecycle_stage == "deleted":
        raise ConfigError(f"MLflow experiment {name!r} is deleted; restore it "
                          f"(mlflow experiments restore --experiment-id {exp.experiment_id}) or pick another name")
    return exp.experiment_id


def get_existing_run(client: MlflowClient, run_id: str, uri: str, action: str = ""):
    """``client.get_run(run_id)``, or a one-line ConfigError when the run is missing or deleted.

    Args:
        action: what was being tried, put first in the message (e.g. ``'cannot resume: '``).
    """
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise ConfigError(f"{action}MLflow run {run_id!r} not found at tracking URI {redact_text(uri)!r}; "
                              "check the run id and MLFLOW_TRACKING_URI") from None
        raise
    if run.info.lifecycle_stage == "deleted":
        raise ConfigError(f"{action}MLflow run {run_id!r} is deleted; restore it "
                          f"(mlflow runs restore --run-id {run_id}) first")
    return run


def _attach(client: MlflowClient, run_id: str, uri: str):
    run = get_existing_run(client, run_id, uri)
    client.update_run(run_id, status="RUNNING")
    return run


def _last_steps(client: MlflowClient, run) -> dict[str, int]:
    """Highest step already stored per metric key of an attached run."""
    return {key: max(m.step for m in hist)
            for key in run.data.metrics if (hist := client.get_metric_history(run.info.run_id, key))}


class Tracker:
    """The MLflow side of one job (rank 0). Create it with :meth:`start`."""

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str, tracking_uri: str,
                 last_steps: dict[str, int] | None = None):
        self.client, self.run_id = client, run_id
        self.experiment_id, self.tracking_uri = experiment_id, tracking_uri
        self._last_steps = last_steps or {}
        self._keys: dict[str, str | None] = {}
        self._metrics = AsyncLogger(client, run_id)  # metrics and tags: small, frequent
        self._uploads = AsyncLogger(client, run_id)  # artifacts: large, must not delay metrics
        self.finished = False
        atexit.register(self._at_exit)

    @classmethod
    def start(cls, cfg: Mapping, *, config_file: str | None = None, config_name: str,
              experiment: str | None = None, tracking_uri: str | None = None,
              command: list[str] | None = None, launcher: str = "none", world_size: int = 1,
              precision: str = "fp32", run_id: str | None = None, parent_run_id: str | None = None,
              run_name: str | None = None, extra_tags: dict | None = None) -> "Tracker":
        """Create (or attach to) the run and log config params, config artifacts and tags.

        Args:
            cfg: the resolved config (a dict or ``mlpose.config.Config``); redacted before logging.
            config_file: path of the config file the user gave (logged under ``config/``).
            config_name: short config name (tag ``mlpose.config``, default experiment name).
            experiment: ``--experiment`` value.
            tracking_uri: overrides every other source of the tracking URI.
            command: the command line (tag ``mlpose.command``, redacted).
            launcher, world_size, precision: tags ``mlpose.launcher/world_size/precision``.
            run_id: attach to this existing run (resume) instead of creating one.
            parent_run_id: make the new run a child of this run (``mlflow.parentRunId``).
            run_name: name of a new run (default ``cfg.tracking.run_name``, else MLflow's).
            extra_tags: more tags, e.g. ``{'mlpose.source_run_id': ...}``.

        Raises:
            ConfigError: unknown/deleted run or experiment, or a refused tracking URI.
        """
        plain = _plain(cfg)
        uri = resolve_tracking_uri(plain, tracking_uri)
        mlflow.set_tracking_uri(uri)  # fluent calls (log_model) must reach the same store
        client = MlflowClient(uri)
        attach_id = run_id or (None if parent_run_id else os.environ.get("MLFLOW_RUN_ID"))
        if attach_id:
            run = _attach(client, attach_id, uri)
        else:
            from mlflow.tracking.context.registry import resolve_tags  # user, source name/type

            exp_id = experiment_id(client, plain, config_name, experiment)
            tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else {}
            run = client.create_run(exp_id, run_name=run_name or (plain.get("tracking") or {}).get("run_name"),
                                    tags=resolve_tags(tags))
        tracker = cls(client, run.info.run_id, run.info.experiment_id, uri,
                      _last_steps(client, run) if attach_id else None)
        try:
            log_run_setup(tracker, run, plain, config_file=config_file, config_name=config_name,
                          command=command, launcher=launcher, world_size=world_size,
                          precision=precision, parent_run_id=parent_run_id, extra_tags=extra_tags)
        except BaseException as exc:
            tracker.finish("FAILED", exc)
            raise
        return tracker

    # ---- hot path ------------------------------------------------------------------------
    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Queue scalars for ``step`` (global iteration); returns in microseconds.

        Args:
            metrics: name -> value. Pass python floats: a tensor is converted here with
                ``float()``, which waits for its device (convert at the log interval instead).
                Names go through ``mlflow_key`` (``coco/AP (M)`` -> ``coco/AP_M``).
            step: the global iteration. After a resume, points at or below the step already
                stored for that key are dropped, so histories hold each step once.
        """
        if self.finished:
            return
        now, step = int(time.time() * 1000), int(step)
        points = []
        for name, value in metrics.items():
            key = self._keys.get(name, "")
            if key == "":
                key = self._keys[name] = self._metric_key(name)
            if key is None or step <= self._last_steps.get(key, -1):
                continue
            points.append((key, value if type(value) is float else float(value), now, step))
        if points:
            self._metrics.put_metrics(points)

    @staticmethod
    def _metric_key(name: str) -> str | None:
        try:
            return mlflow_key(name)
        except ValueError as exc:
            logger.warning("not logging metric %r to MLflow: %s", name, exc)
            return None

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Queue tags (values redacted, stringified, cut to MLflow's 8000 characters)."""
        self._metrics.put_tags({k: truncate(redact_text(str(v)), MAX_TAG_VAL_LENGTH) for k, v in tags.items()})

    def flush(self, timeout: float | None = None, uploads: bool = False) -> bool:
        """Wait until the queued metrics and tags are stored (uploads too with ``uploads=True``).

        Not needed for resume safety (:meth:`log_checkpoint` orders itself after the metrics
        logged before it); use it where others must see the data now. Costs one pending
        ``log_batch`` round trip (tens of ms); does not wait for uploads unless asked.
        Returns False on timeout.
        """
        done = self._metrics.flush(timeout)
        return (self._uploads.flush(timeout) and done) if uploads else done

    # ---- artifacts -----------------------------------------------------------------------
    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Queue an upload of a file or folder as it is when the upload runs.

        Text files (.log, .txt, .py, .json, .yaml, ...) are redacted on the way.
        """
        if not self.finished:
            self._uploads.put_upload(os.fspath(local_path), artifact_path, redact_text_files=True)

    def log_checkpoint(self, path: str | os.PathLike, name: str | None = None, latest: bool | None = None) -> None:
        """Queue ``path`` for upload as ``checkpoints/<name>`` (default: its file name).

        The file is hard-linked into a staging folder first (copied if linking fails), so the
        caller may replace ``path`` right after (atomic ``os.replace`` saves keep the staged
        copy intact). The upload starts after every metric logged before this call is stored.
        After it, the tags ``mlpose.last_checkpoint``/``..._bytes`` point at it unless ``latest``
        is False (default: False for names starting with ``best``).
        """
        if self.finished:
            return
        name = name or os.path.basename(os.fspath(path))
        staged, stage_dir = stage_file(os.fspath(path), name)
        on_done = None
        if latest if latest is not None else not name.startswith("best"):
            tags = {LAST_CHECKPOINT_TAG: f"checkpoints/{name}", LAST_CHECKPOINT_BYTES_TAG: str(os.path.getsize(staged))}
            on_done = lambda: self.client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])  # noqa: E731
        # Uploaded only once every metric logged so far is stored: a resume from this checkpoint
        # then never leaves a gap in the histories, even without flush() and if killed right after.
        self._uploads.put_upload(staged, "checkpoints", cleanup_dir=stage_dir, on_done=on_done,
                                 after=self._metrics.put_barrier())

    def log_model(self, model, name: str = "best_model", registered_model_name: str | None = None,
                  alias: str | None = "best", checkpoint_path: str | os.PathLike | None = None):
        """Log ``model`` as an MLflow PyTorch model now (blocking; call it once, at the end).

        See :func:`mlpose.tracking.uris.log_pytorch_model` for what is stored (and how
        ``models:/`` URIs give the weights back). Returns the ``mlflow.models.model.ModelInfo``.
        """
        from mlpose.tracking.uris import log_pytorch_model

        self.flush()
        info = log_pytorch_model(self, model, name, registered_model_name, alias, checkpoint_path)
        self.set_tags({f"mlpose.model.{name}": info.model_uri})
        return info

    # ---- end -----------------------------------------------------------------------------
    def finish(self, status: str = "FINISHED", error: BaseException | None = None,
               timeout: float | None = None) -> None:
        """Write everything queued, record ``error`` (tag ``mlpose.error`` + ``error.txt``) and
        set the run's status. Later calls to any logging method are ignored."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if self.finished:
            return
        self.finished = True
        atexit.unregister(self._at_exit)
        if not (self._uploads.close(timeout) and self._metrics.close(timeout)):
            logger.warning("MLflow: gave up waiting for queued uploads of run %s", self.run_id)
        failed = self._uploads.num_failed + self._metrics.num_failed
        if failed:
            logger.warning("MLflow: %d logging operation(s) of run %s failed (see warnings above)", failed, self.run_id)
        if error is not None:
            _record_error(self.client, self.run_id, error)
        # Kept as a tag too: `mlflow run` overwrites the status after the job (see mlproject.py).
        self.client.set_tag(self.run_id, "mlpose.status", status)
        self.client.set_terminated(self.run_id, status)

    def _at_exit(self) -> None:
        try:
            self.finish("FAILED", RuntimeError("the process exited without Tracker.finish()"), timeout=60)
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing more can be done
            pass

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.finish("FINISHED")
        else:
            self.finish("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED", exc)


class NullTracker:
    """The tracker of ranks other than 0: same methods, no MLflow traffic."""

    def __init__(self, run_id: str | None = None):
        self.run_id, self.finished = run_id, False

    def log_metrics(self, metrics, step) -> None: ...
    def set_tags(self, tags) -> None: ...
    def flush(self, timeout=None, uploads=False) -> bool: return True
    def log_artifact(self, local_path, artifact_path=None) -> None: ...
    def log_checkpoint(self, path, name=None, latest=None) -> None: ...
    def log_model(self, model, name="best_model", registered_model_name=None, alias="best", checkpoint_path=None): ...

    def finish(self, status="FINISHED", error=None, timeout=None) -> None:
        self.finished = True


def _record_error(client: MlflowClient, run_id: str, error: BaseException) -> None:
    """Tag ``mlpose.error`` with a one-line summary and store the traceback as ``error.txt``."""
    message = " ".join(str(error).split())
    summary = f"{type(error).__name__}: {message}" if message else type(error).__name__
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    try:
        client.set_tag(run_id, "mlpose.error", truncate(redact_text(summary), 500))
        client.log_text(run_id, redact_text(text), "error.txt")
    except Exception as exc:  # noqa: BLE001 - the original error matters more than this one
        logger.warning("MLflow: could not record the error of run %s: %s", run_id, redact_text(str(exc))[:300])


def _plain(cfg: Mapping) -> dict:
    to_dict = getattr(cfg, "to_dict", None)
    return to_dict() if callable(to_dict) else dict(cfg)
