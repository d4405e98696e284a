"""Files a command writes at a path the user gave (``--out``, ``--dump``, ``--vis-dir`` pictures,
exported models): never over an input of the same command or a file a tracking store owns,
always whole, and one line when the place cannot be written.

``check_output`` refuses, before any work is done (so a long job does not fail at its end):

- an output that is an input of the command (the same path, or the same file reached through
  another name: a symlink or hard link);
- an existing file with other hard links: a checkpoint logged to a local MLflow store shares its
  bytes with the stored artifact (``tracking/artifact_store.py``), and so does any copy made
  with ``ln``; replacing it would leave the user's name pointing at something else;
- a path inside a tracking store's artifact folders (``.../<run id>/artifacts/...``,
  ``.../models/m-<id>/artifacts/...``, anything under ``mlruns/``): MLflow owns those files;
- a place that cannot be written: a read-only mount, no permission, a file where a folder
  of the path should be.

``atomic_output`` gives the writer a temporary file in the target's folder and renames it over
the target only when the writer succeeded (as checkpoints are written,
``runtime/checkpoint_io.py``): a failed or interrupted write leaves the previous file, never a
partial one.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import Iterable, Iterator

from mlpose.errors import ConfigError, DiskFullError
from mlpose.runtime.disk import disk_full_message, is_disk_full

#: the folder name of an MLflow run (32 hex digits) or logged model (``m-`` + 32 hex digits)
_STORE_ENTRY = re.compile(r"^(m-)?[0-9a-f]{32}$")


def store_folder(path: str | os.PathLike) -> str | None:
    """The tracking-store folder that ``path`` lies in (its run's or model's ``artifacts``
    folder, or an ``mlruns`` folder), following symlinks too; None for any other path."""
    seen = {Path(os.path.abspath(path)), Path(os.path.realpath(path))}
    for where in seen:
        for folder in (where, *where.parents):
            if folder.name == "mlruns" or (folder.name == "artifacts" and _STORE_ENTRY.match(folder.parent.name)):
                return str(folder)
    return None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where the names lead
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path: str | os.PathLike, option: str, inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """Refuse an output path that would destroy something the user owns (module docstring).

    Args:
        path: the file the command will write.
        option: how the user gave it (``--out``), for the message.
        inputs: the files the command reads (None entries are skipped).

    Raises:
        ConfigError: one line naming the option, the path and what to do.
    """
    target = Path(path)
    if target.is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name")
    for source in inputs:
        if source is not None and _same_file(target, Path(source)):
            same = "" if os.path.abspath(source) == os.path.abspath(target) else f" ({source})"
            raise ConfigError(f"{option} {path} is an input of this command{same}; writing it would destroy the "
                              "input: choose another file")
    store = store_folder(target)
    if store:
        raise ConfigError(f"{option} {path} lies in the tracking store's folder {store}, whose files MLflow owns; "
                          "write it somewhere else")
    if target.is_file() and target.stat().st_nlink > 1:
        raise ConfigError(f"{option} {path} shares its bytes with {target.stat().st_nlink - 1} other file(s) (a "
                          "hard link: a checkpoint logged to a local MLflow store is linked to the stored "
                          "artifact); choose another file name")
    _check_writable(target.parent, option, path)


def _check_writable(folder: Path, option: str, path: str | os.PathLike) -> None:
    """Refuse a place the command could not write at the end of its work: the nearest existing
    folder on the way must be a folder this process may write (a read-only mount counts)."""
    existing = next(p for p in (Path(os.path.abspath(folder)), *Path(os.path.abspath(folder)).parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"{option} {path}: cannot write there ({existing} is a file, not a folder); choose a "
                          "folder you can write to")
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
        why = "Read-only file system" if read_only else "Permission denied"
        raise ConfigError(f"{option} {path}: cannot write there ({why}: {existing}); choose a folder you can "
                          "write to")


def check_outputs(outputs: dict[str, str | os.PathLike | None],
                  inputs: Iterable[str | os.PathLike | None] = ()) -> None:
    """:func:`check_output` for each ``{option: path}`` given (None: not given), and no two the same file.

    Raises:
        ConfigError: one line naming the option(s), the path and what to do.
    """
    given = [(option, path) for option, path in outputs.items() if path]
    inputs = list(inputs)
    for k, (option, path) in enumerate(given):
        check_output(path, option, inputs)
        for other, other_path in given[:k]:
            if _same_file(Path(path), Path(other_path)):
                raise ConfigError(f"{other} and {option} both name {path}; one would overwrite the other: give "
                                  "two files")


def check_folder(path: str | os.PathLike, option: str, inputs: Iterable[str | os.PathLike] = ()) -> None:
    """Refuse an output folder that holds one of the input files (pictures named after the inputs
    would replace them) or lies in a tracking store.

    Raises:
        ConfigError: one line naming the option, the folder and what to do.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {path} is a file, not a folder; give a folder")
    for source in inputs:
        if folder.is_dir() and _same_file(folder, Path(source).parent):
            raise ConfigError(f"{option} {path} holds the input {source}; files written there could replace "
                              "inputs: choose another folder")
    store = store_folder(folder)
    if store:
        raise ConfigError(f"{option} {path} lies in the tracking store's folder {store}, whose files MLflow owns; "
                          "choose another folder")
    _check_writable(folder, option, path)


def _unwritable(option: str, path: str | os.PathLike, exc: OSError) -> ConfigError:
    blocking = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
    why = f"{blocking} is a file, not a folder" if blocking else exc.strerror or str(exc)
    return ConfigError(f"{option} {path}: cannot write there ({why}); choose a folder you can write to")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, option: str) -> Iterator[Path]:
    """A new temporary file in ``path``'s folder (created empty, mode per the umask) for the
    caller to write; renamed over ``path`` when the block ends, removed when it raises.

    Raises:
        ConfigError: the folder cannot be made or written (read-only, a file in the way, no
            permission), or the rename fails; one line naming the option and the path.
        DiskFullError: the disk filled up (the previous file, if any, is intact).
    """
    target = Path(path)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as exc:
        raise _unwritable(option, path, exc) from None
    try:
        yield tmp
        with open(tmp, "rb") as written:  # whatever library wrote it, its bytes reach the disk first
            os.fsync(written.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        full = isinstance(exc, Exception) and is_disk_full(exc, target.parent)  # before the unlink frees space
        tmp.unlink(missing_ok=True)
        if full:
            raise DiskFullError(disk_full_message(target, None)) from None
        if isinstance(exc, OSError):
            raise _unwritable(option, path, exc) from None
        raise
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Persist a rename in ``folder`` (some file systems refuse: the data is safe anyway)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_output(path: str | os.PathLike, data: bytes | str, option: str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`atomic_output`."""
    with atomic_output(path, option) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
