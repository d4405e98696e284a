"""Session: everything a train or test run needs, built once from the config.

The loop (:mod:`mlpose.engine.loop`) reads the session's attributes; this module owns the
set-up: process group, seeds, work dir, model, data, optimiser, schedule, AMP, checkpoints,
logging, visualisation and tracking.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import time
from pathlib import Path

import torch

from mlpose.config import Config, config_text
from mlpose.datasets import pose_collate
from mlpose.engine import dist
from mlpose.engine.checkpoint import CheckpointManager, capture_rng_state, load_checkpoint, unwrap_model
from mlpose.engine.data import build_dataloader
from mlpose.engine.launch import device_for, init_distributed
from mlpose.engine.logger import setup_logger
from mlpose.engine.malloc import keep_freed_memory
from mlpose.engine.randomness import set_random_seed, sync_random_seed
from mlpose.engine.visualizer import build_visualizer
from mlpose.evaluation import build_evaluator
from mlpose.registry import MODELS, ConfigError, build


@dataclasses.dataclass
class TrainState:
    """Where training stands; the step axis of every logged metric is ``iteration``."""

    epoch: int = 0  # completed epochs
    iteration: int = 0  # completed iterations since the start of training
    epoch_iter: int = 0  # completed iterations of the current epoch (non-zero only mid-epoch)


class Session:
    """Shared set-up of train/test runs.

    Args:
        cfg: the loaded config.
        work_dir: run folder (default ``cfg.work_dir`` or ``work_dirs/<config name>``).
        launcher: 'none', 'pytorch', 'slurm' or 'mpi'.
        amp: mixed precision (fp16 + GradScaler on CUDA, bfloat16 on CPU).
    """

    def __init__(self, cfg: Config, work_dir: str | None, launcher: str, amp: bool):
        self.cfg = cfg
        backend = ((cfg.get("env_cfg") or {}).get("dist_cfg") or {}).get("backend")
        if backend == "nccl" and not torch.cuda.is_available():
            backend = "gloo"
        self.rank, self.local_rank, self.world_size = init_distributed(launcher, backend)
        self.launcher = launcher
        self.device = device_for(self.local_rank)
        if self.device.type == "cpu":
            keep_freed_memory()  # activations are re-used, not page-faulted in every step
        rnd = cfg.get("randomness") or {}
        self.seed = rnd.get("seed") if rnd.get("seed") is not None else sync_random_seed()
        set_random_seed(self.seed, rnd.get("diff_rank_seed", False), rnd.get("deterministic", False), self.rank)
        self.amp = amp or (cfg.get("optim_wrapper") or {}).get("type") == "AmpOptimWrapper"
        self.amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self.precision = ("fp16" if self.device.type == "cuda" else "bf16") + "-amp" if self.amp else "fp32"

        self.work_dir = Path(work_dir or cfg.get("work_dir") or Path("work_dirs") / cfg.name)
        stamp = dist.broadcast_object(time.strftime("%Y%m%d_%H%M%S"))
        self.log_dir = self.work_dir / stamp
        if dist.is_main():
            self.log_dir.mkdir(parents=True, exist_ok=True)
            (self.log_dir / f"{cfg.name}.py").write_text(config_text(cfg))
        dist.barrier()
        self.logger = setup_logger(self.log_dir / f"{stamp}.log" if dist.is_main() else None)
        self.visualizer = build_visualizer(cfg.get("visualizer"), self.log_dir / "vis_data") if dist.is_main() else None
        self.tracker = None
        self.show_dir, self.show, self.vis_interval, self.wait_time = None, False, 1, 1.0
        self.skeleton = ()
        self._stop = False
        self._saved_handlers: dict = {}  # signal -> the handler install_signal_handlers replaced

    # ----- building -------------------------------------------------------------------------
    def build_model(self) -> torch.nn.Module:
        self.model = build(self.cfg.model, MODELS, "model").to(self.device)
        if self.channels_last():
            self.model = self.model.to(memory_format=torch.channels_last)
        if self.cfg.get("sync_bn") and self.world_size > 1:
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.ddp_model = self.model
        if self.world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        return self.model

    def channels_last(self) -> bool:
        """``env_cfg.channels_last``; by default NHWC on CPUs (faster in fp32 and bf16 alike)
        and for AMP on GPUs (tensor cores), NCHW for fp32 on GPUs."""
        choice = (self.cfg.get("env_cfg") or {}).get("channels_last")
        return (self.device.type == "cpu" or self.amp) if choice is None else choice

    def build_loader(self, split: str, train: bool):
        key = f"{split}_dataloader"
        if not self.cfg.get(key):
            raise ConfigError(f"{self.cfg.filename}: {key} is not set; it is needed to {'train' if train else 'evaluate'}")
        return build_dataloader(self.cfg[key], key, seed=self.seed, rank=self.rank, world_size=self.world_size,
                                train=train, collate_fn=pose_collate)

    def build_evaluator(self, split: str, loader):
        key = f"{split}_evaluator"
        if not self.cfg.get(key):
            raise ConfigError(f"{self.cfg.filename}: {key} is not set")
        metainfo = loader.dataset.dataset.metainfo
        self.skeleton = metainfo.get("skeleton", ())  # for --show-dir pictures
        return build_evaluator(self.cfg[key], metainfo)

    def load_weights(self, path: str) -> dict:
        """Load model weights from a checkpoint (``state_dict``/``model`` nesting accepted)."""
        ckpt = load_checkpoint(path, map_location="cpu")
        state = ckpt.get("model") or ckpt.get("state_dict") or ckpt
        missing, unexpected = unwrap_model(self.model).load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ConfigError(f"{path}: checkpoint does not fit the model: missing keys {missing[:5]}, "
                              f"unexpected keys {unexpected[:5]}; is it from another config?")
        return ckpt

    def checkpoint_manager(self) -> CheckpointManager:
        hook = dict((self.cfg.get("default_hooks") or {}).get("checkpoint") or {})
        return CheckpointManager(self.work_dir, interval=hook.get("interval", 1),
                                 max_keep_ckpts=hook.get("max_keep_ckpts", -1), save_best=hook.get("save_best"),
                                 rule=hook.get("rule"), save_last=hook.get("save_last", True))

    # ----- used by the loops ----------------------------------------------------------------
    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def record(self, scalars: dict, step: int) -> None:
        """Send scalars (python floats) to the vis backends and MLflow; rank 0 only."""
        if self.visualizer is not None:
            self.visualizer.add_scalars(scalars, step)
        if self.tracker is not None:
            self.tracker.log_metrics(scalars, step)

    def set_show(self, show_dir: str | None, show: bool, interval: int, wait_time: float) -> None:
        """``--show-dir``/``--show``/``--interval``/``--wait-time``; ``--show`` fails now without a display.
        A relative ``show_dir`` lives in this run's log folder."""
        if show:
            from mlpose.engine.show import check_display

            check_display()
        self.show_dir = self.log_dir / show_dir if show_dir else None
        self.show, self.vis_interval, self.wait_time = show, interval, wait_time

    def visualize(self, metas: list[dict], preds: list[dict], batch_index: int) -> None:
        if not (self.show_dir or self.show):
            return
        from mlpose.engine.show import show_predictions

        show_predictions(self, metas, preds, batch_index)

    # ----- signals --------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM: finish the current step, checkpoint, exit; a second signal aborts."""

        def handler(signum, frame):
            if self._stop:
                raise KeyboardInterrupt
            self._stop = True
            self.logger.warning(f"received {signal.Signals(signum).name}: stopping after this step")

        self._saved_handlers = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}

    def stop_requested(self, iteration: int) -> bool:
        if self.world_size == 1:
            return self._stop
        if iteration % 10:  # ranks agree on stopping every 10 iterations (one tiny all-reduce)
            return False
        flag = torch.tensor([float(self._stop)], device=self.device)
        torch.distributed.all_reduce(flag)
        return bool(flag.item())

    def sync_buffers(self) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

        DDP broadcasts buffers before each training forward, so after the last step every rank
        holds its own statistics; validation and the checkpoint must agree on rank 0's.
        """
        if self.world_size > 1:
            for buf in self.model.buffers():
                torch.distributed.broadcast(buf, src=0)

    def rng_state(self) -> dict:
        return capture_rng_state()

    def close(self) -> None:
        for sig, previous in self._saved_handlers.items():
            signal.signal(sig, previous)  # a caller (e.g. a sweep) gets its own handlers back
        if self.visualizer is not None:
            self.visualizer.close()
        for handler in list(self.logger.handlers):
            handler.flush()


def snapshot_env() -> dict:
    """Facts recorded in checkpoints and tags (never secrets)."""
    import platform

    from mlpose import __version__

    return {"mlpose": __version__, "torch": str(torch.__version__), "host": platform.node(), "pid": os.getpid()}
