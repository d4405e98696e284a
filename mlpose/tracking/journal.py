"""The tracking journal: every write of a run, on disk before it is sent, until MLflow has it.

Each lane of a tracker (metrics and tags; uploads) appends its writes as JSON lines to
``<dir>/<run_id>.<lane>.jsonl`` before sending them, and keeps in ``<...>.ack`` the byte offset
up to which they are stored in MLflow. While the tracking server is away a lane only appends:
nothing piles up in memory, and the training thread never waits. Once the server answers, the
lines after the offset are sent in order (:mod:`mlpose.tracking.records` executes one line).
A run's ``<dir>/<run_id>.json`` names the tracking URI and, when the job ended with writes
still pending, the status it ended with; ``mlpose sync`` (:mod:`mlpose.tracking.sync`) sends
what is left and sets that status.

A journal whose lines are all stored is truncated (at ``compact_bytes``) and deleted at close.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

JOURNAL_DIR = "tracking-journal"
LANES = ("metrics", "uploads")
_ACK_WIDTH = 20


def journal_dir(work_dir: str | os.PathLike) -> Path:
    """Where jobs in ``work_dir`` keep their tracking journals."""
    return Path(work_dir) / JOURNAL_DIR


def read_ack(path: str | os.PathLike) -> int:
    """The stored-up-to offset of journal ``path`` (0 when it has none)."""
    try:
        text = Path(f"{path}.ack").read_text().strip()
        return int(text) if text else 0
    except (OSError, ValueError):
        return 0


def read_records(path: str | os.PathLike, offset: int) -> Iterator[tuple[dict, int]]:
    """``(record, offset after it)`` for each complete line of ``path`` from ``offset`` on.

    A last line without its newline (the process died while writing it) is not returned.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        f.seek(offset)
        for line in f:
            if not line.endswith(b"\n"):
                return
            offset += len(line)
            yield json.loads(line), offset


class Journal:
    """One lane's append-only journal file and its stored-up-to offset.

    Args:
        path: the ``.jsonl`` file (created with its folder); an existing one is continued, so
            writes left by an earlier process for the same run are sent first.
        compact_bytes: once every line is stored and the file is this large, it is emptied.
    """

    def __init__(self, path: str | os.PathLike, compact_bytes: int = 1 << 20):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.compact_bytes = compact_bytes
        self._file = open(self.path, "ab")
        self.size = self._file.tell()
        self.cursor = min(read_ack(self.path), self.size)
        self._ack = os.open(f"{self.path}.ack", os.O_RDWR | os.O_CREAT, 0o644)
        self.num_appended = 0
        self.last_of: dict[str, int] = {}  # target (see :func:`target`) -> end offset of its newest record
        for record, end in self.records():
            self._note(record, end)

    def append(self, record: dict) -> None:
        """Write one record (a JSON line); it survives a SIGKILL from here on."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        self._file.write(line)
        self._file.flush()  # into the OS: a killed process loses nothing written
        self.size += len(line)
        self.num_appended += 1
        self._note(record, self.size)

    def _note(self, record: dict, end: int) -> None:
        key = target(record)
        if key is not None:
            self.last_of[key] = end

    def superseded(self, record: dict, end: int) -> bool:
        """Whether a later pending record replaces this one (see :func:`target`): sending it
        would only be overwritten, so a backlog skips it."""
        key = target(record)
        return key is not None and self.last_of.get(key, end) > end

    @property
    def pending(self) -> bool:
        """Whether lines after the stored-up-to offset exist."""
        return self.cursor < self.size

    def records(self) -> Iterator[tuple[dict, int]]:
        """The pending records with the offset after each (pass it to :meth:`ack`)."""
        return read_records(self.path, self.cursor)

    def count_pending(self) -> int:
        return sum(1 for _ in self.records())

    def ack(self, offset: int) -> None:
        """Everything before ``offset`` is stored; compacts the file when all of it is."""
        self.cursor = offset
        if self.cursor >= self.size and self.size >= self.compact_bytes:
            self._file.truncate(0)
            self._file.seek(0)
            self.cursor = self.size = 0
            self.last_of.clear()  # offsets start again at 0
        os.pwrite(self._ack, str(self.cursor).rjust(_ACK_WIDTH).encode(), 0)

    def close(self, remove_if_done: bool = True) -> None:
        """Close the files; delete them when nothing is pending (and ``remove_if_done``)."""
        if self._file.closed:
            return
        self._file.close()
        os.close(self._ack)
        if remove_if_done and not self.pending:
            for p in (self.path, Path(f"{self.path}.ack")):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass


def target(record: dict) -> str | None:
    """What a record writes that a later record of the same target replaces whole: an upload's
    artifact path (``checkpoints/last.pth`` is overwritten by the next save), the run's
    ``best``/``last`` model (the next one deletes it; not with ``tracking.log_model='all'``)."""
    if record["k"] == "upload":
        return f"upload:{record.get('ap') or ''}/{os.path.basename(str(record['path']).rstrip(os.sep))}"
    if record["k"] == "model" and not record.get("keep"):
        return f"model:{record.get('role')}"
    return None


def lane_path(folder: str | os.PathLike, run_id: str, lane: str) -> Path:
    return Path(folder) / f"{run_id}.{lane}.jsonl"


def write_run_info(folder: str | os.PathLike, run_id: str, **info) -> None:
    """Merge ``info`` into ``<folder>/<run_id>.json`` (atomically)."""
    path = Path(folder) / f"{run_id}.json"
    data = read_run_info(path)
    data.update(info, run_id=run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def read_run_info(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def referenced_paths(folder: str | os.PathLike) -> set[str]:
    """Every local file or folder that pending journal lines in ``folder`` still need."""
    keep: set[str] = set()
    for path in Path(folder).glob("*.jsonl"):
        for record, _ in read_records(path, read_ack(path)):
            for key in ("path", "cleanup"):
                if record.get(key):
                    keep.add(os.path.abspath(record[key]))
    return keep


def forget_run(folder: str | os.PathLike, run_id: str) -> None:
    """Remove ``<folder>/<run_id>.json`` once nothing of the run is pending (and the folder
    when it is empty)."""
    if any(lane_path(folder, run_id, lane).exists() for lane in LANES):
        return
    try:
        (Path(folder) / f"{run_id}.json").unlink()
        Path(folder).rmdir()
    except OSError:
        pass


def coalesced(records: Iterator[tuple[dict, int]], max_points: int = 1000) -> Iterator[tuple[dict, int]]:
    """``records`` with runs of consecutive ``metrics`` records merged into records of at most
    ``max_points`` points (one ``log_batch`` each): a backlog after an outage then goes out in
    a few calls, not one per second of outage. The offset is that of the last merged record."""
    group: dict | None = None
    group_end = 0
    for record, end in records:
        if record["k"] == "metrics" and group is not None and len(group["p"]) + len(record["p"]) <= max_points:
            group["p"].extend(record["p"])
            group_end = end
            continue
        if group is not None:
            yield group, group_end
            group = None
        if record["k"] == "metrics":
            group, group_end = {"k": "metrics", "p": list(record["p"])}, end
        else:
            yield record, end
    if group is not None:
        yield group, group_end
