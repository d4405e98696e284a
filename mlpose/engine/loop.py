"""The training loop, readable top to bottom, and the evaluation loop.

Everything they use is an argument: the parts of the run (:class:`~mlpose.engine.parts.TrainParts`,
built by :func:`mlpose.engine.build.build_train_parts`) and the tracker (MLflow on rank 0, a
no-op elsewhere). Scalars stay on the device between log lines (every ``log_interval`` iterations of an
epoch, as MMEngine counts them, and at its end): the only host syncs in an
iteration are at those lines.
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.data import DataLoader

from mlpose.engine.context import RunContext
from mlpose.engine.logger import format_log_line, log_skipped_images, memory_mb
from mlpose.engine.parts import TrainParts
from mlpose.evaluation import Evaluator
from mlpose.runtime.dist import broadcast_buffers, is_main
from mlpose.runtime.progress import progress_bar
from mlpose.tracking.val_report import ValidationReport
from mlpose.visualization import PredictionShow

if TYPE_CHECKING:  # only for the hints: ranks other than 0 never import MLflow
    from mlpose.tracking import Tracker


class Interrupted(KeyboardInterrupt):
    """Raised after a SIGINT/SIGTERM once the current step is done and a checkpoint is written."""


def fit(p: TrainParts, tracker: Tracker) -> dict:
    """Train ``p.model`` from ``p.state`` to ``p.max_epochs``; returns the last validation metrics."""
    ctx, state, device = p.ctx, p.state, p.ctx.device
    iters_per_epoch = p.iters_per_epoch
    max_iters = p.max_epochs * iters_per_epoch
    names, sums, count = None, None, 0  # the head's loss terms, their sums since the last log line, how many
    if state.log_window:  # a stop signal came mid-window: the resumed log line averages the same iterations
        names, count = tuple(state.log_window["names"]), state.log_window["count"]
        sums = torch.tensor(state.log_window["sums"], device=device)
        state.log_window = None
    timed, data_wait, metrics, iter0 = 0, 0.0, {}, state.iteration
    t_start = t_window = time.perf_counter()

    for epoch in range(state.epoch, p.max_epochs):
        if p.pipeline_switch is not None and p.pipeline_switch.apply(epoch):  # mmdet's PipelineSwitchHook
            ctx.logger.info(f"train pipeline: custom_hooks' switch_pipeline from epoch {epoch + 1}")
            if epoch == p.pipeline_switch.switch_epoch:  # the event itself (not a resume past it)
                tracker.log_metrics({"train/pipeline_stage": 2}, state.iteration)
                tracker.set_tags({"mlpose.pipeline_switch_epoch": epoch + 1})
        p.train_sampler.set_epoch(epoch, start=state.epoch_iter * p.batch_size)
        p.model.train()
        t_data = time.perf_counter()
        for batch in p.train_loader:
            data_wait += time.perf_counter() - t_data
            lrs = p.schedule.apply(p.optimizer, epoch, state.iteration)  # dict(base_lr, lr)
            inputs = batch["inputs"].to(device, non_blocking=True)
            targets = {k: v.to(device, non_blocking=True) for k, v in batch["targets"].items()}  # the codec's

            # forward/backward; with gradient accumulation only the last micro-step syncs DDP grads
            stepping = (state.iteration + 1) % p.accumulate == 0
            sync = contextlib.nullcontext() if stepping or not hasattr(p.ddp_model, "no_sync") else p.ddp_model.no_sync()
            with sync:
                with ctx.autocast():
                    outputs = p.ddp_model(inputs)
                    losses = p.model.loss_from_outputs(outputs, targets)
                p.scaler.scale(losses["loss"] / p.accumulate).backward()
            if stepping:
                if p.clipper is not None:
                    p.scaler.unscale_(p.optimizer)  # clip true gradients, not scaled ones
                    p.clipper(p.trainable_params)
                p.scaler.step(p.optimizer)
                p.scaler.update()
                p.optimizer.zero_grad(set_to_none=True)
            if p.ema is not None:  # MMEngine's EMAHook: after every iteration
                p.ema.update(p.model, epoch, state.iteration)

            if names is None:
                names = tuple(losses)  # loss, then the head's terms (loss_kpt, acc_pose, ...)
                sums = torch.zeros(len(names), device=device)
            sums += torch.stack([losses[k].detach().float() for k in names])
            count += 1
            timed += 1
            state.iteration += 1
            state.epoch_iter += 1

            if state.epoch_iter % p.log_interval == 0 or state.epoch_iter == iters_per_epoch:  # MMEngine: inner iterations
                means = dict(zip(names, (sums / count).tolist()))  # the one host sync
                if not math.isfinite(means["loss"]):
                    raise FloatingPointError(f"training loss is {means['loss']} at iteration {state.iteration} "
                                             f"(epoch {epoch + 1}); lower the learning rate or enable clip_grad")
                now = time.perf_counter()
                step_time, data_time = (now - t_window) / timed, data_wait / timed  # window averages
                eta = (now - t_start) / (state.iteration - iter0) * (max_iters - state.iteration)
                memory = memory_mb(device)
                sums.zero_()
                count, timed, data_wait, t_window = 0, 0, 0.0, now
                ctx.logger.info(format_log_line(
                    "train", epoch + 1, state.epoch_iter, iters_per_epoch, base_lr=lrs["base_lr"], lr=lrs["lr"],
                    eta=eta, time=step_time, data_time=data_time, memory=memory, scalars=means))
                scalars = {**lrs, "data_time": data_time, "time": step_time, "memory": memory, **means, "epoch": epoch + 1}
                p.visualizer.add_scalars(scalars, state.iteration)
                tracker.log_metrics(scalars, state.iteration)
            if p.stop.requested(state.iteration):
                if count:
                    state.log_window = {"names": list(names), "sums": sums.tolist(), "count": count}
                p.checkpointer.save_interrupted(state.iteration, tracker)
                raise Interrupted(f"stopped by signal at epoch {epoch + 1}, iteration {state.iteration}")
            t_data = time.perf_counter()

        # end of epoch: validate, choose the best, save
        state.epoch, state.epoch_iter = epoch + 1, 0
        metrics = {}
        log_skipped_images(p.train_loader, ctx, tracker, state.iteration)  # data_cfg.skip_bad_images
        if state.epoch in p.val_epochs:
            broadcast_buffers(p.eval_model)  # every rank validates with rank 0's BatchNorm statistics (the saved ones)
            metrics = evaluate(p.eval_model, p.val_loader, p.val_evaluator, ctx, p.show, tracker,
                               desc=f"val epoch {state.epoch}", report=p.val_report)
            ctx.logger.info(f"Epoch(val) [{state.epoch}] " + "  ".join(f"{k}: {v:.4f}" for k, v in metrics.items()))
            p.visualizer.add_scalars(metrics, state.iteration)
            tracker.log_metrics(metrics, state.iteration)
            p.val_report.log(tracker, state.iteration)  # gathers on rank 0; pictures drawn on the upload thread
            p.on_validate(state.epoch, state.iteration, metrics)
        p.checkpointer.save_epoch(state.epoch, metrics, p.max_epochs, tracker)
        t_window = time.perf_counter()  # validation and saving are not iteration time
    return metrics


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, evaluator: Evaluator, ctx: RunContext, show: PredictionShow,
             tracker: Tracker, desc: str = "test", dump: list | None = None,
             report: ValidationReport | None = None) -> dict:
    """Predict every sample of ``loader`` (this rank's share), then gather and compute metrics.

    Args:
        show: draws ``--show-dir``/``--show`` pictures of the predictions (a no-op when off).
        dump: when a list, every prediction dict of this rank is appended to it.
        report: when given, records every prediction for the validation pictures and tables.
    Returns:
        ``{metric_name: value}``, identical on every rank.
    """
    model.eval()
    loader.sampler.set_epoch(0)
    with progress_bar(len(loader), desc, enabled=is_main()) as advance:
        for i, batch in enumerate(loader):
            with ctx.autocast():
                preds = model.predict(batch["inputs"].to(ctx.device, non_blocking=True), batch["meta"])
            evaluator.process(preds)
            if dump is not None:
                dump.extend(preds)
            show(batch["meta"], preds, i, tracker)
            if report is not None:
                report.process(batch["meta"], preds)
            advance()
    return evaluator.compute()
