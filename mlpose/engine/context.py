"""Where and how this process runs a job: process group, device, seed, precision, folders, log.

Every job (train, test, evaluate, resume) starts with :func:`setup_run`; what it returns is
plain data that the builders (:mod:`mlpose.engine.parts`) and the loops read.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import platform
import shutil
import time
from pathlib import Path

import torch

from mlpose import __version__
from mlpose.config import Config, config_text
from mlpose.engine.logger import close_log_files, setup_logger
from mlpose.errors import ConfigError
from mlpose.runtime import dist
from mlpose.runtime.launch import device_for, init_distributed, slow_bf16_note
from mlpose.runtime.malloc import keep_freed_memory
from mlpose.runtime.randomness import set_random_seed, sync_random_seed
from mlpose.runtime.folders import make_dirs, unwritable_message
from mlpose.runtime.worklock import WorkDirLock, lock_work_dir


@dataclasses.dataclass
class RunContext:
    """One process's share of a job.

    Attributes:
        cfg: the loaded, validated config.
        launcher: 'none', 'pytorch', 'slurm' or 'mpi'.
        rank, local_rank, world_size: this process in the process group (0, 0, 1 alone).
        device: this rank's CUDA device, else the CPU.
        seed: the seed every RNG was seeded with (``randomness.seed``, else drawn and shared).
        amp: mixed precision on (``--amp`` or ``AmpOptimWrapper``).
        precision: ``'fp32'``, ``'bf16-amp'`` (CPU) or ``'fp16-amp'`` (CUDA); logged as a tag.
        work_dir: checkpoints (``--work-dir``, ``cfg.work_dir`` or ``work_dirs/<config name>``).
        log_dir: ``work_dir/<timestamp>``: the log file, the config copy, ``vis_data/``.
        logger: the ``mlpose`` logger (rank 0 at INFO, other ranks errors only).
        lock: rank 0's hold on the work dir (training jobs; see :mod:`mlpose.runtime.worklock`).
        created: folders ``setup_run`` created for the work dir (outermost first).
        started: set when the job's tracked part begins (:func:`mlpose.engine.jobs.tracked`);
            a job that fails before leaves no log folder behind (see :meth:`job`).
    """

    cfg: Config
    launcher: str
    rank: int
    local_rank: int
    world_size: int
    device: torch.device
    seed: int
    amp: bool
    precision: str
    work_dir: Path
    log_dir: Path
    logger: logging.Logger
    lock: WorkDirLock | None = None
    created: list = dataclasses.field(default_factory=list)
    started: bool = False

    @contextlib.contextmanager
    def job(self):
        """The job's life: the work-dir lock is released at the end, and a job that fails
        before it started (a bad value found while building, missing data) takes back the log
        folder it made (and a work dir it created), so nothing but its one-line error is left."""
        try:
            yield self
        except BaseException as exc:
            if not self.started and dist.is_main():
                close_log_files(self.logger)
                shutil.rmtree(self.log_dir, ignore_errors=True)
                _remove_empty(self.created if self.lock is None else [])
                if self.lock is not None:
                    self.lock.release(discard=True)
                    self.lock = None
            line = unwritable_message(exc)  # e.g. --show-dir below a file: one line, not a traceback
            if line is not None:
                raise ConfigError(line) from None
            raise
        finally:
            if self.lock is not None:
                self.lock.release()

    @property
    def amp_dtype(self) -> torch.dtype:
        """fp16 (with a grad scaler) on CUDA, bfloat16 on CPUs."""
        return torch.float16 if self.device.type == "cuda" else torch.bfloat16

    def autocast(self):
        """The forward's autocast context (a no-op without AMP)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def compile_options(self) -> dict | None:
        """``env_cfg.compile``: None (off, the default), or the keyword arguments of
        ``torch.compile`` (``True`` is ``{}``; a dict such as ``dict(mode='max-autotune')``)."""
        choice = (self.cfg.get("env_cfg") or {}).get("compile", False)
        return ({} if choice is True else dict(choice)) if choice else None

    def channels_last(self) -> bool:
        """``env_cfg.channels_last``; by default NHWC on CPUs (faster in fp32 and bf16 alike)
        and for AMP on GPUs (tensor cores), NCHW for fp32 on GPUs."""
        choice = (self.cfg.get("env_cfg") or {}).get("channels_last")
        return (self.device.type == "cpu" or self.amp) if choice is None else choice


def setup_run(cfg: Config, work_dir: str | None, launcher: str, amp: bool, lock: bool = False,
              command: list | None = None) -> RunContext:
    """Join the process group, seed, choose device and precision, lock the work dir (when
    ``lock``), make the log folder. Use the result as ``with ctx.job(): ...``.

    Args:
        cfg: the loaded config.
        work_dir: run folder (default ``cfg.work_dir`` or ``work_dirs/<config name>``).
        launcher: 'none', 'pytorch', 'slurm' or 'mpi'.
        amp: ``--amp`` (``optim_wrapper.type='AmpOptimWrapper'`` turns it on too).
        lock: hold the work dir for this job (training); another job holding it is an error.
        command: the command line, recorded in the lock for whoever is refused.

    Raises:
        ConfigError: the work dir is held by another job, or a folder cannot be made.
    """
    backend = ((cfg.get("env_cfg") or {}).get("dist_cfg") or {}).get("backend")
    if backend == "nccl" and not torch.cuda.is_available():
        backend = "gloo"
    rank, local_rank, world_size = init_distributed(launcher, backend)
    device = device_for(local_rank)
    if device.type == "cpu":
        keep_freed_memory()  # activations are re-used, not page-faulted in every step
    rnd = cfg.get("randomness") or {}
    seed = rnd.get("seed") if rnd.get("seed") is not None else sync_random_seed()
    set_random_seed(seed, rnd.get("diff_rank_seed", False), rnd.get("deterministic", False), rank)
    if (cfg.get("env_cfg") or {}).get("cudnn_benchmark") and not rnd.get("deterministic", False):
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest kernels
    amp = amp or (cfg.get("optim_wrapper") or {}).get("type") == "AmpOptimWrapper"
    precision = ("fp16" if device.type == "cuda" else "bf16") + "-amp" if amp else "fp32"

    work = Path(work_dir or cfg.get("work_dir") or Path("work_dirs") / cfg.name)
    held, created, made = None, [], None
    if dist.is_main():
        try:
            held, created, made = _make_folders(work, cfg, lock, command)
        except ConfigError as exc:
            made = exc
    made = dist.broadcast_object(str(made) if isinstance(made, ConfigError) else made)
    if not isinstance(made, Path):
        raise ConfigError(made)  # every rank stops with rank 0's line
    logger = setup_logger(made / f"{made.name}.log" if dist.is_main() else None, level=cfg.get("log_level") or "INFO")
    if amp and (note := slow_bf16_note(device)):
        logger.warning(note)
    return RunContext(cfg, launcher, rank, local_rank, world_size, device, seed, amp, precision, work, made, logger,
                      held, created)


def _make_folders(work: Path, cfg: Config, lock: bool, command: list | None) -> tuple:
    """Rank 0: ``(lock or None, folders created, log folder)``; the log folder is new even when
    another job (a test beside a training) starts in the same second."""
    held = lock_work_dir(work, command) if lock else None
    created = held.created if held else make_dirs(work, "work dir", hint="give another --work-dir")
    try:
        stamp = time.strftime("%Y%m%d_%H%M%S")
        for n in range(1, 100):
            log_dir = work / (stamp if n == 1 else f"{stamp}_{n}")
            try:
                log_dir.mkdir()
                break
            except FileExistsError:
                continue
        (log_dir / f"{cfg.name}.py").write_text(config_text(cfg))
    except OSError as exc:
        if held:
            held.release(discard=True)
        else:
            _remove_empty(created)
        raise ConfigError(f"cannot write in the work dir {work} ({exc.strerror}); give a writable --work-dir") from None
    return held, created, log_dir


def _remove_empty(folders: list) -> None:
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def snapshot_env() -> dict:
    """Facts recorded in checkpoints and tags (never secrets)."""
    return {"mlpose": __version__, "torch": str(torch.__version__), "host": platform.node(), "pid": os.getpid()}
