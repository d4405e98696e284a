"""The training loop, readable top to bottom, and the evaluation loop.

Everything it needs (model, optimiser, loaders, checkpoint manager, tracker...) is built by
:mod:`mlpose.engine.session`; this file only runs it. Scalars stay on the device between log
intervals: the only host syncs in an iteration are at ``log_interval`` boundaries.
"""
from __future__ import annotations

import contextlib
import math
import time

import torch

from mlpose.engine import dist
from mlpose.engine.logger import format_log_line, memory_mb
from mlpose.engine.progress import progress_bar

SCALARS = ("loss", "loss_kpt", "acc_pose")


class Interrupted(KeyboardInterrupt):
    """Raised after a SIGINT/SIGTERM once the current step is done and a checkpoint is written."""


def fit(s) -> dict:
    """Train ``s.model`` from ``s.state`` to ``train_cfg.max_epochs``; returns the last val metrics.

    ``s`` is a :class:`mlpose.engine.session.Session`.
    """
    cfg, state, device = s.cfg, s.state, s.device
    max_epochs = cfg.train_cfg.max_epochs
    iters_per_epoch = s.train_sampler.num_samples // s.batch_size
    max_iters = max_epochs * iters_per_epoch
    log_interval = cfg.default_hooks.logger.get("interval", 50)
    sums = torch.zeros(len(SCALARS), device=device)  # running sums since the last log line
    count, data_wait, metrics, iter0 = 0, 0.0, {}, state.iteration
    t_start = t_window = time.perf_counter()

    for epoch in range(state.epoch, max_epochs):
        s.train_sampler.set_epoch(epoch, start=state.epoch_iter * s.batch_size)
        s.model.train()
        t_data = time.perf_counter()
        for batch in s.train_loader:
            data_wait += time.perf_counter() - t_data
            lrs = s.schedule.apply(s.optimizer, epoch, state.iteration)  # dict(base_lr, lr)
            inputs = batch["inputs"].to(device, non_blocking=True)
            target = batch["heatmaps"].to(device, non_blocking=True)
            weights = batch["keypoint_weights"].to(device, non_blocking=True)

            # forward/backward; with gradient accumulation only the last micro-step syncs DDP grads
            stepping = (state.iteration + 1) % s.accumulate == 0
            sync = contextlib.nullcontext() if stepping or not hasattr(s.ddp_model, "no_sync") else s.ddp_model.no_sync()
            with sync:
                with s.autocast():
                    pred = s.ddp_model(inputs)
                    losses = s.model.loss_from_heatmaps(pred, target, weights)
                s.scaler.scale(losses["loss"] / s.accumulate).backward()
            if stepping:
                if s.clip is not None:
                    s.scaler.unscale_(s.optimizer)  # clip true gradients, not scaled ones
                    s.clip(s.trainable_params)
                s.scaler.step(s.optimizer)
                s.scaler.update()
                s.optimizer.zero_grad(set_to_none=True)

            sums += torch.stack([losses[k].detach().float() for k in SCALARS])
            count += 1
            state.iteration += 1
            state.epoch_iter += 1

            if state.iteration % log_interval == 0 or state.epoch_iter == iters_per_epoch:
                means = dict(zip(SCALARS, (sums / count).tolist()))  # the one host sync
                if not math.isfinite(means["loss"]):
                    raise FloatingPointError(f"training loss is {means['loss']} at iteration {state.iteration} "
                                             f"(epoch {epoch + 1}); lower the learning rate or enable clip_grad")
                now = time.perf_counter()
                step_time, data_time = (now - t_window) / count, data_wait / count  # window averages
                eta = (now - t_start) / (state.iteration - iter0) * (max_iters - state.iteration)
                scalars = {**lrs, "data_time": data_time, "time": step_time, "memory": memory_mb(device), **means}
                sums.zero_()
                count, data_wait, t_window = 0, 0.0, now
                if dist.is_main():
                    s.logger.info(format_log_line(
                        "train", epoch + 1, state.epoch_iter, iters_per_epoch, base_lr=lrs["base_lr"], lr=lrs["lr"],
                        eta=eta, time=step_time, data_time=data_time, memory=scalars["memory"], scalars=means))
                    s.record({**scalars, "epoch": epoch + 1}, state.iteration)
            if s.stop_requested(state.iteration):
                s.save_checkpoint(epoch=epoch, interrupted=True)
                raise Interrupted(f"stopped by signal at epoch {epoch + 1}, iteration {state.iteration}")
            t_data = time.perf_counter()

        # end of epoch: validate, choose the best, save
        state.epoch, state.epoch_iter = epoch + 1, 0
        if s.should_validate(state.epoch):
            s.sync_buffers()  # every rank validates with rank 0's BatchNorm statistics (the saved ones)
            metrics = evaluate(s.model, s.val_loader, s.val_evaluator, s, desc=f"val epoch {state.epoch}")
            if dist.is_main():
                s.logger.info(f"Epoch(val) [{state.epoch}] " + "  ".join(f"{k}: {v:.4f}" for k, v in metrics.items()))
                s.record(metrics, state.iteration)
            s.on_validate(state.epoch, state.iteration, metrics)
        s.save_checkpoint(epoch=state.epoch, metrics=metrics)
        t_window = time.perf_counter()  # validation and saving are not iteration time
    return metrics


@torch.no_grad()
def evaluate(model, loader, evaluator, s, desc: str = "test", dump: list | None = None) -> dict:
    """Predict every sample of ``loader`` (this rank's share), then gather and compute metrics.

    Args:
        dump: when a list, every prediction dict of this rank is appended to it.
    Returns:
        ``{metric_name: value}``, identical on every rank.
    """
    model.eval()
    loader.sampler.set_epoch(0)
    with progress_bar(len(loader), desc, enabled=dist.is_main()) as advance:
        for i, batch in enumerate(loader):
            with s.autocast():
                preds = model.predict(batch["inputs"].to(s.device, non_blocking=True), batch["meta"])
            evaluator.process(preds)
            if dump is not None:
                dump.extend(preds)
            s.visualize(batch["meta"], preds, i)
            advance()
    return evaluator.compute()
