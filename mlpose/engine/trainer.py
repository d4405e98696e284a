"""TrainSession: the training-specific set-up around the loop (optimiser, schedule, AMP
scaler, resume, checkpoints and their upload)."""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import torch

from mlpose.config import config_text
from mlpose.engine import dist
from mlpose.engine.checkpoint import restore_rng_state, unwrap_model
from mlpose.engine.optim import auto_scale_lr, build_optimizer, make_grad_clipper, parse_optim_wrapper
from mlpose.engine.scheduler import LRSchedule
from mlpose.engine.session import Session, TrainState, snapshot_env
from mlpose.evaluation import mlflow_key
from mlpose.registry import ConfigError


@dataclasses.dataclass
class RunOptions:
    """What ``mlpose train`` and ``mlpose test`` both accept besides the config."""

    work_dir: str | None = None
    cfg_options: list = dataclasses.field(default_factory=list)
    show_dir: str | None = None
    show: bool = False
    interval: int = 1
    wait_time: float = 1.0
    launcher: str = "none"
    experiment: str | None = None
    command: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class TrainOptions(RunOptions):
    """What ``mlpose train`` accepts besides the config (see ``mlpose train --help``)."""

    resume: str | None = None  # None, 'auto' (latest in work dir) or a checkpoint path/URI
    amp: bool = False
    no_validate: bool = False
    auto_scale_lr: bool = False
    run_id: str | None = None  # attach to this MLflow run (resume by run id, sweep trials)
    parent_run_id: str | None = None
    on_validate: Callable[[int, int, dict], None] | None = None  # (epoch, step, metrics), e.g. pruning
    config_name: str | None = None  # name recorded for the run (resume by run id keeps the original)


class TrainSession(Session):
    """Builds model, data, optimiser, schedule and checkpointing for :func:`mlpose.engine.loop.fit`."""

    def __init__(self, cfg, opts: TrainOptions):
        super().__init__(cfg, opts.work_dir, opts.launcher, opts.amp)
        self.opts = opts
        self.set_show(opts.show_dir, opts.show, opts.interval, opts.wait_time)
        self.state = TrainState()
        self.build_model()
        self.train_loader = self.build_loader("train", train=True)
        self.train_sampler = self.train_loader.sampler
        self.batch_size = self.train_loader.batch_size
        if self.train_sampler.num_samples < self.batch_size:
            raise ConfigError(f"train_dataloader: {self.train_sampler.num_samples} samples per process is fewer than "
                              f"batch_size={self.batch_size}; use a smaller batch or more data")
        self.validate = not opts.no_validate and bool(cfg.get("val_dataloader")) and bool(cfg.get("val_evaluator"))
        if self.validate:
            self.val_loader = self.build_loader("val", train=False)
            self.val_evaluator = self.build_evaluator("val", self.val_loader)

        spec = parse_optim_wrapper(cfg.optim_wrapper)
        self.amp = self.amp or spec.amp
        if opts.auto_scale_lr:
            base = (cfg.get("auto_scale_lr") or {}).get("base_batch_size")
            if not base:
                raise ConfigError(f"{cfg.filename}: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config")
            cfg.optim_wrapper.optimizer = auto_scale_lr(cfg.optim_wrapper.optimizer, base, self.world_size * self.batch_size)
            self.logger.info(f"auto-scale-lr: lr = {cfg.optim_wrapper.optimizer.lr:g} "
                             f"(batch {self.world_size}x{self.batch_size} vs base {base})")
        self.optimizer = build_optimizer(self.model, cfg.optim_wrapper)
        self.trainable_params = [p for g in self.optimizer.param_groups for p in g["params"]]
        self.clip = make_grad_clipper(spec.clip_grad)
        self.accumulate = spec.accumulative_counts
        self.schedule = LRSchedule(cfg.get("param_scheduler"), self.train_sampler.num_samples // self.batch_size)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp and self.device.type == "cuda")
        self.checkpoints = self.checkpoint_manager()
        self.best_path: str | None = None

    # ----- resume / load_from (MMEngine semantics) ----------------------------------------------
    def restore(self, resolve: Callable[[str], str] = str) -> str | None:
        """Apply ``--resume`` / ``resume=True`` + ``load_from`` / ``load_from``; returns what was resumed.

        Args:
            resolve: turns a checkpoint path/URL/MLflow URI into a local file path.
        """
        resume, load_from = self.opts.resume, self.cfg.get("load_from")
        if resume is None and self.cfg.get("resume"):
            resume = load_from or "auto"
        if resume == "auto":
            resume = self.checkpoints.latest()
            if resume is None:
                self.logger.info(f"--resume: no checkpoint in {self.work_dir}, starting from scratch")
        if resume:
            ckpt = self.load_weights(resolve(resume))
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scaler.load_state_dict(ckpt["scaler"])
            self.schedule.load_state_dict(ckpt["scheduler"])
            self.checkpoints.load_state_dict(ckpt["checkpoints"])
            self.state = TrainState(**ckpt["state"])
            restore_rng_state(ckpt["rng"])
            self.logger.info(f"resumed from {resume}: epoch {self.state.epoch}, iteration {self.state.iteration}")
            return resume
        if hasattr(self.model, "init_weights"):
            self.model.init_weights()  # fresh run: initialisation and init_cfg pretrained weights
        if load_from:
            self.load_weights(resolve(load_from))
            self.logger.info(f"load_from: weights from {load_from}, training from scratch")
        return None

    # ----- used by the loop ---------------------------------------------------------------------
    def should_validate(self, epoch: int) -> bool:
        train_cfg = self.cfg.train_cfg
        interval, begin = train_cfg.get("val_interval", 1), train_cfg.get("val_begin", 1)
        return self.validate and epoch >= begin and (epoch % interval == 0 or epoch == train_cfg.max_epochs)

    def on_validate(self, epoch: int, step: int, metrics: dict) -> None:
        if self.opts.on_validate is not None and dist.is_main():
            self.opts.on_validate(epoch, step, metrics)

    def checkpoint_state(self) -> dict:
        """One state dict of plain types: everything an exact resume needs."""
        from mlpose.tracking.redact import redact  # here: ranks that never save need no mlflow import

        return {
            "model": unwrap_model(self.model).state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "state": dataclasses.asdict(self.state),
            "rng": self.rng_state(),
            "checkpoints": self.checkpoints.state_dict(),
            # Redacted: checkpoints are uploaded to MLflow and shared; credentials must not travel.
            "config": config_text(redact(self.cfg.to_dict())),
            "meta": {**snapshot_env(), "config_name": self.cfg.name, "seed": self.seed, "time": time.time(),
                     "precision": self.precision, "world_size": self.world_size,
                     "run_id": self.tracker.run_id if self.tracker else None},
        }

    def save_checkpoint(self, epoch: int, metrics: dict | None = None, interrupted: bool = False) -> None:
        """Rank 0 writes what is due (atomically) and queues the uploads; all ranks wait."""
        if dist.is_main():
            cached: dict = {}

            def state() -> dict:
                if not cached:
                    cached.update(self.checkpoint_state())
                return cached

            upload = ((self.cfg.get("tracking") or {}).get("log_checkpoints") or "best_last")
            if interrupted:
                path = self.checkpoints.save(state, f"iter_{self.state.iteration}.pth")
                self._upload(path, "last.pth", upload)
            else:
                # save_best may use the user-facing name ('coco/AP (M)') or its MLflow key ('coco/AP_M')
                named = {**{mlflow_key(k): v for k, v in (metrics or {}).items()}, **(metrics or {})}
                for path in self.checkpoints.update_best(named, epoch, state) if metrics else []:
                    self.best_path = path
                    self._upload(path, "best.pth", upload)
                if self.checkpoints.should_save(epoch, self.cfg.train_cfg.max_epochs):
                    path = self.checkpoints.save_epoch(state, epoch)
                    self._upload(path, "last.pth", upload)
                    if upload == "all":
                        self._upload(path, f"epoch_{epoch}.pth", upload)
            if self.tracker is not None and cached:
                self.tracker.flush()
        dist.barrier()

    def _upload(self, path: str, name: str, mode: str) -> None:
        if self.tracker is not None and mode != "none":
            self.tracker.log_checkpoint(path, name)
