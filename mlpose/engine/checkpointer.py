"""What a training checkpoint holds and when it is written: one table walked by save and restore.

The table maps an entry name to an object with ``state_dict()`` / ``load_state_dict(d)``
(model, optimizer, scheduler, scaler, train state, sampler position, best scores, RNG)::

    checkpointer = Checkpointer(table, manager, describe, upload='best_last')
    checkpointer.save_epoch(epoch, metrics, max_epochs, tracker)    # end of an epoch (all ranks)
    checkpointer.restore(path)                                      # every entry, in table order

A checkpoint file is ``{name: entry.state_dict() for each entry}`` plus ``config`` (redacted text)
and ``meta`` (versions, seed, precision, run id); adding a stateful part means adding one entry.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Mapping, Protocol

import torch
from torch import nn

from mlpose.engine.checkpoint import CheckpointManager
from mlpose.models.weight_fit import weight_mismatch
from mlpose.errors import ConfigError
from mlpose.evaluation.names import mlflow_key
from mlpose.runtime import dist
from mlpose.runtime.checkpoint_io import load_checkpoint
from mlpose.runtime.foreign import describe as describe_file, is_mlpose_checkpoint, model_weights
from mlpose.runtime.dist import unwrap_model
from mlpose.runtime.randomness import capture_rng_state, restore_rng_state

#: Entries a checkpoint of an earlier mlpose version (or of a run without EMA) may lack; they are
#: left as built.
OPTIONAL_ENTRIES = ("sampler", "ema")
logger = logging.getLogger("mlpose")


class Stateful(Protocol):
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: Mapping) -> None: ...


class ModelState:
    """The plain model's weights (DDP/compile wrappers removed); loading names what does not fit."""

    def __init__(self, model: nn.Module):
        self.model = model

    def state_dict(self) -> dict:
        return unwrap_model(self.model).state_dict()

    def load_state_dict(self, state: Mapping) -> None:
        model = unwrap_model(self.model)
        problem = weight_mismatch(model.state_dict(), state)  # before torch's 100-line size-mismatch error
        if problem:
            raise ConfigError(problem)
        model.load_state_dict(state, strict=True)


class OptimizerState:
    """The optimizer's state; loading checks that each saved moment fits its parameter's shape.

    torch maps saved states to parameters by position only, so a checkpoint whose parameters
    came in another order would load moments onto the wrong tensors (and fused kernels then
    read out of bounds): that is one line naming the parameter instead.
    """

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer

    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: Mapping) -> None:
        saved = [i for group in state.get("param_groups", ()) for i in group["params"]]
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        for index, param in zip(saved, params):
            for key, value in state.get("state", {}).get(index, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                    raise ConfigError(
                        f"optimizer state {key} of parameter {index} is {tuple(value.shape)} but the model's "
                        f"parameter there is {tuple(param.shape)}: the checkpoint orders its parameters "
                        "differently, so training cannot resume exactly; start from its weights with load_from")
        self.optimizer.load_state_dict(state)


class RngState:
    """Python, numpy, torch and CUDA generator states of this process."""

    def state_dict(self) -> dict:
        return capture_rng_state()

    def load_state_dict(self, state: Mapping) -> None:
        restore_rng_state(state)


def load_weights(model: nn.Module, path: str, ema: bool = True) -> dict:
    """Load model weights from the checkpoint file ``path``: mlpose's, or a model-zoo file
    (MMPose 1.x/0.x, MMEngine training checkpoint; see :func:`mlpose.runtime.foreign.model_weights`,
    ``ema`` included); returns the whole checkpoint dict.

    Raises:
        ConfigError: unreadable or refused file, or weights that do not fit the model (names the file).
    """
    ckpt = load_checkpoint(path, map_location="cpu")
    try:
        ModelState(model).load_state_dict(model_weights(ckpt, ema=ema))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return ckpt


class Checkpointer:
    """Saves the table when due (rank 0 writes atomically, every rank waits) and restores it.

    Args:
        table: entry name -> stateful object, in restore order (RNG last).
        manager: which files exist in the work dir (interval, best, pruning, ``last_checkpoint``).
        describe: ``describe(run_id)`` returns the ``config`` and ``meta`` entries of a file.
        upload: ``tracking.log_checkpoints``: 'best_last' (default), 'all' (every
            ``epoch_N.pth`` too; those the work dir prunes with ``max_keep_ckpts`` are deleted
            from the run as well) or 'none'.
    """

    def __init__(self, table: dict[str, Stateful], manager: CheckpointManager,
                 describe: Callable[[str | None], dict], upload: str = "best_last"):
        self.table, self.manager, self.describe, self.upload = table, manager, describe, upload

    def state_dict(self, run_id: str | None = None) -> dict:
        """One dict of plain types: every entry, then ``config`` and ``meta`` (with ``run_id``)."""
        return {**{name: part.state_dict() for name, part in self.table.items()}, **self.describe(run_id)}

    def restore(self, path: str) -> dict:
        """Load every entry from the checkpoint file ``path``; returns the file's dict.

        Raises:
            ConfigError: an unreadable file, weights that do not fit, or a missing entry.
        """
        ckpt = load_checkpoint(path, map_location="cpu")
        if not is_mlpose_checkpoint(ckpt):  # MMEngine/MMPose: its training state is not ours
            raise ConfigError(f"{path} is {describe_file(ckpt)}, so mlpose cannot continue its training; start a "
                              f"new run from its weights instead: --cfg-options load_from={path} (without --resume "
                              "or resume=True)")
        if "state_dict" not in ckpt:  # mlpose before 0.2 named the weights' entry ``model``
            ckpt = {**ckpt, "state_dict": ckpt["model"]}
        if "ema" in ckpt and "ema" not in self.table:  # its weights are the average; training goes on from the raw ones
            logger.warning(f"{path} was trained with EMAHook and this config has none: resuming from its raw weights")
            ckpt = {**ckpt, "state_dict": ckpt["ema"]["raw"]}
        for name, part in self.table.items():
            if name not in ckpt:
                if name in OPTIONAL_ENTRIES:
                    continue
                raise ConfigError(f"{path}: no {name!r} in this checkpoint, so training cannot resume from "
                                  "it exactly; use load_from to start from its weights instead")
            try:
                part.load_state_dict(ckpt[name])
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
        return ckpt

    def save_interrupted(self, iteration: int, tracker) -> None:
        """Write ``iter_N.pth`` after a stop signal (uploaded as the run's ``last.pth``)."""
        if dist.is_main():
            path = self.manager.save(lambda: self.state_dict(tracker.run_id), f"iter_{iteration}.pth")
            self._upload(tracker, path, "last.pth")
            tracker.flush()
        dist.barrier()

    def save_epoch(self, epoch: int, metrics: dict, max_epochs: int, tracker) -> None:
        """After epoch ``epoch``: the best file(s) for improved metrics, ``epoch_N.pth`` when due;
        the new best (of the first ``save_best`` metric) and last files become the run's models."""
        if dist.is_main():
            cached: dict = {}

            def state() -> dict:  # built at most once, only when a file is written
                if not cached:
                    # what was logged up to here is stored (or journaled, the server away) before
                    # the file exists: a SIGKILL right after it loses none of this epoch's metrics
                    tracker.flush()
                    cached.update(self.state_dict(tracker.run_id))
                return cached

            # save_best may use the user-facing name ('coco/AP (M)') or its MLflow key ('coco/AP_M')
            named = {**{mlflow_key(k): v for k, v in metrics.items()}, **metrics}
            for path in self.manager.update_best(named, epoch, state) if metrics else []:
                self._upload(tracker, path, "best.pth")
            models = {}
            best = self.best()
            if best and best[0] == epoch:
                models["best"] = str(best[1])
            if self.manager.should_save(epoch, max_epochs):
                before = set(self.manager.epoch_files())
                path = models["last"] = self.manager.save_epoch(state, epoch)
                self._upload(tracker, path, "last.pth")
                if self.upload == "all":
                    self._upload(tracker, path, f"epoch_{epoch}.pth")
                    # the run keeps the epoch files the work dir keeps (max_keep_ckpts)
                    for pruned in sorted(before - set(self.manager.epoch_files())):
                        tracker.delete_checkpoint(pruned.name)
            for role, path in models.items():  # after the checkpoints: a resume needs those first
                tracker.log_model(path, role, cached["state"]["iteration"], metrics)
        dist.barrier()

    def best(self) -> tuple[int, Path] | None:
        """``(epoch, path)`` of the best checkpoint of the first ``save_best`` metric so far, also
        from before a resume (the file may then be on another machine); None before any."""
        manager = self.manager
        best = manager.best.get(manager.metrics[0]) if manager.metrics else None
        return (best["epoch"], Path(manager.work_dir) / best["path"]) if best else None

    def _upload(self, tracker, path: str, name: str) -> None:
        if self.upload != "none":
            tracker.log_checkpoint(path, name)
