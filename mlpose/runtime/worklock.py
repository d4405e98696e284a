"""One job per work dir: an exclusive lock on ``WORK_DIR/.mlpose.lock`` for the job's life.

Two trainings in one work dir would interleave one log and replace each other's checkpoints. A
training job (``train``, ``train --resume``, ``resume RUN_ID``) therefore holds ``fcntl.flock``
on the lock file from before it writes anything until it ends; a second job is refused with one
line naming the first. The kernel releases a flock when its process ends, however it ends
(SIGKILL, the OOM killer), so a dead job never leaves a work dir locked. Only rank 0 of a
distributed job locks (one lock per job); within one process the lock is re-entrant, so
``mlpose resume`` can lock before it downloads and the ``train`` it runs shares that lock.

The file stays after the job and holds, as JSON, who holds (or last held) the work dir: ``pid``,
``host``, ``command``, ``started`` and the MLflow ``run_id`` of the last training there, which
``--resume`` continues when the job that was killed left no checkpoint yet.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import platform
import re
import shlex
import time
from pathlib import Path

from mlpose.errors import ConfigError
from mlpose.runtime.folders import make_dirs

LOCK_FILE = ".mlpose.lock"

_held: dict[str, "WorkDirLock"] = {}  # real path of a work dir -> this process's lock on it


class WorkDirLock:
    """This process's hold on a work dir (see the module docstring); release it with :meth:`release`.

    Attributes:
        work_dir: the locked folder.
        previous: what the file said before this job took it (the last holder's facts,
            ``run_id`` of the last training there); ``{}`` for a new work dir.
        created: folders this job created to hold the lock (deepest last), removed again by
            ``release(discard=True)`` when they are empty.
    """

    def __init__(self, work_dir: Path, fd: int, previous: dict, created: list[Path]):
        self.work_dir, self.previous, self.created = work_dir, previous, created
        self._fd, self._users = fd, 1
        self._record = {k: v for k, v in previous.items() if k == "run_id"}

    @property
    def path(self) -> Path:
        return self.work_dir / LOCK_FILE

    def note(self, **facts) -> None:
        """Merge ``facts`` (e.g. ``run_id``) into the lock file."""
        self._record.update(facts)
        data = json.dumps(self._record, indent=1).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def release(self, discard: bool = False) -> None:
        """Let go (the last of nested holders does); with ``discard`` (the job never started)
        in a work dir it created, also remove the lock file and those folders when empty."""
        self._users -= 1
        if self._users > 0 or self._fd < 0:
            return
        _held.pop(_key(self.work_dir), None)
        if discard and self.created:
            # Removed while still locked: a job that opened the file meanwhile finds, once it
            # holds it, that the path names another file (or none) and opens it again.
            _unlink(self.path)
            for folder in reversed(self.created):
                try:
                    folder.rmdir()
                except OSError:
                    break
        os.close(self._fd)
        self._fd = -1


def lock_work_dir(work_dir: str | os.PathLike, command: list[str] | None = None) -> WorkDirLock:
    """Create ``work_dir`` if needed and lock it for this job (see the module docstring).

    Args:
        command: the job's command line, recorded for whoever is refused.

    Raises:
        ConfigError: another live job holds the work dir (names it), or the folder cannot be
            created (a path component is a file, no permission, a read-only file system).
    """
    held = _held.get(_key(work_dir))
    if held is not None:
        held._users += 1
        return held
    lock = try_lock_work_dir(work_dir, command)
    if lock is None:
        raise ConfigError(f"work dir {work_dir} is in use by {describe_holder(read_lock_record(work_dir))}; "
                          "wait for it to end, stop it, or give another --work-dir")
    return lock


def try_lock_work_dir(work_dir: str | os.PathLike, command: list[str] | None = None) -> WorkDirLock | None:
    """:func:`lock_work_dir`, but None (instead of an error) when another job holds it."""
    work = Path(work_dir)
    created = make_dirs(work, "work dir", hint="give another --work-dir")
    path = work / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot write the work dir {work} ({exc.strerror}); give a writable --work-dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder before us removed the file after we opened it: take the new one
    previous = _read(fd)
    lock = WorkDirLock(work, fd, previous, created)
    lock.note(pid=os.getpid(), host=platform.node(), command=_shown(command),
              started=time.strftime("%Y-%m-%d %H:%M:%S"))
    _held[_key(work)] = lock
    return lock


def read_lock_record(work_dir: str | os.PathLike) -> dict:
    """What ``WORK_DIR/.mlpose.lock`` says (``{}`` when there is none or it is unreadable)."""
    try:
        return json.loads((Path(work_dir) / LOCK_FILE).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(record: dict) -> str:
    """One phrase naming a job from its lock record: pid, host, command, start, MLflow run."""
    if not record.get("pid"):
        return "another job (starting: its details are not written yet)"
    where = f"pid {record['pid']} on {record.get('host') or 'an unknown host'}"
    what = f" (`{record['command']}`)" if record.get("command") else ""
    since = f", started {record['started']}" if record.get("started") else ""
    run = f", MLflow run {record['run_id']}" if record.get("run_id") else ""
    return f"another job: {where}{what}{since}{run}"


def _shown(command: list[str] | None) -> str:
    """The command as a refused user sees it: ``mlpose ...`` (not the script's full path),
    passwords in URLs masked, at most 300 characters."""
    if not command:
        return ""
    words = [os.path.basename(command[0]) if command[0].endswith(("mlpose", "cli.py")) else command[0], *command[1:]]
    if words[0] == "cli.py":
        words[0] = "mlpose"
    text = re.sub(r"://([^/@\s:]+):[^/@\s]+@", r"://\1:***@", shlex.join(words))
    return text if len(text) <= 300 else text[:297] + "..."


def _key(work_dir: str | os.PathLike) -> str:
    return os.path.realpath(work_dir)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _read(fd: int) -> dict:
    text = os.pread(fd, 1 << 16, 0)
    try:
        data = json.loads(text or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
