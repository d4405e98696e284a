"""The run's text log: logger set-up (console + file), run timestamps, and the log-line format
of MMPose's user guide::

    07/14 08:26:50 - mlpose - INFO - Epoch(train) [38][ 6/38]  base_lr: 5.148343e-04 lr: 5.148343e-04  \
eta: 0:15:34  time: 0.540754  data_time: 0.394292  memory: 3141  loss: 0.006220  loss_kpt: 0.006220  \
acc_pose: 1.000000
"""
from __future__ import annotations

import datetime
import logging
import math
import resource
import sys
import time as _time
from pathlib import Path
from typing import Mapping

import torch

from mlpose.runtime import dist

LOGGER_NAME = "mlpose"
# Console lines use the short date of the guide's sample; the file keeps the year (as MMEngine).
CONSOLE_DATEFMT = "%m/%d %H:%M:%S"
FILE_DATEFMT = "%Y/%m/%d %H:%M:%S"
LINE_FORMAT = "%(asctime)s - mlpose - %(levelname)s - %(message)s"
_HANDLER_TAG = "_mlpose_handler"
#: Libraries whose INFO lines (MLflow's "Validating input example...", "Successfully terminated
#: system metrics monitoring!", table creation) belong in the run's log file, not on the console.
LIBRARY_LOGGERS = ("mlflow", "alembic")
LIBRARY_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def make_timestamp() -> str:
    """``YYYYmmdd_HHMMSS`` of now on rank 0, the same string on every rank (the run folder name)."""
    stamp = _time.strftime("%Y%m%d_%H%M%S", _time.localtime()) if dist.is_main() else None
    return dist.broadcast_object(stamp, src=0)


def setup_logger(log_file: str | None = None, level: int | str = logging.INFO, name: str = LOGGER_NAME) -> logging.Logger:
    """Configure the ``mlpose`` logger: console on every rank (rank 0 at ``level``, others only
    errors), plus ``log_file`` on rank 0 (e.g. ``WORK_DIR/TIMESTAMP/TIMESTAMP.log``).

    Calling it again replaces the handlers it added before (handlers added by others stay).

    Returns:
        The logger; use ``logger.info(format_log_line(...))``.
    """
    logger = logging.getLogger(name)
    for h in list(logger.handlers):
        if getattr(h, _HANDLER_TAG, False):
            logger.removeHandler(h)
            h.close()
    main = dist.is_main()
    logger.setLevel(level if main else logging.ERROR)
    logger.propagate = False
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter(LINE_FORMAT, CONSOLE_DATEFMT))
    setattr(console, _HANDLER_TAG, True)
    logger.addHandler(console)
    if log_file and main:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        file.setFormatter(logging.Formatter(LINE_FORMAT, FILE_DATEFMT))
        setattr(file, _HANDLER_TAG, True)
        logger.addHandler(file)
    capture_library_logs(logger)
    return logger


def capture_library_logs(logger: logging.Logger | None = None) -> None:
    """Send the INFO lines of :data:`LIBRARY_LOGGERS` to ``logger``'s log file only: their own
    console handlers keep warnings and errors (those still reach the user), and mlpose's
    summary stays the last thing a run prints.

    Call it again after a library configured its logger (MLflow does so when first imported);
    each call replaces the file handler an earlier call added.
    """
    logger = logger or logging.getLogger(LOGGER_NAME)
    files = [h for h in logger.handlers if getattr(h, _HANDLER_TAG, False) and isinstance(h, logging.FileHandler)]
    for name in LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        for h in list(lib.handlers):
            if getattr(h, _HANDLER_TAG, False):
                lib.removeHandler(h)
            elif isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                h.setLevel(max(h.level, logging.WARNING))
        for file in files:
            mirror = logging.FileHandler(file.baseFilename, mode="a", encoding="utf-8", delay=True)
            mirror.setFormatter(logging.Formatter(LIBRARY_FORMAT, FILE_DATEFMT))
            setattr(mirror, _HANDLER_TAG, True)
            lib.addHandler(mirror)


def close_log_files(logger: logging.Logger | None = None) -> None:
    """Close and remove the log-file handlers :func:`setup_logger` added (console stays), also
    those mirrored to the library loggers: the log folder can then be removed or left."""
    for name in (logger.name if logger else LOGGER_NAME, *LIBRARY_LOGGERS):
        target = logging.getLogger(name)
        for h in list(target.handlers):
            if getattr(h, _HANDLER_TAG, False) and isinstance(h, logging.FileHandler):
                target.removeHandler(h)
                h.close()


def eta_string(seconds: float) -> str:
    """``H:MM:SS``, with ``N day(s), `` in front past 24 hours (e.g. ``1 day, 2:03:04``)."""
    if not math.isfinite(seconds):
        return "unknown"
    return str(datetime.timedelta(seconds=int(max(0.0, seconds))))


def memory_mb(device: torch.device | str | None = None) -> int:
    """Peak memory in MB: CUDA memory allocated by torch on a CUDA ``device`` (peak since the
    last call, which resets it), else this process's peak resident set size."""
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        peak = torch.cuda.max_memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        return int(peak // 2**20)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return int(rss // (2**20 if sys.platform == "darwin" else 2**10))


def _num(value: float) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else f"{float(value):.6f}"


def format_log_line(mode: str, epoch: int, iteration: int, num_iters: int, *,
                    base_lr: float | None = None, lr: float | None = None, eta: float | None = None,
                    time: float | None = None, data_time: float | None = None,
                    memory: int | None = None, scalars: Mapping[str, float] | None = None) -> str:
    """The message part of a progress line (the logger adds time, name and level).

    Args:
        mode: 'train', 'val' or 'test'.
        epoch: 1-based epoch number.
        iteration: 1-based iteration within the epoch; padded to the width of ``num_iters``.
        num_iters: iterations in the epoch.
        base_lr: the scheduled lr of parameters with ``lr_mult=1``.
        lr: the first param group's current lr.
        eta: seconds left; shown as ``eta_string``.
        time: seconds per iteration (window average).
        data_time: seconds per iteration spent waiting for data.
        memory: peak memory in MB.
        scalars: further values in order (``loss``, ``loss_kpt``, ``acc_pose`` or metrics);
            floats print with 6 decimals, ints as they are.

    Returns:
        e.g. ``Epoch(train) [38][ 6/38]  base_lr: 5.148343e-04 lr: 5.148343e-04  eta: 0:15:34
        time: 0.540754  data_time: 0.394292  memory: 3141  loss: 0.006220 ...`` (one line).
    """
    width = len(str(num_iters))
    parts = [f"Epoch({mode}) [{epoch}][{iteration:>{width}}/{num_iters}]"]
    lrs = [f"{k}: {v:.6e}" for k, v in (("base_lr", base_lr), ("lr", lr)) if v is not None]
    if lrs:
        parts.append(" ".join(lrs))
    if eta is not None:
        parts.append(f"eta: {eta_string(eta)}")
    for key, val in (("time", time), ("data_time", data_time)):
        if val is not None:
            parts.append(f"{key}: {val:.6f}")
    if memory is not None:
        parts.append(f"memory: {int(memory)}")
    for key, val in (scalars or {}).items():
        parts.append(f"{key}: {_num(val)}")
    return "  ".join(parts)


def log_skipped_images(loader, ctx, tracker, step: int) -> None:
    """With ``data_cfg.skip_bad_images``: the count of bad images skipped so far, in the log and
    as the metric ``data/skipped_images`` (each file was warned about once when first met)."""
    skipped = getattr(loader, "skipped", None)
    if skipped is None:
        return
    if len(skipped):
        ctx.logger.warning(f"data_cfg.skip_bad_images: {len(skipped)} bad image file(s) skipped so far")
    tracker.log_metrics({"data/skipped_images": float(len(skipped))}, step)
