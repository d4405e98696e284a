"""Full disks, told in one line: which device, which file, how much was needed."""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

#: a write failing with less free space than this left counts as a full disk
NEARLY_FULL_BYTES = 4 << 20


def mount_of(path: str | os.PathLike) -> tuple[str, str]:
    """``(device, mount point)`` of the filesystem holding ``path`` (device from /proc/mounts
    where readable, else the mount point itself)."""
    mount = Path(os.path.abspath(path))
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    device = str(mount)
    try:
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 1 and fields[1] == str(mount):
                    device = fields[0]  # the last entry wins: it is the one on top
    except OSError:
        pass
    return device, str(mount)


def is_disk_full(exc: BaseException, folder: str | os.PathLike) -> bool:
    """Whether ``exc`` (raised while writing into ``folder``) comes from a full disk: ENOSPC or
    EDQUOT anywhere in its chain, or (torch hides it: ``[enforce fail at inline_container.cc]``)
    a failed write on a filesystem with almost nothing left."""
    seen = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(folder).free < NEARLY_FULL_BYTES
    except OSError:
        return False


def disk_full_message(path: str | os.PathLike, needed_bytes: int | None) -> str:
    device, mount = mount_of(Path(path).parent)
    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        free = None
    where = device if device == mount else f"{device} (mounted at {mount})"
    needs = f"needs ~{max(1, round(needed_bytes / 2**20))} MB" if needed_bytes else "size unknown"
    left = f", {free / 2**20:.1f} MB free without it" if free is not None else ""
    kept = "; the previous file is intact" if Path(path).exists() else ""
    return (f"no space left on {where} writing {path} ({needs}{left}); free some space or use a work dir "
            f"on another disk (--work-dir){kept}")
