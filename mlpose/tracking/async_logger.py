"""A background thread that sends metrics, tags and artifact uploads to MLflow, in order.

The training thread only appends to a queue (microseconds). The worker collects metric points
for up to ``min_interval_s`` (1 s) and sends them in ``log_batch`` calls of at most 1000 metrics
(MLflow's limit): one call per second however often training logs, which keeps the worker's
CPU and GIL use small. Tags, barriers and uploads are handled in submission order.

A failing call is retried with backoff; if it still fails the item is dropped with a warning
(training is never stopped by the tracker) and counted in :attr:`AsyncLogger.num_failed`.
"""
from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from mlflow import MlflowClient
from mlflow.entities import Metric, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import MAX_METRICS_PER_BATCH

from mlpose.tracking.redact import redact_text

logger = logging.getLogger(__name__)

_NOT_TRANSIENT = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "PERMISSION_DENIED",
                  "INVALID_STATE", "BAD_REQUEST", "UNAUTHENTICATED"}


TEXT_SUFFIXES = (".log", ".txt", ".py", ".json", ".yaml", ".yml", ".md", ".csv", ".cfg", ".ini", ".toml", ".sh")


@dataclass
class _Upload:
    local_path: str
    artifact_path: str | None
    cleanup_dir: str | None = None  # staging folder removed after the upload (or its failure)
    on_done: Callable[[], None] | None = None
    redact_text_files: bool = False
    after: threading.Event | None = None  # wait for this (another lane's barrier) before uploading


def stage_file(path: str, name: str) -> tuple[str, str]:
    """Freeze ``path`` for a later upload as ``name``: hard-link it into a new hidden folder next
    to it (same filesystem, O(1); the link keeps the current content when ``path`` is later
    replaced with ``os.replace``), or copy it where links are impossible.

    Returns:
        (staged file path, staging folder to delete after the upload).
    """
    folder = tempfile.mkdtemp(prefix=".mlpose-upload-", dir=os.path.dirname(os.path.abspath(path)))
    staged = os.path.join(folder, name)
    try:
        os.link(path, staged)
    except OSError:
        shutil.copy2(path, staged)
    return staged, folder


def _redacted_copy(path: str, folder: str) -> str:
    """Copy ``path`` (file or tree) into ``folder`` with text files redacted; return the copy."""
    dst = os.path.join(folder, os.path.basename(path.rstrip(os.sep)))
    if os.path.isdir(path):
        shutil.copytree(path, dst, copy_function=_copy_redacted)
    else:
        _copy_redacted(path, dst)
    return dst


def _copy_redacted(src: str, dst: str) -> None:
    if src.endswith(TEXT_SUFFIXES):
        with open(src, encoding="utf-8", errors="replace") as f:
            text = redact_text(f.read())
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        shutil.copy2(src, dst)


@dataclass
class _Call:
    what: str
    fn: Callable[[], None]


@dataclass
class _Barrier:
    event: threading.Event = field(default_factory=threading.Event)


_STOP = object()


class AsyncLogger:
    """Ordered, batched, non-blocking MLflow writes for one run.

    Args:
        client: the MLflow client (its tracking URI decides where data goes).
        run_id: the run all data belongs to.
        attempts: tries per operation before it is dropped.
        backoff_s: first retry delay; doubles per retry.
        min_interval_s: at most one metrics ``log_batch`` round per this many seconds, unless
            1000 points are waiting or a flush/other item asks for them.
    """

    def __init__(self, client: MlflowClient, run_id: str, attempts: int = 3, backoff_s: float = 0.5,
                 min_interval_s: float = 1.0):
        self.client, self.run_id = client, run_id
        self.attempts, self.backoff_s, self.min_interval_s = attempts, backoff_s, min_interval_s
        self.num_failed = 0
        self.num_metric_calls = 0  # log_batch calls made for metrics (for benchmarks/tests)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"mlpose-mlflow-{run_id[:8]}", daemon=True)
        self._thread.start()

    # ---- producer side (training thread) -------------------------------------------------
    def put_metrics(self, points: list[tuple[str, float, int, int]]) -> None:
        """Queue ``(key, value, timestamp_ms, step)`` points; returns at once."""
        if not self._closed:
            self._queue.put(points)

    def put_upload(self, local_path: str, artifact_path: str | None, cleanup_dir: str | None = None,
                   on_done: Callable[[], None] | None = None, redact_text_files: bool = False,
                   after: threading.Event | None = None) -> None:
        """Queue an artifact upload of a file or folder; ``on_done`` runs after it succeeded.

        With ``redact_text_files``, text files (by suffix) are uploaded redacted. With ``after``
        (from another logger's :meth:`put_barrier`), the upload starts once that event is set.
        """
        if self._closed:
            if cleanup_dir:
                shutil.rmtree(cleanup_dir, ignore_errors=True)
            return
        self._queue.put(_Upload(local_path, artifact_path, cleanup_dir, on_done, redact_text_files, after))

    def put_tags(self, tags: dict[str, str]) -> None:
        """Queue tags (already redacted and within MLflow's length limits)."""
        items = [RunTag(k, v) for k, v in tags.items()]
        self.put_call("set tags", lambda: self.client.log_batch(self.run_id, tags=items, synchronous=True))

    def put_call(self, what: str, fn: Callable[[], None]) -> None:
        """Queue any MLflow call, run in order with the rest; ``what`` names it in warnings."""
        if not self._closed:
            self._queue.put(_Call(what, fn))

    def put_barrier(self) -> threading.Event:
        """An event set once everything queued before this call is written; returns at once."""
        barrier = _Barrier()
        if self._thread.is_alive():
            self._queue.put(barrier)
        else:
            barrier.event.set()
        return barrier.event

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything queued before this call is written. False on timeout."""
        return self.put_barrier().wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Write what is queued, then stop the worker; later puts are ignored. False on timeout."""
        if self._closed:
            return not self._thread.is_alive()
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---- worker side ---------------------------------------------------------------------
    def _work(self) -> None:
        pending: list[tuple[str, float, int, int]] = []
        next_send = 0.0  # monotonic time before which metric points wait for more company
        while True:
            if not pending:
                item = self._queue.get()
            else:
                try:
                    item = self._queue.get(timeout=max(0.0, next_send - time.monotonic()))
                except queue.Empty:
                    item = None
            if isinstance(item, list):
                pending.extend(item)
                if len(pending) < MAX_METRICS_PER_BATCH:
                    continue
            # Time is up, a batch is full, or another item must see the points stored first.
            if pending:
                self._send_metrics(pending)
                pending = []
                next_send = time.monotonic() + self.min_interval_s
            if item is None or isinstance(item, list):
                continue
            if item is _STOP:
                return
            if isinstance(item, _Barrier):
                item.event.set()
            elif isinstance(item, _Upload):
                self._upload(item)
            elif isinstance(item, _Call):
                self._retry(item.what, item.fn)

    def _send_metrics(self, points: list[tuple[str, float, int, int]]) -> None:
        for start in range(0, len(points), MAX_METRICS_PER_BATCH):
            chunk = [Metric(k, v, ts, step) for k, v, ts, step in points[start:start + MAX_METRICS_PER_BATCH]]
            self.num_metric_calls += 1
            # synchronous=True: this thread is already the asynchronous part; MLflow's own
            # async queue would only add a second buffer to flush.
            self._retry(f"log {len(chunk)} metric points",
                        lambda c=chunk: self.client.log_batch(self.run_id, metrics=c, synchronous=True))

    def _upload(self, item: _Upload) -> None:
        redacted_dir = None
        path = item.local_path

        def upload():
            if os.path.isdir(path):
                self.client.log_artifacts(self.run_id, path, item.artifact_path)
            else:
                self.client.log_artifact(self.run_id, path, item.artifact_path)

        try:
            if item.after is not None:
                item.after.wait()
            if not os.path.exists(path):
                self.num_failed += 1
                logger.warning("MLflow upload skipped: %s no longer exists", path)
                return
            if item.redact_text_files:
                redacted_dir = tempfile.mkdtemp(prefix="mlpose-redacted-")
                path = _redacted_copy(path, redacted_dir)
            if self._retry(f"upload {item.local_path}", upload) and item.on_done:
                self._retry(f"record upload of {item.local_path}", item.on_done)
        except OSError as exc:  # unreadable file, full disk while staging
            self.num_failed += 1
            logger.warning("MLflow upload of %s failed: %s", item.local_path, exc)
        finally:
            for folder in (item.cleanup_dir, redacted_dir):
                if folder:
                    shutil.rmtree(folder, ignore_errors=True)

    def _retry(self, what: str, fn: Callable[[], None]) -> bool:
        delay = self.backoff_s
        for attempt in range(1, self.attempts + 1):
            try:
                fn()
                return True
            except Exception as exc:  # noqa: BLE001 - any tracking failure must not kill training
                code = getattr(exc, "error_code", None) if isinstance(exc, MlflowException) else None
                if attempt == self.attempts or code in _NOT_TRANSIENT:
                    self.num_failed += 1
                    first = redact_text((str(exc).strip().splitlines() or [type(exc).__name__])[0][:300])
                    logger.warning("MLflow: could not %s for run %s (%s); continuing without it",
                                   what, self.run_id, first)
                    return False
                time.sleep(delay)
                delay *= 2
        return False
