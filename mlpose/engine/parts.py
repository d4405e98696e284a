"""The training parts: every object :func:`mlpose.engine.loop.fit` uses, in one typed dataclass.

:func:`mlpose.engine.build.build_train_parts` makes a :class:`TrainParts` once from the config
and the options; the loop only reads it (and advances ``state``).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Mapping

import torch
from torch import nn
from torch.utils.data import DataLoader

from mlpose.datasets.loader import iters_per_epoch
from mlpose.datasets.sampler import EpochSampler
from mlpose.engine.checkpointer import Checkpointer
from mlpose.engine.context import RunContext
from mlpose.engine.ema import ModelEMA
from mlpose.engine.pipeline_switch import PipelineSwitch
from mlpose.engine.scheduler import LRSchedule
from mlpose.engine.signals import StopSignal
from mlpose.evaluation import Evaluator
from mlpose.tracking.val_report import ValidationReport
from mlpose.visualization import PredictionShow, Visualizer


@dataclasses.dataclass
class TrainState:
    """Where training stands; the step axis of every logged metric is ``iteration``."""

    epoch: int = 0  # completed epochs
    iteration: int = 0  # completed iterations since the start of training
    epoch_iter: int = 0  # completed iterations of the current epoch (non-zero only mid-epoch)
    #: the loss sums of the iterations since the last log line ({names, sums, count}); only a
    #: checkpoint written by a stop signal mid-window holds them, so the resumed log line is the same
    log_window: dict | None = None

    def state_dict(self) -> dict:
        state = dataclasses.asdict(self)
        if state["log_window"] is None:  # epoch files keep the layout of every earlier mlpose
            del state["log_window"]
        return state

    def load_state_dict(self, state: Mapping) -> None:
        self.epoch, self.iteration, self.epoch_iter = state["epoch"], state["iteration"], state["epoch_iter"]
        self.log_window = state.get("log_window")  # absent in mlpose 0.1's files


class SamplerPosition:
    """The checkpoint entry of the training sampler: the epoch and how far into it this rank is.

    The loop starts every epoch at ``state.epoch_iter * batch_size`` samples, so this entry
    records that position and, on restore, warns when the data order cannot be the interrupted
    run's (another number of samples per rank or another world size).
    """

    def __init__(self, sampler: EpochSampler, state: TrainState, batch_size: int):
        self.sampler, self.state, self.batch_size = sampler, state, batch_size

    def state_dict(self) -> dict:
        return {"epoch": self.state.epoch, "start": self.state.epoch_iter * self.batch_size,
                "num_samples": self.sampler.num_samples, "world_size": self.sampler.world_size}

    def load_state_dict(self, state: Mapping) -> None:
        now = (self.sampler.num_samples, self.sampler.world_size)
        if (state["num_samples"], state["world_size"]) != now:
            logging.getLogger("mlpose").warning(
                f"resuming with {now[0]} samples per rank on {now[1]} process(es) where the checkpoint had "
                f"{state['num_samples']} on {state['world_size']}: the data order differs from the interrupted run")


@dataclasses.dataclass
class TrainParts:
    """Everything a training run is made of, built once (see ``build_train_parts``).

    Attributes:
        ctx: device, autocast, logger, rank/world size, work and log folders.
        model: the plain model, the one trained; its weights are what is saved and validated
            (without EMA: see ``eval_model``).
        ddp_model: what the training forward calls: ``model`` in DDP when world_size > 1.
        train_loader: batches of ``dict(inputs (B,3,H,W) uint8, targets {codec key: (B, ...)}
            float32, meta list)``.
        train_sampler: yields this rank's ``(epoch, index)`` keys; can start mid-epoch.
        batch_size: samples per rank per iteration.
        val_loader, val_evaluator: validation data and metrics (None with ``--no-validate``).
        val_epochs: the epochs (1-based) after which to validate.
        optimizer: the torch optimizer over ``trainable_params``.
        trainable_params: the parameters the optimizer steps (for gradient clipping).
        schedule: sets the lr of every param group per epoch/iteration.
        scaler: the AMP grad scaler (disabled outside fp16 on CUDA).
        clipper: clips gradients in place (``optim_wrapper.clip_grad``), or None.
        accumulate: iterations whose gradients are summed per optimizer step.
        checkpointer: the checkpoint table and when files are written and uploaded.
        visualizer: scalars to the vis backends (JSON lines, TensorBoard); rank 0 only.
        show: ``--show-dir``/``--show`` pictures of validation predictions.
        state: epoch/iteration counters; the loop advances them.
        stop: SIGINT/SIGTERM received (ranks agree).
        max_epochs: ``train_cfg.max_epochs``.
        log_interval: iterations between log lines (``default_hooks.logger.interval``).
        val_report: validation pictures and tables for the tracker (``tracking.num_step_images``...).
        on_validate: called with ``(epoch, step, metrics)`` after each validation on rank 0
            (a sweep's pruning); raises to stop training.
        ema: the moving average of the weights (``custom_hooks`` ``EMAHook``), or None; when
            set, it is what is validated and saved as the checkpoint's ``model``.
        pipeline_switch: the second training pipeline from an epoch (``PipelineSwitchHook``),
            or None.
    """

    ctx: RunContext
    model: nn.Module
    ddp_model: nn.Module
    train_loader: DataLoader
    train_sampler: EpochSampler
    batch_size: int
    val_loader: DataLoader | None
    val_evaluator: Evaluator | None
    val_epochs: frozenset[int]
    optimizer: torch.optim.Optimizer
    trainable_params: list[torch.Tensor]
    schedule: LRSchedule
    scaler: torch.amp.GradScaler
    clipper: Callable[[list], object] | None
    accumulate: int
    checkpointer: Checkpointer
    visualizer: Visualizer
    show: PredictionShow
    state: TrainState
    stop: StopSignal
    max_epochs: int
    log_interval: int
    on_validate: Callable[[int, int, dict], None]
    val_report: ValidationReport
    ema: ModelEMA | None = None
    pipeline_switch: PipelineSwitch | None = None

    @property
    def eval_model(self) -> nn.Module:
        """The weights validation runs (and checkpoints keep): the average under EMA."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def iters_per_epoch(self) -> int:
        return iters_per_epoch(self.train_loader)
