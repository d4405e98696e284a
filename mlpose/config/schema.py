"""The config schema: which keys known sections accept, their types, and which registry
each component (``dict(type=...)``) is looked up in. Checked once, at load time.

Top-level names that are not sections below are free variables (``data_root``, ``codec``,
``train_pipeline``...), as in MMPose configs; inside a known section an unknown key is an
error naming the closest known ones.

MMEngine's runtime keys, which MMPose's files carry, each have a deliberate answer
(:mod:`mlpose.config.mmengine_keys` checks them): implemented; ignored with one logged line where
they mean nothing here (:data:`IGNORED`); or refused at load with one line saying what to do
(:data:`REFUSED_KEYS`, :data:`CUSTOM_HOOKS`, the hook and loop type tables).
"""
from __future__ import annotations

from typing import Any

NoneType = type(None)
NUM = (int, float)

#: section -> {key: allowed types}; ``...`` means any value.
SECTIONS: dict[str, dict[str, Any]] = {
    "train_cfg": {"by_epoch": bool, "max_epochs": int, "val_interval": int, "val_begin": int, "type": str,
                  "dynamic_intervals": (list, NoneType)},
    "val_cfg": {"type": str},
    "test_cfg": {"type": str},
    "randomness": {"seed": (int, NoneType), "diff_rank_seed": bool, "deterministic": bool},
    "auto_scale_lr": {"base_batch_size": int, "enable": bool},
    "optim_wrapper": {
        "type": str, "optimizer": dict, "paramwise_cfg": dict, "clip_grad": (dict, NoneType),
        "accumulative_counts": int, "loss_scale": (str, NUM, dict), "dtype": (str, NoneType),
        "constructor": str,
    },
    # None switches a hook off in MMEngine; mlpose's loop does these jobs itself either way
    "default_hooks": {
        "timer": (dict, NoneType), "logger": (dict, NoneType), "param_scheduler": (dict, NoneType),
        "checkpoint": (dict, NoneType), "sampler_seed": (dict, NoneType), "visualization": (dict, NoneType),
        "badcase": (dict, NoneType),
    },
    "tracking": {
        "enabled": bool, "uri": (str, NoneType), "experiment": (str, NoneType), "register_model": (str, NoneType),
        "log_checkpoints": str, "log_model": (bool, str), "run_name": (str, NoneType),
        "system_metrics": bool, "system_metrics_interval": NUM,
        "num_step_images": int, "num_failure_images": int, "log_breakdown": bool,
        "flush_timeout": NUM,
    },
    "custom_imports": {"imports": (list, str), "allow_failed_imports": bool},
    "env_cfg": {"cudnn_benchmark": bool, "mp_cfg": dict, "dist_cfg": dict, "channels_last": (bool, NoneType),
                "compile": (bool, dict), "resource_limit": int},
    "visualizer": {"type": str, "vis_backends": list, "name": str, "radius": NUM, "line_width": NUM,
                   "alpha": NUM, "kpt_thr": NUM, "save_dir": (str, NoneType)},
    "log_processor": {"type": str, "window_size": int, "by_epoch": bool, "num_digits": int},
    "data_cfg": {"skip_bad_images": bool},
    "sweep": {
        "metric": str, "direction": str, "params": dict, "sampler": (str, dict), "pruner": (str, dict, NoneType),
        "n_trials": int, "storage": (str, NoneType), "study_name": (str, NoneType), "max_epochs": (int, NoneType),
        "heartbeat_interval": int, "grace_period": int, "timeout": (NUM, NoneType),
    },
}

#: hook sub-dicts: key -> types (``type`` always allowed).
HOOKS: dict[str, dict[str, Any]] = {
    "timer": {}, "param_scheduler": {}, "sampler_seed": {},
    "checkpoint": {"interval": int, "save_best": (str, list, NoneType), "rule": (str, NoneType),
                   "max_keep_ckpts": int, "save_last": bool, "by_epoch": bool, "out_dir": (str, NoneType)},
    "logger": {"interval": int, "ignore_last": bool},
    "visualization": {"enable": bool, "interval": int, "kpt_thr": NUM, "show": bool, "wait_time": NUM,
                      "out_dir": (str, NoneType)},
    "badcase": {"enable": bool, "out_dir": str, "metric_type": str, "badcase_thr": NUM},
}

#: default_hooks entry -> the hook type it must name (MMEngine's / MMPose's class; the loop does its job)
DEFAULT_HOOK_TYPES: dict[str, str] = {
    "timer": "IterTimerHook", "logger": "LoggerHook", "param_scheduler": "ParamSchedulerHook",
    "checkpoint": "CheckpointHook", "sampler_seed": "DistSamplerSeedHook",
    "visualization": "PoseVisualizationHook", "badcase": "BadCaseAnalysisHook",
}
#: checkpoint hook keys whose other values mean something mlpose does not do -> what to do instead
CHECKPOINT_ONLY: dict[str, tuple[Any, str]] = {
    "by_epoch": (True, "mlpose saves checkpoints at the end of epochs; remove it"),
    "out_dir": (None, "checkpoints are written to the work dir; remove it and use --work-dir"),
}

#: env_cfg sub-dicts: key -> types
ENV_SUBSECTIONS: dict[str, dict[str, Any]] = {
    "mp_cfg": {"mp_start_method": str, "opencv_num_threads": int},
    "dist_cfg": {"backend": str},
}
DIST_BACKENDS = ("nccl", "gloo", "mpi", "ucc")  # torch.distributed's; nccl falls back to gloo without CUDA
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: ``default_scope`` values whose unscoped type names mean mlpose's (= MMPose's) components
DEFAULT_SCOPES = (None, "mlpose", "mmpose")
#: ``*_cfg.type`` -> the loop types that mean what mlpose's loops do
LOOP_TYPES: dict[str, tuple[str, ...]] = {
    "train_cfg": ("EpochBasedTrainLoop",), "val_cfg": ("ValLoop",), "test_cfg": ("TestLoop",),
}
LOG_PROCESSORS = ("LogProcessor",)

RUN, IGNORE, REFUSE = "implemented", "ignored", "refused"
_AS_DEFAULT = "a default hook: set it in default_hooks, not custom_hooks"
_MLFLOW_IMAGES = "MLflow step images replace it (tracking.num_step_images; --show-dir for files)"
_RANK0_BUFFERS = ("every rank trains, validates and saves rank 0's BatchNorm buffers (DDP broadcasts them each "
                  "step and before validation)")

#: ``custom_hooks`` types (an OpenMMLab scope is dropped: ``mmdet.PipelineSwitchHook`` is
#: ``PipelineSwitchHook``) -> (RUN | IGNORE | REFUSE, why / what to do). RUN: the engine implements
#: it. A type missing here is refused as unknown. The one table of custom hooks: a hook the engine
#: comes to implement changes its entry to RUN.
CUSTOM_HOOKS: dict[str, tuple[str, str]] = {
    "SyncBuffersHook": (IGNORE, _RANK0_BUFFERS),
    "SyncNormHook": (IGNORE, _RANK0_BUFFERS),
    "EmptyCacheHook": (IGNORE, "emptying the CUDA cache changes no result"),
    "RuntimeInfoHook": (IGNORE, "the log line and MLflow carry the run's state"),
    "PoseVisualizationHook": (IGNORE, _MLFLOW_IMAGES),
    "NaiveVisualizationHook": (IGNORE, _MLFLOW_IMAGES),
    "DetVisualizationHook": (IGNORE, _MLFLOW_IMAGES),
    "BadCaseAnalysisHook": (IGNORE, "MLflow's failure gallery replaces it (tracking.num_failure_images)"),
    "CheckInvalidLossHook": (IGNORE, "mlpose stops at the first log line whose loss is not finite"),
    "NumClassCheckHook": (IGNORE, "pose models have no class count to check"),
    "EMAHook": (RUN, "engine/ema.py: validation and the saved model use the averaged weights"),
    "PipelineSwitchHook": (RUN, "engine/pipeline_switch.py: the stage-2 pipeline from switch_epoch on"),
    "EarlyStoppingHook": (REFUSE, "not implemented; set train_cfg.max_epochs (save_best keeps the best checkpoint)"),
    "ProfilerHook": (REFUSE, "not implemented; profile `mlpose train` with torch.profiler or py-spy"),
    "MemoryProfilerHook": (REFUSE, "not implemented; watch memory in the log line and MLflow's system metrics"),
    "PrepareTTAHook": (REFUSE, "test-time augmentation is not implemented (flip test: model.test_cfg.flip_test)"),
    "MeanTeacherHook": (REFUSE, "semi-supervised training is not implemented"),
    "SetEpochInfoHook": (REFUSE, "not implemented: no mlpose model reads the epoch"),
    "YOLOXPoseModeSwitchHook": (REFUSE, "a hook of a bottom-up model; mlpose trains top-down models only"),
    "RTMOModeSwitchHook": (REFUSE, "a hook of a bottom-up model; mlpose trains top-down models only"),
    "YOLOXModeSwitchHook": (REFUSE, "a hook of a detector; mlpose trains top-down pose models only"),
    **{name: (REFUSE, _AS_DEFAULT) for name in ("IterTimerHook", "LoggerHook", "ParamSchedulerHook",
                                               "CheckpointHook", "DistSamplerSeedHook")},
}

#: top-level keys MMEngine's runner reads that mlpose does not: what to do instead
REFUSED_KEYS: dict[str, str] = {
    "model_wrapper_cfg": "mlpose wraps the model in torch's DistributedDataParallel itself; remove it "
                         "(find_unused_parameters=True is a top-level key)",
    "compile": "set env_cfg.compile=True (or a dict of torch.compile arguments) instead",
    "activation_checkpointing": "activation checkpointing is not implemented; remove it",
    "efficient_conv_bn_eval": "not implemented; remove it",
}


class Same:
    """A neutral value of :data:`IGNORED`: equal to the value at another key path."""

    def __init__(self, path: str, default: Any):
        self.path, self.default = path, default


#: keys that mean nothing here -> (the value that matches what mlpose does anyway, why it is
#: ignored). Another value is logged once (one line), never an error.
IGNORED: dict[str, tuple[Any, str]] = {
    "launcher": ("none", "the launcher is --launcher (MMPose's tools/train.py overrides it the same way)"),
    "experiment_name": (None, "MLflow names the run: set tracking.run_name or tracking.experiment"),
    "fp16": (None, "MMPose 0.x's key, which MMEngine ignores too; mixed precision is --amp or "
                   "optim_wrapper.type='AmpOptimWrapper'"),
    "env_cfg.mp_cfg.mp_start_method": ("fork", "mlpose forks its loader workers, which share the dataset's arrays"),
    "env_cfg.mp_cfg.opencv_num_threads": (0, "mlpose's loader workers run OpenCV on one thread each"),
    "env_cfg.resource_limit": (None, "the open-file limit is the shell's (ulimit -n)"),
    "default_hooks.visualization.enable": (False, _MLFLOW_IMAGES),
    "default_hooks.badcase.enable": (False, "MLflow's failure gallery replaces it (tracking.num_failure_images)"),
    "default_hooks.logger.ignore_last": (False, "mlpose logs the last iterations of every epoch too"),
    "log_processor.by_epoch": (True, "mlpose's log line counts iterations within the epoch"),
    "log_processor.num_digits": (6, "mlpose's log line prints 6 significant digits"),
    "log_processor.window_size": (Same("default_hooks.logger.interval", 50),
                                  "mlpose averages each logged value over the log interval "
                                  "(default_hooks.logger.interval)"),
    **{f"{split}_dataloader.sampler.round_up": (False, "mlpose never pads: each epoch trains on the full batches of "
                                                      "a seeded permutation, evaluation sees every sample once")
       for split in ("train", "val", "test")},
    **{f"{split}_dataloader.sampler.seed": (None, "the sampler is seeded from randomness.seed")
       for split in ("train", "val", "test")},
    **{f"{split}_dataloader.drop_last": (False, "evaluation never drops samples") for split in ("val", "test")},
}

TOP_LEVEL: dict[str, Any] = {
    "work_dir": (str, NoneType), "load_from": (str, NoneType), "resume": bool, "launcher": str,
    "log_level": str, "default_scope": (str, NoneType), "param_scheduler": (list, dict),
    "train_dataloader": (dict, NoneType), "val_dataloader": (dict, NoneType),
    "test_dataloader": (dict, NoneType), "val_evaluator": (dict, list, NoneType),
    "test_evaluator": (dict, list, NoneType), "model": dict, "strict_config": bool,
    "custom_hooks": (list, NoneType), "sync_bn": (str, bool, NoneType), "find_unused_parameters": bool,
    "experiment_name": (str, NoneType), "fp16": (dict, NoneType),
}

DATALOADER: dict[str, Any] = {
    "batch_size": int, "num_workers": (int, str), "persistent_workers": bool, "pin_memory": (bool, NoneType),
    "drop_last": bool, "sampler": dict, "dataset": dict, "prefetch_factor": (int, NoneType),
}
SAMPLERS = ("DefaultSampler",)
SAMPLER: dict[str, Any] = {"type": str, "shuffle": bool, "round_up": bool, "seed": (int, NoneType)}
OPTIM_WRAPPERS = ("OptimWrapper", "AmpOptimWrapper")
