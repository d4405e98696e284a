"""The config schema: which keys known sections accept, their types, and which registry
each component (``dict(type=...)``) is looked up in. Checked once, at load time.

Top-level names that are not sections below are free variables (``data_root``, ``codec``,
``train_pipeline``...), as in MMPose configs; inside a known section an unknown key is an
error naming the closest known ones.
"""
from __future__ import annotations

from typing import Any

NoneType = type(None)
NUM = (int, float)

#: section -> {key: allowed types}; ``...`` means any value.
SECTIONS: dict[str, dict[str, Any]] = {
    "train_cfg": {"by_epoch": bool, "max_epochs": int, "val_interval": int, "val_begin": int, "type": str},
    "val_cfg": {"type": str},
    "test_cfg": {"type": str},
    "randomness": {"seed": (int, NoneType), "diff_rank_seed": bool, "deterministic": bool},
    "auto_scale_lr": {"base_batch_size": int, "enable": bool},
    "optim_wrapper": {
        "type": str, "optimizer": dict, "paramwise_cfg": dict, "clip_grad": (dict, NoneType),
        "accumulative_counts": int, "loss_scale": (str, NUM, dict), "dtype": (str, NoneType),
        "constructor": str,
    },
    "default_hooks": {
        "timer": dict, "logger": dict, "param_scheduler": dict, "checkpoint": dict,
        "sampler_seed": dict, "visualization": dict, "badcase": dict,
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
                "compile": (bool, dict)},
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
    "checkpoint": {"interval": int, "save_best": (str, list, NoneType), "rule": (str, NoneType),
                   "max_keep_ckpts": int, "save_last": bool, "by_epoch": bool, "out_dir": (str, NoneType)},
    "logger": {"interval": int, "ignore_last": bool},
    "visualization": {"enable": bool, "interval": int, "kpt_thr": NUM, "show": bool, "wait_time": NUM,
                      "out_dir": (str, NoneType)},
}

TOP_LEVEL: dict[str, Any] = {
    "work_dir": (str, NoneType), "load_from": (str, NoneType), "resume": bool, "launcher": str,
    "log_level": str, "default_scope": (str, NoneType), "param_scheduler": (list, dict),
    "train_dataloader": (dict, NoneType), "val_dataloader": (dict, NoneType),
    "test_dataloader": (dict, NoneType), "val_evaluator": (dict, list, NoneType),
    "test_evaluator": (dict, list, NoneType), "model": dict, "strict_config": bool,
}

DATALOADER: dict[str, Any] = {
    "batch_size": int, "num_workers": (int, str), "persistent_workers": bool, "pin_memory": (bool, NoneType),
    "drop_last": bool, "sampler": dict, "dataset": dict, "prefetch_factor": (int, NoneType),
}
SAMPLERS = ("DefaultSampler",)
OPTIM_WRAPPERS = ("OptimWrapper", "AmpOptimWrapper")
