"""Optimizers from MMEngine-style ``optim_wrapper`` configs.

``optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=5e-4),
paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}), clip_grad=None,
accumulative_counts=1)`` becomes a plain ``torch.optim.Optimizer`` (:func:`build_optimizer`)
plus the loop settings in :class:`OptimWrapperSpec` (:func:`parse_optim_wrapper`). The
training loop owns backward, clipping (:func:`make_grad_clipper`) and ``optimizer.step()``.
``constructor`` picks how parameters are grouped (:data:`CONSTRUCTORS`): MMEngine's default
(``paramwise_cfg`` custom keys and norm/bias multipliers) or MMPose's layer-wise lr decay for
ViTs (:mod:`mlpose.engine.layer_decay`).

Every param group records ``initial_lr`` (its lr before scheduling), ``lr_mult`` and
``decay_mult``, so :class:`mlpose.engine.scheduler.LRSchedule` scales each group from its own
starting lr.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import math
from typing import Callable, Iterable

import torch
from torch import nn

from mlpose.engine import layer_decay
from mlpose.errors import ConfigError
from mlpose.registry import OPTIMIZERS, build

OPTIMIZERS.add(torch.optim.Adam, "Adam")
OPTIMIZERS.add(torch.optim.AdamW, "AdamW")
OPTIMIZERS.add(torch.optim.SGD, "SGD")

WRAPPER_TYPES = ("OptimWrapper", "AmpOptimWrapper")
_WRAPPER_KEYS = ("type", "optimizer", "paramwise_cfg", "clip_grad", "accumulative_counts",
                 "loss_scale", "dtype", "constructor")
DEFAULT_CONSTRUCTOR = "DefaultOptimWrapperConstructor"
# bypass_duplicate: MMEngine skips parameters shared by several modules; here every parameter is
# grouped once whatever it says (shared ones are never duplicated), so both values are accepted.
#: ``optim_wrapper.constructor`` -> the ``paramwise_cfg`` keys it reads.
CONSTRUCTORS = {
    DEFAULT_CONSTRUCTOR: ("custom_keys", "norm_decay_mult", "bias_decay_mult", "bypass_duplicate"),
    layer_decay.NAME: layer_decay.PARAMWISE_KEYS,
}
_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


@dataclasses.dataclass
class OptimWrapperSpec:
    """The validated ``optim_wrapper`` section.

    Attributes:
        optimizer: the ``optimizer`` dict (``type``, ``lr``, ...), a copy.
        paramwise_cfg: ``custom_keys`` / ``norm_decay_mult`` / ``bias_decay_mult``, or with the
            layer-decay constructor ``num_layers`` / ``layer_decay_rate`` / ``custom_keys``.
        clip_grad: ``dict(max_norm=..., norm_type=2)`` (or ``dict(type='value',
            clip_value=...)``), or None for no clipping.
        accumulative_counts: number of iterations whose gradients are summed per step.
        amp: True for ``AmpOptimWrapper`` (the loop turns on autocast and a grad scaler).
        loss_scale: ``AmpOptimWrapper.loss_scale`` ('dynamic', a number or a dict).
        dtype: ``AmpOptimWrapper.dtype`` ('float16', 'bfloat16' or None for the default).
        constructor: a :data:`CONSTRUCTORS` name: how parameters are grouped.
    """

    optimizer: dict
    paramwise_cfg: dict
    clip_grad: dict | None
    accumulative_counts: int = 1
    amp: bool = False
    loss_scale: str | float | dict = "dynamic"
    dtype: str | None = None
    constructor: str = DEFAULT_CONSTRUCTOR


def parse_optim_wrapper(cfg: dict, path: str = "optim_wrapper") -> OptimWrapperSpec:
    """Validate an ``optim_wrapper`` dict and return its settings.

    Raises:
        ConfigError: naming the key for an unknown wrapper type or key, a missing
            ``optimizer`` dict, or a bad ``accumulative_counts``.
    """
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: expected a dict, got {cfg!r}")
    kind = cfg.get("type", "OptimWrapper")
    if kind not in WRAPPER_TYPES:
        raise ConfigError(f"{path}.type: unknown wrapper {kind!r}; use one of {', '.join(WRAPPER_TYPES)}")
    unknown = sorted(set(cfg) - set(_WRAPPER_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; accepted: {', '.join(_WRAPPER_KEYS)}")
    optimizer = cfg.get("optimizer")
    if not isinstance(optimizer, dict) or "type" not in optimizer:
        raise ConfigError(f"{path}.optimizer: expected dict(type='Adam', lr=...), got {optimizer!r}")
    counts = cfg.get("accumulative_counts", 1)
    if not isinstance(counts, int) or counts < 1:
        raise ConfigError(f"{path}.accumulative_counts must be an int >= 1, got {counts!r}")
    constructor = cfg.get("constructor", DEFAULT_CONSTRUCTOR)
    if constructor not in CONSTRUCTORS:
        raise ConfigError(f"{path}.constructor: unknown {constructor!r}; use one of {', '.join(CONSTRUCTORS)}")
    paramwise = cfg.get("paramwise_cfg") or {}
    unknown = sorted(set(paramwise) - set(CONSTRUCTORS[constructor]))
    if unknown:
        raise ConfigError(
            f"{path}.paramwise_cfg: unsupported key(s) {', '.join(unknown)} for {constructor}; "
            f"supported: {', '.join(CONSTRUCTORS[constructor])}"
        )
    clip = cfg.get("clip_grad")
    if clip is not None:
        make_grad_clipper(clip, f"{path}.clip_grad")  # validate now, not at the first step
    return OptimWrapperSpec(
        optimizer=copy.deepcopy(optimizer),
        paramwise_cfg=copy.deepcopy(paramwise),
        clip_grad=copy.deepcopy(clip),
        accumulative_counts=counts,
        amp=kind == "AmpOptimWrapper",
        loss_scale=cfg.get("loss_scale", "dynamic"),
        dtype=cfg.get("dtype"),
        constructor=constructor,
    )


def _default_weight_decay(optimizer_cfg: dict, path: str) -> float:
    """The optimizer's weight decay: the config value, else the class default (AdamW: 0.01)."""
    if "weight_decay" in optimizer_cfg:
        return float(optimizer_cfg["weight_decay"])
    factory = OPTIMIZERS.get(optimizer_cfg["type"], path)
    try:
        default = inspect.signature(factory).parameters["weight_decay"].default
    except (KeyError, TypeError, ValueError):
        return 0.0
    return float(default) if isinstance(default, (int, float)) else 0.0


def _param_settings(model: nn.Module, paramwise: dict, path: str) -> list[tuple[str, nn.Parameter, dict]]:
    """(name, parameter, dict(lr_mult, decay_mult, **extra)) for every trainable parameter."""
    custom = paramwise.get("custom_keys") or {}
    if not isinstance(custom, dict):
        raise ConfigError(f"{path}.custom_keys: expected a dict of name -> dict(lr_mult=..), got {custom!r}")
    for key, val in custom.items():
        if not isinstance(val, dict):
            raise ConfigError(f"{path}.custom_keys[{key!r}]: expected dict(lr_mult=.., decay_mult=..), got {val!r}")
    # Longest key first (ties alphabetically) so 'backbone.layer1' wins over 'backbone'.
    keys = sorted(sorted(custom), key=len, reverse=True)
    norm_mult = paramwise.get("norm_decay_mult")
    bias_mult = paramwise.get("bias_decay_mult")
    out, seen = [], set()
    for mod_name, module in model.named_modules():
        is_norm = isinstance(module, _NORM_TYPES)
        for p_name, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            name = f"{mod_name}.{p_name}" if mod_name else p_name
            match = next((k for k in keys if k in name), None)
            if match is not None:
                setting = {"lr_mult": 1.0, "decay_mult": 1.0, **custom[match]}
            else:
                # MMEngine applies norm/bias multipliers only to parameters no custom key matched.
                decay = 1.0
                if is_norm and norm_mult is not None:
                    decay = norm_mult
                elif p_name == "bias" and bias_mult is not None:
                    decay = bias_mult
                setting = {"lr_mult": 1.0, "decay_mult": decay}
            out.append((name, param, setting))
    return out


def build_optimizer(model: nn.Module, optim_wrapper_cfg: dict, path: str = "optim_wrapper") -> torch.optim.Optimizer:
    """Build the optimizer for ``model`` from an ``optim_wrapper`` config.

    Parameters are grouped by their settings: a ``custom_keys`` entry applies to every
    parameter whose dotted name contains the key (the longest matching key wins); its
    group gets ``lr = lr * lr_mult`` and ``weight_decay = weight_decay * decay_mult``; other
    keys of the entry (e.g. ``momentum``) are set on the group as given. Parameters with
    ``lr_mult == 0`` and ``decay_mult == 0`` are frozen: ``requires_grad`` is set to False
    and they are left out of the optimizer, so no optimizer (not even one with decoupled
    weight decay) can move them. Parameters already ``requires_grad=False`` are left out too.
    With ``constructor='LayerDecayOptimWrapperConstructor'`` the groups are MMPose's layer-wise
    decayed ones instead (:func:`mlpose.engine.layer_decay.layer_decay_groups`).

    Args:
        model: the (unwrapped) model; parameter names are ``model.named_parameters()`` names.
        optim_wrapper_cfg: the ``optim_wrapper`` dict (see :func:`parse_optim_wrapper`).
        path: the config key, for error messages.

    Optimizers that have a ``fused`` implementation (Adam, AdamW, SGD) use it unless the
    config sets ``fused`` or ``foreach``.

    Returns:
        A torch optimizer whose groups carry ``initial_lr``, ``lr_mult`` and ``decay_mult``.

    Raises:
        ConfigError: for a bad config, or when every parameter ends up frozen.
    """
    spec = parse_optim_wrapper(optim_wrapper_cfg, path)
    opt_cfg = spec.optimizer
    opt_path = f"{path}.optimizer"
    if not isinstance(opt_cfg.get("lr"), (int, float)):
        raise ConfigError(f"{opt_path}.lr: expected a number, got {opt_cfg.get('lr')!r}")
    base_lr = float(opt_cfg["lr"])
    base_wd = _default_weight_decay(opt_cfg, opt_path)
    factory = OPTIMIZERS.get(opt_cfg["type"], opt_path)
    accepted = set(inspect.signature(factory).parameters) - {"params", "self"}

    if spec.constructor == layer_decay.NAME:
        groups = layer_decay.layer_decay_groups(model, spec.paramwise_cfg, base_lr, base_wd, f"{path}.paramwise_cfg")
    else:
        groups = _paramwise_groups(model, spec.paramwise_cfg, base_lr, base_wd, accepted, opt_cfg["type"], path)
    if "weight_decay" not in accepted:
        for group in groups:
            group.pop("weight_decay")
    params = [p for group in groups for p in group["params"]]
    if "fused" in accepted and not {"fused", "foreach"} & set(opt_cfg) and _fusable(params):
        # One fused kernel per step instead of a dozen per parameter: 5-10% of a CPU iteration.
        opt_cfg = {**opt_cfg, "fused": True}
    return build(opt_cfg, OPTIMIZERS, opt_path, params=groups)


def _paramwise_groups(model: nn.Module, paramwise: dict, base_lr: float, base_wd: float, accepted: set[str],
                      optimizer_type: str, path: str) -> list[dict]:
    """MMEngine's default grouping (see :func:`build_optimizer`); freezes lr_mult=decay_mult=0 params."""
    groups: dict[tuple, dict] = {}  # settings -> group, in order of first appearance
    for name, param, setting in _param_settings(model, paramwise, f"{path}.paramwise_cfg"):
        lr_mult, decay_mult = float(setting["lr_mult"]), float(setting["decay_mult"])
        if lr_mult == 0 and decay_mult == 0:
            param.requires_grad_(False)
            continue
        extra = {k: v for k, v in setting.items() if k not in ("lr_mult", "decay_mult")}
        bad = sorted(set(extra) - accepted)
        if bad:
            raise ConfigError(
                f"{path}.paramwise_cfg.custom_keys: {', '.join(bad)} is not an option of "
                f"{optimizer_type} (matched parameter {name!r}); use lr_mult, decay_mult or one of "
                f"{', '.join(sorted(accepted))}"
            )
        key = (lr_mult, decay_mult, tuple(sorted((k, repr(v)) for k, v in extra.items())))
        if key not in groups:
            groups[key] = {
                "params": [], "lr": base_lr * lr_mult, "initial_lr": base_lr * lr_mult,
                "weight_decay": base_wd * decay_mult, "lr_mult": lr_mult, "decay_mult": decay_mult,
                **extra,
            }
        groups[key]["params"].append(param)
    if not groups:
        raise ConfigError(f"{path}.paramwise_cfg: every parameter is frozen (lr_mult=0, decay_mult=0); nothing to train")
    return list(groups.values())


def _fusable(params: list[torch.Tensor]) -> bool:
    """Whether torch's fused optimizer kernels take these parameters (float, on CPU or CUDA)."""
    return all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)


def auto_scale_lr(optimizer_cfg: dict, base_batch_size: int, real_batch_size: int) -> dict:
    """Return a copy of ``optimizer_cfg`` with ``lr`` scaled by ``real / base`` batch size.

    Args:
        optimizer_cfg: the ``optim_wrapper.optimizer`` dict (must hold ``lr``).
        base_batch_size: the total batch size the lr was tuned for
            (``auto_scale_lr.base_batch_size``, e.g. 512 for 8 GPUs x 64).
        real_batch_size: the total batch size of this run: world size x per-GPU batch size.

    Raises:
        ConfigError: for a non-positive batch size or a missing lr.
    """
    if not isinstance(base_batch_size, int) or base_batch_size <= 0:
        raise ConfigError(f"auto_scale_lr.base_batch_size must be a positive int, got {base_batch_size!r}")
    if not isinstance(real_batch_size, int) or real_batch_size <= 0:
        raise ConfigError(f"auto_scale_lr: real batch size must be a positive int, got {real_batch_size!r}")
    if not isinstance(optimizer_cfg.get("lr"), (int, float)):
        raise ConfigError(f"optim_wrapper.optimizer.lr: auto_scale_lr needs a numeric lr, got {optimizer_cfg.get('lr')!r}")
    out = copy.deepcopy(optimizer_cfg)
    out["lr"] = optimizer_cfg["lr"] * real_batch_size / base_batch_size
    return out


def make_grad_clipper(clip_grad: dict | None, path: str = "optim_wrapper.clip_grad"
                      ) -> Callable[[Iterable[torch.Tensor]], torch.Tensor] | None:
    """Turn ``clip_grad`` into a function ``clip(params) -> total grad norm`` (or None).

    ``dict(max_norm=35, norm_type=2)`` (MMEngine's default ``type='norm'``) clips the global
    gradient norm with ``torch.nn.utils.clip_grad_norm_`` and returns the norm before
    clipping (a 0-dim tensor, no host sync); ``dict(type='value', clip_value=1.0)`` clamps
    each gradient element and returns None. Under AMP call ``scaler.unscale_(optimizer)``
    before clipping so the threshold applies to true gradients.

    Raises:
        ConfigError: for an unknown type or missing/invalid thresholds.
    """
    if clip_grad is None:
        return None
    if not isinstance(clip_grad, dict):
        raise ConfigError(f"{path}: expected dict(max_norm=..., norm_type=2) or None, got {clip_grad!r}")
    cfg = dict(clip_grad)
    kind = cfg.pop("type", "norm")
    if kind == "norm":
        max_norm = cfg.pop("max_norm", None)
        norm_type = cfg.pop("norm_type", 2)
        if not isinstance(max_norm, (int, float)) or max_norm <= 0:
            raise ConfigError(f"{path}.max_norm must be a positive number, got {max_norm!r}")
        if not isinstance(norm_type, (int, float)) and norm_type != "inf":
            raise ConfigError(f"{path}.norm_type must be a number or 'inf', got {norm_type!r}")
        norm_type = math.inf if norm_type == "inf" else float(norm_type)
        extra = cfg
        bad = sorted(set(extra) - {"error_if_nonfinite", "foreach"})
        if bad:
            raise ConfigError(f"{path}: unknown key(s) {', '.join(bad)}; accepted: max_norm, norm_type")

        def clip_norm(params: Iterable[torch.Tensor]) -> torch.Tensor:
            grads = [p for p in params if p.grad is not None]
            return torch.nn.utils.clip_grad_norm_(grads, max_norm, norm_type, **extra)

        return clip_norm
    if kind == "value":
        value = cfg.pop("clip_value", None)
        if not isinstance(value, (int, float)) or value <= 0 or cfg:
            raise ConfigError(f"{path}: type='value' needs exactly clip_value=<positive number>, got {clip_grad!r}")

        def clip_value(params: Iterable[torch.Tensor]) -> None:
            torch.nn.utils.clip_grad_value_([p for p in params if p.grad is not None], value)

        return clip_value
    raise ConfigError(f"{path}.type: unknown {kind!r}; use 'norm' (default) or 'value'")
