"""Which MLflow run a ``--resume`` continues: the one its checkpoint recorded (``meta.run_id``)."""
from __future__ import annotations

import os

import torch

from mlpose.engine.parts import TrainParts


def resumed_run_id(parts: TrainParts, resume: str | None) -> str | None:
    """The run id stored in the local checkpoint that ``restore_or_init(parts, resume)`` will
    restore (``--resume``, ``--resume PATH``, ``resume=True``); None for a fresh start, a remote
    checkpoint or a file without one."""
    cfg = parts.ctx.cfg
    if resume is None and cfg.get("resume"):
        resume = cfg.get("load_from") or "auto"
    if resume == "auto":
        resume = parts.checkpointer.manager.latest()
    if not resume or not os.path.isfile(resume):
        return None
    try:  # mmap: only the small meta entry is read from a large file
        meta = torch.load(resume, map_location="cpu", weights_only=True, mmap=True).get("meta") or {}
    except Exception:  # noqa: BLE001 - unreadable files fail with one line in restore_or_init
        return None
    return meta.get("run_id") if isinstance(meta, dict) else None
