"""One MLflow run per mlpose job: start or attach, log without stalling training, finish.

Only rank 0 creates a :class:`Tracker` (other ranks use :class:`~mlpose.tracking.base.NullTracker`
with the run id broadcast from rank 0; both have the interface of
:class:`~mlpose.tracking.base.BaseTracker`). Typical use by the engine::

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
name. A new run is named ``cfg.tracking.run_name``, else ``<config>-<n>`` (n counts that name's
runs in the experiment: never MLflow's random name, which the seeded RNG made the same every time). An attached run keeps the params it has; config values that differ from them are kept
in the tag ``mlpose.param_conflicts`` (MLflow forbids changing a param).
"""
from __future__ import annotations

import atexit
import logging
import os
import time
from typing import Any, Mapping

import mlflow
from mlflow import MlflowClient

from mlpose.evaluation.names import mlflow_key
from mlpose.tracking.artifact_store import CheckpointLinker
from mlpose.tracking.async_logger import AsyncLogger, Outage, stage_file
from mlpose.tracking.base import BaseTracker
from mlpose.tracking.inputs import queue_datasets
from mlpose.tracking.ending import end_run, error_texts
from mlpose.tracking.journal import forget_run, lane_path, write_run_info
from mlpose.tracking.liveness import process_id
from mlpose.tracking.params import MAX_TAG_VAL_LENGTH, log_run_setup, truncate
from mlpose.tracking.redact import redact_text
from mlpose.tracking.runs import (_attach, experiment_id, last_steps, make_name_unique, new_run_name,
                                  resolve_tracking_uri)
from mlpose.tracking.system import start_system_metrics
from mlpose.tracking.store_init import check_artifact_root
from mlpose.tracking.step_media import (ImageSource, TableSource, TableWriter, image_key, stage_folder_without,
                                        stage_image, table_file)

logger = logging.getLogger(__name__)

STATUSES = ("FINISHED", "FAILED", "KILLED")
LAST_CHECKPOINT_TAG = "mlpose.last_checkpoint"
LAST_CHECKPOINT_BYTES_TAG = "mlpose.last_checkpoint_bytes"


class Tracker(BaseTracker):
    """The MLflow side of one job (rank 0). Create it with :meth:`start`."""

    active = True

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str, tracking_uri: str,
                 last_steps: dict[str, int] | None = None, log_models: bool | str = True,
                 journal_dir: str | os.PathLike | None = None, flush_timeout: float = 30.0):
        super().__init__(run_id, experiment_id, tracking_uri)
        self.client = client
        self.log_models = log_models  # tracking.log_model: True (best + last), 'all' or False
        self.journal_dir, self.flush_timeout = journal_dir, flush_timeout  # tracking.flush_timeout
        self._last_steps = last_steps or {}
        self._keys: dict[str, str | None] = {}
        self._points: dict[str, tuple[float, int, int]] = {}  # key -> its last (value, timestamp, step)
        if journal_dir:  # `mlpose sync` finds the run's pending writes by this file
            write_run_info(journal_dir, run_id, tracking_uri=redact_text(tracking_uri), experiment_id=experiment_id,
                           process=process_id())
        lanes = {lane: lane_path(journal_dir, run_id, lane) if journal_dir else None for lane in ("metrics", "uploads")}
        outage = Outage(redact_text(tracking_uri))  # one warning line for both lanes
        # metrics and tags: small, frequent
        self._metrics = AsyncLogger(client, run_id, journal=lanes["metrics"], outage=outage, lane="metrics")
        self._linker = CheckpointLinker(client)  # checkpoints into a local store: hard links
        # artifacts: large, must not delay metrics
        self._uploads = AsyncLogger(self._linker, run_id, journal=lanes["uploads"], outage=outage, lane="uploads")
        self._system = None  # MLflow's system-metrics monitor (tracking/system.py), started by start()
        self._sent: set[str] = set()  # files uploaded on their own: left out of folder uploads
        self._stage_dir = os.fspath(journal_dir) if journal_dir else None  # staged images and tables
        self._tables = TableWriter(client, run_id, self._stage_dir)
        atexit.register(self._at_exit)

    @classmethod
    def start(cls, cfg: Mapping, *, config_file: str | None = None, config_name: str,
              experiment: str | None = None, tracking_uri: str | None = None,
              command: list[str] | None = None, launcher: str = "none", world_size: int = 1,
              precision: str = "fp32", run_id: str | None = None, parent_run_id: str | None = None,
              run_name: str | None = None, extra_tags: dict | None = None,
              journal_dir: str | os.PathLike | None = None, name_base: str | None = None,
              default_experiment: str | None = None) -> "Tracker":
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
            run_name: name of a new run (default ``cfg.tracking.run_name``, else
                ``<name_base>-<n>``: n counts those runs of the experiment, see ``new_run_name``).
            extra_tags: more tags, e.g. ``{'mlpose.source_run_id': ...}``.
            journal_dir: keep the run's pending writes here (``<work_dir>/tracking-journal``),
                where ``mlpose sync`` finds them; default a temporary folder.
            name_base: what a new run's name starts with (default ``config_name``).
            default_experiment: the experiment when nothing names one (default ``config_name``).

        Raises:
            ConfigError: unknown/deleted run or experiment, or a refused tracking URI.
        """
        from mlpose.tracking.models import model_policy

        plain = _plain(cfg)
        uri = resolve_tracking_uri(plain, tracking_uri)
        mlflow.set_tracking_uri(uri)  # MLflow's own lookups (artifact repositories of models) reach the same store
        client = MlflowClient(uri)
        attach_id = run_id or (None if parent_run_id else os.environ.get("MLFLOW_RUN_ID"))
        if attach_id:
            run = _attach(client, attach_id, uri)
        else:
            from mlflow.tracking.context.registry import resolve_tags  # user, source name/type

            exp_id = experiment_id(client, plain, config_name, experiment, default_experiment)
            check_artifact_root(client, exp_id)  # else no checkpoint or model is stored, each with a warning
            tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else {}
            name = run_name or (plain.get("tracking") or {}).get("run_name")
            run = client.create_run(exp_id, run_name=name or new_run_name(client, exp_id, name_base or config_name),
                                    tags=resolve_tags(tags))
            if not name:
                make_name_unique(client, run)
        if uri.startswith(("http://", "https://")):
            # The lanes retry and journal by themselves: MLflow's own 7 HTTP retries with
            # backoff would hold a lane (and a flush) for minutes when the server is away.
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        tracking = plain.get("tracking") or {}
        tracker = cls(client, run.info.run_id, run.info.experiment_id, uri,
                      last_steps(client, run) if attach_id else None, model_policy(tracking),
                      journal_dir=journal_dir, flush_timeout=float(tracking.get("flush_timeout", 30.0)))
        try:
            log_run_setup(tracker, run, plain, config_file=config_file, config_name=config_name,
                          command=command, launcher=launcher, world_size=world_size,
                          precision=precision, parent_run_id=parent_run_id, extra_tags=extra_tags)
        except BaseException as exc:
            tracker.finish("FAILED", exc)
            raise
        tracker._system = start_system_metrics(plain.get("tracking") or {}, tracker.run_id, uri, bool(attach_id))
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
            self._points[key] = points[-1][1:]
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
        Returns False on timeout, and when the server is away (what was queued is then kept
        in the journal and sent once it is back).
        """
        done = self._metrics.flush(timeout)
        return (self._uploads.flush(timeout) and done) if uploads else done

    # ---- artifacts -----------------------------------------------------------------------
    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Queue an upload of a file or folder as it is when the upload runs.

        Text files (.log, .txt, .py, .json, .yaml, ...) are redacted on the way. A folder's files
        that this tracker uploaded on their own (``--show-dir`` pictures, ``curves.png``) are left out.
        """
        if self.finished:
            return
        path = os.path.abspath(os.fspath(local_path))
        staged = stage_folder_without(path, self._sent) if os.path.isdir(path) else None
        if staged is None:
            self._sent.add(path)
            self._uploads.put_upload(path, artifact_path, redact_text_files=True)
        else:
            self._uploads.put_upload(staged[0], artifact_path, cleanup_dir=staged[1], redact_text_files=True)

    def log_image(self, key: str, image: ImageSource, step: int) -> None:
        """Queue ``image`` (RGB uint8, or a callable making it on the upload thread) as step image ``key``."""
        if not self.finished:
            key = image_key(key)
            self._uploads.put_made(f"log image {key} at step {step}",
                                   lambda: stage_image(image, key, step, self._stage_dir))

    def log_table(self, data: TableSource, artifact_file: str, replace: bool = False) -> None:
        """Queue ``mlflow.log_table`` of ``data`` (dict of columns, or a callable making one on the upload
        thread) as ``artifact_file``, appended to the earlier rows unless ``replace``."""
        if not self.finished:
            self._uploads.put_made(f"log table {artifact_file}",
                                   lambda: self._tables.stage(data, table_file(artifact_file), replace))

    def log_checkpoint(self, path: str | os.PathLike, name: str | None = None, latest: bool | None = None) -> None:
        """Queue ``path`` for upload as ``checkpoints/<name>`` (default: its file name).

        The file is hard-linked into a staging folder first (copied if linking fails), so the
        caller may replace ``path`` right after (atomic ``os.replace`` saves keep the staged
        copy intact). The upload starts after every metric logged before this call is stored;
        into a local artifact store on the same file system it is a hard link, not a copy
        (:mod:`mlpose.tracking.artifact_store`).
        After it, the tags ``mlpose.last_checkpoint``/``..._bytes`` point at it unless ``latest``
        is False (default: False for names starting with ``best``).
        """
        if self.finished:
            return
        name = name or os.path.basename(os.fspath(path))
        staged, stage_dir = stage_file(os.fspath(path), name)
        tags = None
        if latest if latest is not None else not name.startswith("best"):
            tags = {LAST_CHECKPOINT_TAG: f"checkpoints/{name}", LAST_CHECKPOINT_BYTES_TAG: str(os.path.getsize(staged))}
        # Uploaded only once every metric logged so far is stored (or journaled while the server
        # is away): a resume from this checkpoint then never leaves a gap in the histories.
        self._uploads.put_upload(staged, "checkpoints", cleanup_dir=stage_dir, done_tags=tags, link=True,
                                 after=self._metrics.put_barrier())

    def delete_checkpoint(self, name: str) -> None:
        """Queue the deletion of ``checkpoints/<name>``, after the uploads queued before it."""
        if not self.finished:
            self._uploads.put_record({"k": "delete", "ap": f"checkpoints/{name}"})

    def log_model(self, checkpoint: str | os.PathLike, role: str = "best", step: int = 0,
                  metrics: Mapping[str, Any] | None = None) -> None:
        """Queue storing the checkpoint file as the run's ``role`` pose model (``'best'`` or
        ``'last'``) at ``step``, with the values of ``metrics`` logged at ``step`` linked to it
        (None: every metric the run has at ``step``); returns at once. See
        :mod:`mlpose.tracking.models` (format, storage bound) and ``tracking.log_model`` (True: the
        current best and last, 'all': every one, False: none).

        The file is staged like :meth:`log_checkpoint` (the caller may replace or delete it).
        """
        if self.finished or not self.log_models:
            return
        staged, stage_dir = stage_file(os.fspath(checkpoint), os.path.basename(os.fspath(checkpoint)))
        points = None
        if metrics is not None:
            keys = {self._keys.get(name) or self._metric_key(name) for name in metrics}
            points = [(k, *self._points[k]) for k in keys if k and self._points.get(k, (0, 0, -1))[2] == step]
        # retried on failure: a half-logged model is deleted by the next try
        record = {"k": "model", "path": staged, "role": role, "step": int(step), "points": points,
                  "keep": self.log_models == "all", "exp": self.experiment_id, "cleanup": stage_dir}
        self._uploads.put_record(record, after=self._metrics.put_barrier())  # the points exist before they are linked

    log_datasets = queue_datasets  # {context: dataset} -> the run's dataset inputs (tracking/inputs.py)

    def has_model(self, role: str) -> bool:
        """Whether the run has its ``role`` model (once the queued ones are stored); True when
        ``tracking.log_model`` is off, so that nobody logs one, and while the server is away
        (nothing can be checked; nothing is logged twice)."""
        from mlpose.tracking.models import run_tag

        if not self.flush(uploads=True):
            return True
        return not self.log_models or run_tag(role) in self.client.get_run(self.run_id).data.tags

    def register_models(self, name: str) -> dict[str, str]:
        """Wait for the queued models, then register the run's best and last under ``name``
        with registry aliases ``best`` and ``last``; returns ``{alias: version}``."""
        from mlpose.tracking.models import register_models

        if not self.flush(uploads=True):
            logger.warning("MLflow: models of run %s not registered as %r: the tracking server is away "
                           "(register them later with mlflow's registry)", self.run_id, name)
            return {}
        return register_models(self.client, self.run_id, name)

    # ---- end -----------------------------------------------------------------------------
    def finish(self, status: str = "FINISHED", error: BaseException | None = None,
               timeout: float | None = None) -> None:
        """Write everything queued, record ``error`` (tag ``mlpose.error`` + ``error.txt``) and
        set the run's status. Later calls to any logging method are ignored.

        Waits at most ``timeout`` s (default ``tracking.flush_timeout``) for an absent server;
        what is then still unsent stays in the journal with the status, and ``mlpose sync``
        (or the next job in the work dir) sends it and ends the run.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if self.finished:
            return
        self.finished = True
        atexit.unregister(self._at_exit)
        if self._system is not None:
            self._system.stop()
        deadline = time.monotonic() + (self.flush_timeout if timeout is None else timeout)
        stored = self._uploads.close(max(0.0, deadline - time.monotonic()))
        stored = self._metrics.close(max(0.0, deadline - time.monotonic())) and stored
        failed = self._uploads.num_failed + self._metrics.num_failed
        if failed:
            logger.warning("MLflow: %d logging operation(s) of run %s failed (see warnings above)", failed, self.run_id)
        summary, text = error_texts(error) if error is not None else (None, None)
        if stored:
            try:
                end_run(self.client, self.run_id, status, summary, text)
                if self.journal_dir:
                    forget_run(self.journal_dir, self.run_id)
                return
            except Exception as exc:  # noqa: BLE001 - the server went away at the very end
                logger.warning("MLflow: could not end run %s (%s)", self.run_id, redact_text(str(exc))[:300])
        pending = self._uploads.num_pending() + self._metrics.num_pending()
        where = self.journal_dir or self._metrics.journal.path.parent
        if self.journal_dir:
            write_run_info(self.journal_dir, self.run_id, end={"status": status, "error": summary, "error_text": text})
        later = (f"`mlpose sync {os.path.dirname(os.fspath(where))}` (or the next train/resume in that work dir) "
                 f"sends them and ends the run {status}") if self.journal_dir else "they are not sent (no journal_dir)"
        logger.warning("MLflow: tracking server %s unreachable: %d write(s) of run %s are pending in %s; %s",
                       redact_text(self.tracking_uri), pending, self.run_id, where, later)

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


def _plain(cfg: Mapping) -> dict:
    to_dict = getattr(cfg, "to_dict", None)
    return to_dict() if callable(to_dict) else dict(cfg)
