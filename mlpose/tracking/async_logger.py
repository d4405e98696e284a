"""A background thread per lane that sends metrics, tags and artifact uploads to MLflow, in order,
through an on-disk journal, so that a tracking server outage neither stalls nor loses anything.

The training thread only appends to an in-memory queue (microseconds). The worker collects
metric points for up to ``min_interval_s`` (1 s) into records of at most 1000 points (MLflow's
``log_batch`` limit), appends every record to the lane's journal
(:class:`~mlpose.tracking.journal.Journal`) and then sends the journal's pending lines in order.
A call that fails is retried with backoff; a refusal (bad value, missing run) drops that record
with a warning (counted in :attr:`AsyncLogger.num_failed`). Any other failure means the server
is away: the lane goes offline, keeps journaling (the queue is drained to disk, so memory stays
bounded however long the outage lasts), tries the first pending line every ``probe_s`` and,
once it is stored, sends the rest in order. One warning line says the server went away and one
that it is back (:class:`Outage`, shared by a tracker's lanes).
"""
from __future__ import annotations

import logging
import math
import os
import queue
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import MAX_METRICS_PER_BATCH

from mlpose.errors import first_line
from mlpose.tracking import records as rec
from mlpose.tracking.journal import Journal, coalesced
from mlpose.tracking.redact import redact_text

logger = logging.getLogger(__name__)

_NOT_TRANSIENT = {"INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "PERMISSION_DENIED",
                  "INVALID_STATE", "BAD_REQUEST", "UNAUTHENTICATED"}


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


def _first_line(exc: BaseException) -> str:
    return redact_text(first_line(exc)[:300])


def _at(where: str) -> str:
    return f"{where} " if where else ""


def _reason(exc: BaseException) -> str:
    """'[Errno 111] Connection refused' rather than three lines of urllib3 chain."""
    text = str(exc)
    found = re.search(r"\[Errno -?\d+\][^'\")\]]*", text) or re.search(r"Read timed out|RemoteDisconnected|Connection aborted", text)
    return found.group(0).strip() if found else _first_line(exc)[:160]


class Outage:
    """One warning when the first lane loses the server, one when the last gets it back."""

    def __init__(self, where: str = ""):
        self.where, self._down, self._lock, self._since = where, set(), threading.Lock(), 0.0
        self.num_outages = 0

    def down(self, lane: str, exc: BaseException, journal: str) -> None:
        with self._lock:
            if not self._down:
                self._since = time.monotonic()
                self.num_outages += 1
                logger.warning("MLflow: tracking server %sunreachable (%s); training continues, every write "
                               "is kept in %s and sent once it is back", _at(self.where), _reason(exc), journal)
            self._down.add(lane)

    def up(self, lane: str) -> None:
        with self._lock:
            if lane in self._down:
                self._down.discard(lane)
                if not self._down:
                    logger.warning("MLflow: tracking server %sis back after %.0f s; sending what was kept",
                                   _at(self.where), time.monotonic() - self._since)


@dataclass
class _Item:
    record: dict
    after: threading.Event | None = None  # another lane's barrier, waited for before journaling
    on_done: Callable[[], None] | None = None  # in-process callback once the record is stored


@dataclass
class _Call:
    what: str
    fn: Callable[[], None]


@dataclass
class _Make:
    what: str
    make: Callable[[], dict | None]  # on the worker: returns the record to journal (None: nothing)


@dataclass
class _Barrier:
    event: threading.Event = field(default_factory=threading.Event)
    stored: bool = False  # False: everything before it is journaled, not yet stored


_STOP = object()


class AsyncLogger:
    """Ordered, batched, non-blocking, journaled MLflow writes for one run (one lane).

    Args:
        client: the MLflow client (its tracking URI decides where data goes).
        run_id: the run all data belongs to.
        attempts: tries per record while online before the lane goes offline.
        backoff_s: first retry delay; doubles per retry.
        min_interval_s: at most one metrics record per this many seconds, unless 1000 points
            are waiting or a flush/other item asks for them.
        journal: the lane's journal file; default a new one in a temporary folder.
        probe_s: while offline, seconds between tries of the first pending record.
        outage: shared down/back reporting (default: this lane's own).
    """

    def __init__(self, client: MlflowClient, run_id: str, attempts: int = 3, backoff_s: float = 0.5,
                 min_interval_s: float = 1.0, journal: str | os.PathLike | None = None, probe_s: float = 2.0,
                 outage: Outage | None = None, lane: str = "lane"):
        self.client, self.run_id, self.lane = client, run_id, lane
        self.attempts, self.backoff_s, self.min_interval_s, self.probe_s = attempts, backoff_s, min_interval_s, probe_s
        self._tmp_dir = None if journal else tempfile.mkdtemp(prefix="mlpose-journal-")
        self.journal = Journal(journal or os.path.join(self._tmp_dir, f"{run_id}.{lane}.jsonl"))
        self.outage = outage or Outage()
        self.num_failed = 0
        self.num_metric_calls = 0  # metric records sent (for benchmarks/tests)
        self.offline = False
        self._next_probe = 0.0
        self._deadline = math.inf  # set by close(): stop waiting for the server then
        self._abandon = False  # close() timed out: send nothing more, leave the rest in the journal
        self._callbacks: dict[int, Callable[[], None]] = {}  # journal offset -> on_done
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"mlpose-mlflow-{run_id[:8]}-{lane}", daemon=True)
        self._thread.start()
        if self.journal.pending:  # left by an earlier process for this run: send it first
            self._queue.put(_Barrier())

    # ---- producer side (training thread) -------------------------------------------------
    def put_metrics(self, points: list[tuple[str, float, int, int]]) -> None:
        """Queue ``(key, value, timestamp_ms, step)`` points; returns at once."""
        if not self._closed:
            self._queue.put(points)

    def put_record(self, record: dict, after: threading.Event | None = None,
                   on_done: Callable[[], None] | None = None) -> None:
        """Queue a journal record (see :mod:`mlpose.tracking.records`); ``after``: journal it
        only once that event (another lane's :meth:`put_barrier`) is set."""
        if self._closed:
            rec.finished(record)
        else:
            self._queue.put(_Item(record, after, on_done))

    def put_upload(self, local_path: str, artifact_path: str | None, cleanup_dir: str | None = None,
                   on_done: Callable[[], None] | None = None, redact_text_files: bool = False,
                   after: threading.Event | None = None, done_tags: dict | None = None, link: bool = False) -> None:
        """Queue an artifact upload of a file or folder (as it is when it is sent).

        With ``redact_text_files``, text files (by suffix) are uploaded redacted; ``done_tags``
        are set after the upload, ``on_done`` runs after it in this process; ``cleanup_dir`` is
        removed after it. With ``after`` (from another logger's :meth:`put_barrier`), the upload
        is journaled once that event is set.
        """
        record = {"k": "upload", "path": os.path.abspath(local_path), "ap": artifact_path, "cleanup": cleanup_dir,
                  "redact": redact_text_files, "link": link, "done_tags": done_tags}
        self.put_record(record, after, on_done)

    def put_tags(self, tags: dict[str, str]) -> None:
        """Queue tags (already redacted and within MLflow's length limits)."""
        self.put_record({"k": "tags", "t": dict(tags)})

    def put_call(self, what: str, fn: Callable[[], None]) -> None:
        """Queue an in-process MLflow call (not journaled), run in order with the rest once the
        records before it are stored; ``what`` names it in warnings."""
        if not self._closed:
            self._queue.put(_Call(what, fn))

    def put_made(self, what: str, make: Callable[[], dict | None]) -> None:
        """Queue a record that ``make()`` writes on the worker thread (drawing an image, say, and
        staging it as a file), then journaled and sent like :meth:`put_record`'s."""
        if not self._closed:
            self._queue.put(_Make(what, make))

    def put_barrier(self) -> threading.Event:
        """An event set once everything queued before this call is stored, or journaled while
        the server is away; returns at once."""
        return self._barrier().event

    def _barrier(self) -> _Barrier:
        barrier = _Barrier()
        if self._thread.is_alive():
            self._queue.put(barrier)
        else:
            barrier.stored = not self.journal.pending
            barrier.event.set()
        return barrier

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything queued before this call is stored (True) or, with the server
        away, safely journaled (False); False on timeout too."""
        barrier = self._barrier()
        return barrier.event.wait(timeout) and barrier.stored

    def close(self, timeout: float | None = None) -> bool:
        """Store what is queued, then stop the worker; later puts are ignored. Waits at most
        ``timeout`` s while the server is away; a backlog being sent to a server that is back
        gets up to four times that on top. False when records are left in the journal."""
        if not self._closed:
            self._closed = True
            self._deadline = math.inf if timeout is None else time.monotonic() + timeout
            self._queue.put(_STOP)
        hard = self._deadline + 4 * (self._deadline - time.monotonic())
        while self._thread.is_alive():
            self._thread.join(0.2)
            now = time.monotonic()
            if now >= self._deadline and (self.offline or now >= hard):
                self._abandon = True
                self._thread.join(1.0)
                break
        return not self._thread.is_alive() and not self.journal.pending

    def num_pending(self) -> int:
        """Records journaled but not yet stored in MLflow."""
        return self.journal.count_pending()

    # ---- worker side ---------------------------------------------------------------------
    def _work(self) -> None:
        pending: list[tuple[str, float, int, int]] = []
        next_send = 0.0  # monotonic time before which metric points wait for more company
        while not self._abandon:
            waits = [next_send - time.monotonic()] if pending else []
            if self.journal.pending:  # offline: the next probe; online: the rest of a backlog, now
                waits.append(self._next_probe - time.monotonic() if self.offline else 0.0)
            try:
                item = self._queue.get(timeout=max(0.0, min(waits))) if waits else self._queue.get()
            except queue.Empty:
                item = None
            if isinstance(item, list):
                pending.extend(item)
                if len(pending) < MAX_METRICS_PER_BATCH:
                    continue
            # Time is up, a batch is full, or another item must see the points stored first.
            if pending and (item is not None or time.monotonic() >= next_send):
                for start in range(0, len(pending), MAX_METRICS_PER_BATCH):
                    self.journal.append({"k": "metrics", "p": pending[start:start + MAX_METRICS_PER_BATCH]})
                pending = []
                next_send = time.monotonic() + self.min_interval_s
            if isinstance(item, _Make):
                item = self._make(item)
            if isinstance(item, _Item):
                if item.after is not None:
                    item.after.wait()
                self.journal.append(item.record)
                if item.on_done:
                    self._callbacks[self.journal.size] = item.on_done
            self._pump()
            if isinstance(item, _Barrier):
                item.stored = not self.journal.pending
                item.event.set()
            elif isinstance(item, _Call):
                self._call(item)
            elif item is _STOP:
                self._finish_up()
                return

    def _pump(self, limit: int = 32) -> None:
        """Send up to ``limit`` of the journal's pending records in order (offline: only when a
        probe is due). A backlog goes out ``limit`` records per round, so that barriers and new
        items in between are not held up by it (a barrier then reports 'journaled, not stored')."""
        if self.offline and time.monotonic() < self._next_probe:
            return
        for num, (record, end) in enumerate(coalesced(self.journal.records(), MAX_METRICS_PER_BATCH)):
            if self._abandon or num == limit:
                return
            if self.journal.superseded(record, end):  # a backlog's older last.pth, last model: replaced anyway
                self.journal.ack(end)
                rec.finished(record)
                self._callbacks.pop(end, None)
                continue
            stored = self._send(record)
            if stored is None:  # the server is away: keep it, try again later
                self._next_probe = time.monotonic() + self.probe_s
                return
            self.journal.ack(end)
            rec.finished(record)
            callback = self._callbacks.pop(end, None)
            if stored and callback is not None:
                self._call(_Call("run an upload's callback", callback))

    def _send(self, record: dict) -> bool | None:
        """True: stored; False: refused or impossible (dropped); None: server away."""
        delay = self.backoff_s
        tries = 1 if self.offline else self.attempts
        for attempt in range(1, tries + 1):
            try:
                rec.execute(record, self.client, self.run_id)
                if record["k"] == "metrics":
                    self.num_metric_calls += 1
                if self.offline:
                    self.offline = False
                    self.outage.up(self.lane)
                return True
            except rec.Skipped as exc:
                self.num_failed += 1
                logger.warning("MLflow: skipped %s for run %s: %s", rec.describe(record), self.run_id, exc)
                return False
            except Exception as exc:  # noqa: BLE001 - any tracking failure must not kill training
                code = getattr(exc, "error_code", None) if isinstance(exc, MlflowException) else None
                if code in _NOT_TRANSIENT or isinstance(exc, OSError) and not _network_error(exc):
                    self.num_failed += 1
                    logger.warning("MLflow: could not %s for run %s (%s); continuing without it",
                                   rec.describe(record), self.run_id, _first_line(exc))
                    return False
                if attempt == tries or _network_error(exc):  # no server: the journal keeps it
                    if not self.offline:
                        self.offline = True
                        self.outage.down(self.lane, exc, str(self.journal.path.parent))
                    return None
                time.sleep(delay)
                delay *= 2
        return None

    def _make(self, item: _Make) -> _Item | None:
        record = self._guarded(item.what, item.make)
        return _Item(record) if record else None

    def _call(self, item: _Call) -> None:
        self._guarded(item.what, item.fn)

    def _guarded(self, what: str, fn: Callable[[], Any]) -> Any:
        """``fn()``, or None with one warning when it raises (an in-process step must not stop the run)."""
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001
            self.num_failed += 1
            logger.warning("MLflow: could not %s for run %s (%s); continuing without it",
                           what, self.run_id, _first_line(exc))
            return None

    def _finish_up(self) -> None:
        """At close: keep trying an absent server until the close deadline, then stop."""
        while self.journal.pending and not self._abandon and (not self.offline or time.monotonic() < self._deadline):
            time.sleep(max(0.0, min(self._next_probe, self._deadline) - time.monotonic()))
            self._pump()
        self.journal.close(remove_if_done=True)
        if self._tmp_dir and not self.journal.pending:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)


def _network_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the server could not be reached: requests'
    connection errors and timeouts are OSErrors, which local file errors are too."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, (ConnectionError, TimeoutError)) or type(exc).__module__.startswith(("requests", "urllib3")):
            return True
        if isinstance(exc, MlflowException) and "Max retries exceeded" in str(exc):
            return True  # MLflow's REST client wraps the requests error in its message
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
