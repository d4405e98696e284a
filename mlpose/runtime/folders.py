"""Folders mlpose creates or writes into (work dir, log folder, ``--out``, the tracking store):
a path that cannot be one is told in one line naming it and the reason, never a traceback."""
from __future__ import annotations

import errno
import os
from pathlib import Path

from mlpose.errors import ConfigError

#: OSError numbers that mean "this path cannot be created or written here" (not a full disk:
#: :mod:`mlpose.runtime.disk` tells those).
UNWRITABLE = (errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS, errno.EEXIST, errno.EISDIR)


def make_dirs(folder: str | os.PathLike, what: str, hint: str = "choose another folder") -> list[Path]:
    """``mkdir -p folder``; returns the folders it created (outermost first).

    Raises:
        ConfigError: one line naming ``what``, the path, the file in the way or the reason.
    """
    folder = Path(folder)
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"cannot create the {what} {folder}: it is a file; {hint}") from None
    except NotADirectoryError:
        blocker = next((p for p in folder.parents if p.is_file()), folder)
        raise ConfigError(f"cannot create the {what} {folder}: {blocker} is a file, not a folder; {hint}") from None
    except OSError as exc:
        raise ConfigError(f"cannot create the {what} {folder} ({exc.strerror}); {hint}") from None
    return missing


def check_writable(path: str | os.PathLike, what: str, hint: str = "choose another path", folder: bool = False) -> None:
    """Fail now, in one line, when ``path`` (a file; a folder with ``folder``) could not be
    written later: a folder on its way is a file, or the nearest existing folder is read-only.
    Nothing is created.

    Raises:
        ConfigError: naming ``what``, the path and the reason.
    """
    path = Path(os.path.abspath(path))
    if path.is_dir() and not folder:
        raise ConfigError(f"{what} {path} is a folder; give a file path")
    if path.exists() and not path.is_dir() and folder:
        raise ConfigError(f"cannot use the {what} {path}: it is a file; {hint}")
    existing = next(p for p in (path if folder else path.parent, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ConfigError(f"cannot write the {what} {path}: {existing} is a file, not a folder; {hint}")
    if not os.access(existing, os.W_OK | os.X_OK):
        reason = "read-only file system" if _read_only(existing) else "permission denied"
        raise ConfigError(f"cannot write the {what} {path}: {existing} is not writable ({reason}); {hint}")


def unwritable_message(exc: BaseException) -> str | None:
    """One line for an OSError that says a file or folder cannot be written where it was
    asked for (see :data:`UNWRITABLE`); None for any other error."""
    if not isinstance(exc, OSError) or exc.errno not in UNWRITABLE or not exc.filename:
        return None
    return f"cannot write {exc.filename} ({exc.strerror}); choose a writable folder"


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False
