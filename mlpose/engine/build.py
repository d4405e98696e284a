"""Builders: the model, loaders and evaluators of a job, and :func:`build_train_parts`, which
makes every part of a training run once from the config and the options."""
from __future__ import annotations

import time
from typing import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from mlpose.config import config_text
from mlpose.datasets import pose_collate
from mlpose.datasets.loader import build_dataloader, iters_per_epoch
from mlpose.engine.checkpoint import CheckpointManager
from mlpose.engine.checkpointer import Checkpointer, ModelState, OptimizerState, RngState, load_weights
from mlpose.engine.context import RunContext, snapshot_env
from mlpose.engine.ema import EmaState, EmaWeights, ModelEMA
from mlpose.engine.optim import auto_scale_lr, build_optimizer, make_grad_clipper, parse_optim_wrapper
from mlpose.engine.options import RunOptions, TrainOptions
from mlpose.engine.parts import SamplerPosition, TrainParts, TrainState
from mlpose.engine.pipeline_switch import PipelineSwitch
from mlpose.engine.scheduler import LRSchedule
from mlpose.engine.signals import StopSignal
from mlpose.errors import ConfigError
from mlpose.evaluation import Evaluator, build_evaluator
from mlpose.registry import MODELS, build, check_args
from mlpose.runtime import dist
from mlpose.tracking.val_report import ValidationReport, report_options
from mlpose.visualization import PredictionShow, build_visualizer


def build_model(ctx: RunContext, compile: bool = False) -> tuple[nn.Module, nn.Module]:
    """``(model, ddp_model)``: the config's model on the device (channels-last where it is
    faster, SyncBatchNorm with ``sync_bn``), and what the training forward calls: the same
    model in DDP when world_size > 1 (``find_unused_parameters`` as the config says), compiled by ``torch.compile`` when ``compile`` and
    ``env_cfg.compile`` ask for it (the plain ``model`` is what is saved and validated)."""
    model = build(ctx.cfg.model, MODELS, "model").to(ctx.device)
    if ctx.channels_last():
        model = model.to(memory_format=torch.channels_last)
    if ctx.cfg.get("sync_bn") and ctx.world_size > 1:
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    ddp_model = model
    if ctx.world_size > 1:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=ids, find_unused_parameters=bool(ctx.cfg.get("find_unused_parameters", False)))
    options = ctx.compile_options() if compile else None
    if options is not None:
        ddp_model = torch.compile(ddp_model, **options)  # around DDP, as torch advises
    return model, ddp_model


def build_loader(ctx: RunContext, split: str, train: bool) -> DataLoader:
    """``<split>_dataloader``: this rank's share, seeded per (seed, epoch, index)."""
    key = f"{split}_dataloader"
    if not ctx.cfg.get(key):
        raise ConfigError(f"{ctx.cfg.filename}: {key} is not set; it is needed to {'train' if train else 'evaluate'}")
    skip = bool((ctx.cfg.get("data_cfg") or {}).get("skip_bad_images")) and train
    loader = build_dataloader(ctx.cfg[key], key, seed=ctx.seed, rank=ctx.rank, world_size=ctx.world_size,
                              train=train, collate_fn=pose_collate, device_type=ctx.device.type, skip_bad_images=skip)
    if len(loader.dataset) == 0:  # else: an empty FINISHED run with no metrics and no best checkpoint
        source = getattr(loader.dataset.dataset, "ann_file", None) or f"{key}.dataset"
        raise ConfigError(f"{source}: {key} has no people (no non-crowd instance with labelled keypoints and "
                          "a box); check the annotation file or the dataset's indices/filter_cfg")
    return loader


def build_split_evaluator(ctx: RunContext, split: str, loader: DataLoader) -> Evaluator:
    """``<split>_evaluator`` with the loader's dataset meta information."""
    key = f"{split}_evaluator"
    if not ctx.cfg.get(key):
        raise ConfigError(f"{ctx.cfg.filename}: {key} is not set")
    return build_evaluator(ctx.cfg[key], loader.dataset.dataset.metainfo)


def build_show(ctx: RunContext, opts: RunOptions, loader: DataLoader | None) -> PredictionShow:
    """``--show-dir`` (relative to the run's log folder), ``--show`` (fails now without a display)."""
    metainfo = loader.dataset.dataset.metainfo if loader is not None else {}
    return PredictionShow(ctx.log_dir / opts.show_dir if opts.show_dir else None, opts.show, opts.interval,
                          opts.wait_time, skeleton=metainfo.get("skeleton", ()))


def build_train_parts(ctx: RunContext, opts: TrainOptions) -> TrainParts:
    """Every part of a training run, from ``ctx.cfg`` and ``opts``; nothing is restored yet
    (see :func:`restore_or_init`)."""
    cfg = ctx.cfg
    model, ddp_model = build_model(ctx, compile=True)
    train_loader = build_loader(ctx, "train", train=True)
    sampler, batch_size = train_loader.sampler, train_loader.batch_size
    epoch_iters = iters_per_epoch(train_loader)
    if epoch_iters == 0:  # drop_last with fewer samples than one batch
        raise ConfigError(f"train_dataloader: {sampler.num_samples} samples per process is fewer than "
                          f"batch_size={batch_size} with drop_last=True; use a smaller batch, more data or "
                          f"drop_last=False")
    validate = not opts.no_validate and bool(cfg.get("val_dataloader")) and bool(cfg.get("val_evaluator"))
    val_loader = build_loader(ctx, "val", train=False) if validate else None
    val_evaluator = build_split_evaluator(ctx, "val", val_loader) if validate else None
    show = build_show(ctx, opts, val_loader)

    spec = parse_optim_wrapper(cfg.optim_wrapper)
    if opts.auto_scale_lr or (cfg.get("auto_scale_lr") or {}).get("enable"):  # the flag or MMEngine's key
        _auto_scale_lr(ctx, batch_size)
    optimizer = build_optimizer(model, cfg.optim_wrapper)
    schedule = LRSchedule(cfg.get("param_scheduler"), epoch_iters)
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=ctx.amp and ctx.device.type == "cuda")
    state = TrainState()
    ema, switch = _custom_hooks(cfg.get("custom_hooks") or [], model, train_loader)
    hook = dict((cfg.get("default_hooks") or {}).get("checkpoint") or {})
    manager = CheckpointManager(ctx.work_dir, interval=hook.get("interval", 1),
                                max_keep_ckpts=hook.get("max_keep_ckpts", -1), save_best=hook.get("save_best"),
                                rule=hook.get("rule"), save_last=hook.get("save_last", True))
    weights = ModelState(model)
    # the weights under MMEngine's key, so MMPose loads the file; under EMA they are the average (what is
    # evaluated and used) and the ema entry holds the raw ones
    models = {"state_dict": weights} if ema is None else {"state_dict": EmaWeights(ema, weights),
                                                          "ema": EmaState(weights, ema)}
    table = {**models, "optimizer": OptimizerState(optimizer), "scheduler": schedule, "scaler": scaler,
             "state": state, "sampler": SamplerPosition(sampler, state, batch_size), "checkpoints": manager,
             "rng": RngState()}  # RNG last: restoring the others draws nothing after it
    upload = (cfg.get("tracking") or {}).get("log_checkpoints") or "best_last"
    max_epochs = cfg.train_cfg.max_epochs
    tracking = dict(cfg.get("tracking") or {})
    report = ValidationReport(val_evaluator, **report_options(tracking), enabled=tracking.get("enabled", True))
    on_validate = opts.on_validate if opts.on_validate is not None and dist.is_main() else _ignore
    return TrainParts(
        ctx=ctx, model=model, ddp_model=ddp_model, train_loader=train_loader, train_sampler=sampler,
        batch_size=batch_size, val_loader=val_loader, val_evaluator=val_evaluator,
        val_epochs=_val_epochs(cfg.train_cfg, validate), optimizer=optimizer,
        trainable_params=[p for g in optimizer.param_groups for p in g["params"]], schedule=schedule,
        scaler=scaler, clipper=make_grad_clipper(spec.clip_grad), accumulate=spec.accumulative_counts,
        checkpointer=Checkpointer(table, manager, lambda run_id: _describe(ctx, run_id), upload),
        visualizer=build_visualizer(cfg.get("visualizer"), ctx.log_dir / "vis_data"), show=show, state=state,
        stop=StopSignal(ctx.world_size, ctx.device, ctx.logger), max_epochs=max_epochs,
        log_interval=cfg.default_hooks.logger.get("interval", 50), on_validate=on_validate,
        val_report=report, ema=ema, pipeline_switch=switch)


def _custom_hooks(hooks: list, model: nn.Module, loader: DataLoader) -> tuple[ModelEMA | None, PipelineSwitch | None]:
    """The training parts of MMEngine's ``custom_hooks`` that change training: ``EMAHook`` and
    (mmdet's) ``PipelineSwitchHook``; the config check at load answered the other types."""
    ema = switch = None
    for i, hook in enumerate(hooks):
        kind, args, path = str(hook.get("type")).rpartition(".")[2], dict(hook), f"custom_hooks.{i}"
        args.pop("type")
        if kind == "EMAHook":
            check_args(ModelEMA, {"model": model, **args}, path)
            ema = ModelEMA(model, **args)
        elif kind == "PipelineSwitchHook":
            args.pop("priority", None)
            check_args(PipelineSwitch, {"loader": loader, **args}, path)
            switch = PipelineSwitch(loader, **args, path=path)
    return ema, switch


def restore_or_init(parts: TrainParts, resume: str | None, resolve: Callable[[str], str] = str) -> str | None:
    """MMEngine's semantics: ``--resume [PATH]`` (or ``resume=True`` with ``load_from``) restores
    the whole checkpoint table; otherwise the model is initialised and ``load_from`` loads weights
    only. Returns what was resumed from (None for a fresh start).

    Args:
        resume: ``--resume``: None, ``'auto'`` (latest in the work dir) or a checkpoint reference.
        resolve: turns a checkpoint path/URL/MLflow URI into a local file path.
    """
    cfg, logger, checkpointer = parts.ctx.cfg, parts.ctx.logger, parts.checkpointer
    load_from = cfg.get("load_from")
    if resume is None and cfg.get("resume"):
        resume = load_from or "auto"
    if resume == "auto":
        resume = checkpointer.manager.latest()
        if resume is None:
            logger.info(f"--resume: no checkpoint in {parts.ctx.work_dir}, starting from scratch")
    if resume:
        checkpointer.restore(resolve(resume))
        if parts.state.epoch >= parts.max_epochs:  # else an empty run that looks like a success
            raise ConfigError(f"{resume}: nothing to train: the checkpoint is at epoch {parts.state.epoch} and "
                              f"train_cfg.max_epochs={parts.max_epochs}; set --cfg-options "
                              f"train_cfg.max_epochs={parts.state.epoch + 1} (or more) to train on")
        logger.info(f"resumed from {resume}: epoch {parts.state.epoch}, iteration {parts.state.iteration}")
        return resume
    if hasattr(parts.model, "init_weights"):
        parts.model.init_weights()  # fresh run: initialisation and init_cfg pretrained weights
    if load_from:
        load_weights(parts.model, resolve(load_from))
        logger.info(f"load_from: weights from {load_from}, training from scratch")
    if parts.ema is not None:
        parts.ema.copy_from(parts.model)  # the average starts from the weights training starts from
    return None


def _auto_scale_lr(ctx: RunContext, batch_size: int) -> None:
    cfg = ctx.cfg
    base = (cfg.get("auto_scale_lr") or {}).get("base_batch_size")
    if not base:
        raise ConfigError(f"{cfg.filename}: --auto-scale-lr needs auto_scale_lr.base_batch_size in the config")
    cfg.optim_wrapper.optimizer = auto_scale_lr(cfg.optim_wrapper.optimizer, base, ctx.world_size * batch_size)
    ctx.logger.info(f"auto-scale-lr: lr = {cfg.optim_wrapper.optimizer.lr:g} "
                    f"(batch {ctx.world_size}x{batch_size} vs base {base})")


def _val_epochs(train_cfg, validate: bool) -> frozenset[int]:
    """Epochs (1-based) ending in validation: from ``val_begin`` every ``val_interval``, and the last."""
    if not validate:
        return frozenset()
    last, interval, begin = train_cfg.max_epochs, train_cfg.get("val_interval", 1), train_cfg.get("val_begin", 1)
    return frozenset(e for e in range(max(begin, 1), last + 1) if e % interval == 0 or e == last)


def _describe(ctx: RunContext, run_id: str | None) -> dict:
    """The ``config`` and ``meta`` entries of a checkpoint file."""
    from mlpose.tracking.redact import redact  # here: ranks that never save need no mlflow import

    # Redacted: checkpoints are uploaded to MLflow and shared; credentials must not travel.
    return {"config": config_text(redact(ctx.cfg.to_dict())),
            "meta": {**snapshot_env(), "config_name": ctx.cfg.name, "seed": ctx.seed, "time": time.time(),
                     "precision": ctx.precision, "world_size": ctx.world_size, "run_id": run_id}}


def _ignore(epoch: int, step: int, metrics: dict) -> None:
    """The ``on_validate`` of runs without a callback (and of ranks other than 0)."""
