"""MMEngine's runtime keys, as MMPose's config files carry them: each gets its deliberate answer at
load (the tables are in :mod:`.schema`).

- hook types: each ``default_hooks`` entry must name the hook whose job mlpose's loop does;
  ``custom_hooks`` types are looked up in :data:`~.schema.CUSTOM_HOOKS` (run, ignored, refused);
- loop, log-processor and scope types, the distributed backend, the log level, ``optim_wrapper``'s
  AMP keys and the checkpoint hook's keys are checked against what mlpose does;
- runner keys mlpose has no counterpart for are refused (:data:`~.schema.REFUSED_KEYS`), and keys
  that mean nothing here are logged once each when their value differs from what mlpose does anyway
  (:data:`~.schema.IGNORED`).
"""
from __future__ import annotations

import logging
from typing import Any

from mlpose.errors import ConfigError

from . import schema

_MISSING = object()
_logged: set[tuple[str, str]] = set()


def check_runtime_keys(cfg: dict, source: str) -> None:
    """Raise a ConfigError (one line naming ``source`` and the key) for the first refused key;
    log one line for each ignored key whose value changes nothing here."""
    _check_default_hooks(cfg.get("default_hooks") or {}, source)
    _check_custom_hooks(cfg.get("custom_hooks") or [], source)
    for section, types in schema.LOOP_TYPES.items():
        _check_type_name(cfg.get(section) or {}, types, section, source)
    if (cfg.get("train_cfg") or {}).get("by_epoch", True) is not True:
        raise ConfigError(f"{source}: train_cfg.by_epoch=False: mlpose trains by epochs (EpochBasedTrainLoop); "
                          "set train_cfg.max_epochs instead of iterations")
    if (cfg.get("train_cfg") or {}).get("dynamic_intervals"):
        raise ConfigError(f"{source}: train_cfg.dynamic_intervals is not implemented: validation follows "
                          "train_cfg.val_interval (and val_begin); remove it")
    _check_type_name(cfg.get("log_processor") or {}, schema.LOG_PROCESSORS, "log_processor", source)
    _check_env(cfg.get("env_cfg") or {}, source)
    _check_choice(cfg, "default_scope", schema.DEFAULT_SCOPES, source,
                  "mlpose's components are MMPose's; write other packages' types with their scope (mmdet.X)")
    _check_choice(cfg, "log_level", schema.LOG_LEVELS, source, "the Python logging level names")
    _check_amp(cfg.get("optim_wrapper") or {}, source)
    _check_runner_keys(cfg, source)
    for key, (neutral, why) in schema.IGNORED.items():
        value = _get(cfg, key)
        if value is not _MISSING and value != _neutral(cfg, neutral):
            _log_once(source, key, f"{source}: {key}={value!r} is ignored: {why}")


def _check_default_hooks(hooks: dict, source: str) -> None:
    for name, hook in hooks.items():
        if not isinstance(hook, dict):
            continue  # None: MMEngine's way to switch a hook off; mlpose's loop does the job anyway
        expected = schema.DEFAULT_HOOK_TYPES.get(name)
        kind = hook.get("type", expected)
        if expected is not None and _bare(kind) != expected:
            raise ConfigError(f"{source}: default_hooks.{name}.type={kind!r}: mlpose's loop does the job of "
                              f"{expected} itself and runs no other hook there; set type='{expected}'")
    checkpoint = hooks.get("checkpoint") or {}
    for key, (only, what) in schema.CHECKPOINT_ONLY.items():
        if checkpoint.get(key, only) != only:
            raise ConfigError(f"{source}: default_hooks.checkpoint.{key}={checkpoint[key]!r}: {what}")


def _check_custom_hooks(hooks: list, source: str) -> None:
    for i, hook in enumerate(hooks):
        path = f"custom_hooks.{i}"
        if not isinstance(hook, dict) or not isinstance(hook.get("type"), str):
            raise ConfigError(f"{source}: {path} must be a dict with a 'type' string, got {hook!r}")
        kind = hook["type"]
        decision, why = schema.CUSTOM_HOOKS.get(_bare(kind), (None, ""))
        if decision == schema.IGNORE:
            _log_once(source, f"{path}:{kind}", f"{source}: {path} {kind} is ignored: {why}")
        elif decision == schema.REFUSE:
            raise ConfigError(f"{source}: {path}.type={kind!r}: {why}")
        elif decision is None:
            ran = sorted(n for n, (d, _) in schema.CUSTOM_HOOKS.items() if d == schema.RUN) or ["none yet"]
            raise ConfigError(f"{source}: {path}.type={kind!r} is not a hook mlpose knows (it runs: "
                              f"{', '.join(ran)}); remove it")


def _check_env(env: dict, source: str) -> None:
    for name, keys in schema.ENV_SUBSECTIONS.items():
        sub = env.get(name) or {}
        unknown = sorted(set(sub) - set(keys))
        if unknown:
            raise ConfigError(f"{source}: unknown key env_cfg.{name}.{unknown[0]} (known: {', '.join(keys)})")
    backend = (env.get("dist_cfg") or {}).get("backend")
    parts = [p.rpartition(":")[2] for p in str(backend).split(",")] if backend is not None else []
    bad = [p for p in parts if p not in schema.DIST_BACKENDS]
    if bad:
        raise ConfigError(f"{source}: env_cfg.dist_cfg.backend={backend!r}: unknown backend {bad[0]!r}; use one "
                          f"of {', '.join(schema.DIST_BACKENDS)} (nccl for GPUs, gloo for CPUs)")
    method = (env.get("mp_cfg") or {}).get("mp_start_method")
    if method is not None and method not in ("fork", "spawn", "forkserver"):
        raise ConfigError(f"{source}: env_cfg.mp_cfg.mp_start_method={method!r}: use fork, spawn or forkserver")


def _check_amp(wrapper: dict, source: str) -> None:
    scale = wrapper.get("loss_scale", "dynamic")
    if "loss_scale" in wrapper and wrapper.get("type") != "AmpOptimWrapper":
        raise ConfigError(f"{source}: optim_wrapper.loss_scale is a key of AmpOptimWrapper; set "
                          "optim_wrapper.type='AmpOptimWrapper' or remove it")
    if scale != "dynamic":
        raise ConfigError(f"{source}: optim_wrapper.loss_scale={scale!r}: only 'dynamic' (torch's GradScaler, "
                          "on CUDA) is implemented; set loss_scale='dynamic'")
    if wrapper.get("dtype") is not None:
        raise ConfigError(f"{source}: optim_wrapper.dtype={wrapper['dtype']!r}: mlpose's mixed precision is fp16 "
                          "on CUDA and bfloat16 on CPUs; remove dtype")


def _check_runner_keys(cfg: dict, source: str) -> None:
    for key, what in schema.REFUSED_KEYS.items():
        if cfg.get(key) is not None:
            raise ConfigError(f"{source}: {key} is not an mlpose key: {what}")
    model = cfg.get("model")
    if cfg.get("data_preprocessor") is not None and isinstance(model, dict) and not model.get("data_preprocessor"):
        # MMEngine's runner fills model.data_preprocessor from it; here the model says it itself
        raise ConfigError(f"{source}: a top-level data_preprocessor is not read by mlpose; set "
                          "model.data_preprocessor instead")


def _check_type_name(section: dict, types: tuple[str, ...], path: str, source: str) -> None:
    kind = section.get("type") if isinstance(section, dict) else None
    if kind is not None and _bare(kind) not in types:
        raise ConfigError(f"{source}: {path}.type={kind!r} is not what mlpose runs; use {' or '.join(types)} "
                          "(or leave type out)")


def _check_choice(cfg: dict, key: str, choices: tuple, source: str, why: str) -> None:
    if key in cfg and cfg[key] not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{source}: {key}={cfg[key]!r}: use one of {shown} ({why})")


def _bare(kind: Any) -> Any:
    """``'mmdet.PipelineSwitchHook'`` -> ``'PipelineSwitchHook'`` (any OpenMMLab scope)."""
    return kind.rpartition(".")[2] if isinstance(kind, str) else kind


def _get(cfg: dict, path: str) -> Any:
    node: Any = cfg
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _neutral(cfg: dict, neutral: Any) -> Any:
    if isinstance(neutral, schema.Same):
        value = _get(cfg, neutral.path)
        return neutral.default if value is _MISSING else value
    return neutral


def _log_once(source: str, key: str, line: str) -> None:
    """One warning per file and key in a process (configs are loaded again by sweeps and tests)."""
    if (source, key) not in _logged:
        _logged.add((source, key))
        logging.getLogger("mlpose").warning(line)
