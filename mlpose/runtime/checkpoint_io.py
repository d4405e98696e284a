"""Checkpoint files on disk: atomic writes and safe loads.

A checkpoint is one dict of plain types (tensors, numbers, strings, lists, dicts) so it loads
with ``torch.load(weights_only=True)``; files written elsewhere load through
:mod:`mlpose.runtime.foreign` (numpy and inert OpenMMLab objects too, nothing else). Every write
goes to a temporary file in the target's folder and is renamed over the target, so a crash leaves
the previous file or the new one.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from mlpose.errors import ConfigError, DiskFullError, first_line
from mlpose.runtime.disk import disk_full_message, is_disk_full
from mlpose.runtime.foreign import safe_load

TMP_SUFFIX = ".tmp"  # suffix of the hidden temporary files of unfinished writes


def save_checkpoint(state: dict, path: str | os.PathLike) -> str:
    """Write ``state`` to ``path`` atomically (see :func:`_write_atomic`).

    Returns:
        ``path`` as a string.
    """
    return _write_atomic(path, lambda f: torch.save(state, f), binary=True, size=lambda: _tensor_bytes(state))


def _tensor_bytes(obj: Any) -> int:
    """Bytes of the tensors in a nested checkpoint dict (about its file size)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def _write_atomic(path: str | os.PathLike, write: Callable, binary: bool, size: Callable[[], int] | None = None) -> str:
    """Call ``write(file)`` on a hidden temporary file in ``path``'s directory, flush and
    fsync it, then rename it over ``path`` (``os.replace``): a crash at any moment leaves
    either the previous file or the complete new one under that name, never a partial file.

    Raises:
        DiskFullError: the disk filled up (one line: device, file, ``size()`` needed); the
            temporary file is removed and the previous file is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        full = isinstance(exc, Exception) and is_disk_full(exc, path.parent)  # before the unlink frees it
        Path(tmp).unlink(missing_ok=True)
        if full:
            raise DiskFullError(disk_full_message(path, size() if size else None)) from exc
        raise
    # Persist the rename itself; without this a power loss could forget the new name.
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return str(path)
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the data is already safe
    finally:
        os.close(dir_fd)
    return str(path)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Load a checkpoint dict: mlpose's own, or a model-zoo file (MMPose, MMEngine, torchvision).

    Only tensors, plain values, numpy arrays and inert stand-ins of OpenMMLab objects are read
    (see :mod:`mlpose.runtime.foreign`); a file that refers to anything else is refused unrun.

    Args:
        path: the ``.pth`` file.
        map_location: passed to ``torch.load`` (default: tensors on the CPU).

    Raises:
        ConfigError: one line naming the file when it is missing, a folder, not a torch file
            (e.g. JSON), truncated/corrupt, refers to a refused global, or holds no dict.
    """
    path = Path(path)
    check_checkpoint_file(path)
    try:
        state = safe_load(path, map_location)
    except ConfigError:
        raise
    except Exception as exc:  # torch raises many types for bad files (zip, pickle, EOF, ...)
        raise ConfigError(f"checkpoint {str(path)!r} is unreadable (truncated or not a torch file): "
                          f"{first_line(exc)}") from exc
    if not isinstance(state, dict):
        raise ConfigError(f"checkpoint {str(path)!r} holds a {type(state).__name__}, expected a dict")
    return state


def check_checkpoint_file(path: str | os.PathLike) -> None:
    """Fail with one line unless ``path`` is a file that can be a torch checkpoint (cheap: reads
    64 bytes), so a wrong ``load_from`` stops a job before anything is built.

    Raises:
        ConfigError: ``path`` is missing, a folder, or not a torch file (e.g. JSON or other text).
    """
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.pth"))[:3]
        raise ConfigError(f"checkpoint {str(path)!r} is a folder, not a file; name the checkpoint file in it"
                          + (f" (it holds {', '.join(inside)})" if inside else ""))
    if not path.is_file():
        raise ConfigError(f"checkpoint {str(path)!r} does not exist; check the path (or --resume without a path)")
    kind = _not_torch(path)
    if kind:
        raise ConfigError(f"checkpoint {str(path)!r} is {kind}, not a PyTorch checkpoint; give a .pth file "
                          "written by torch.save (mlpose, MMPose or MMEngine)")


def _not_torch(path: Path) -> str | None:
    """What the file is when it cannot be a torch checkpoint (zip archive or protocol-2 pickle)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return None
    text = head.lstrip()
    if not text:
        return "an empty file"
    if text[:1] in (b"{", b"["):
        return "a JSON file"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return None  # binary: let torch say what is wrong with it
    return "a text file"


def save_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace the text file ``path`` atomically (see :func:`_write_atomic`)."""
    _write_atomic(path, lambda f: f.write(text), binary=False)
