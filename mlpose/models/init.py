"""Weight initialisation and pretrained weights: ``init_cfg`` as MMEngine reads it.

An ``init_cfg`` is one entry or a list of entries, applied by the component's ``init_weights``
(a fresh run only; never for ``test``, ``infer``, ``export``, ``--resume``):

- ``dict(type='Pretrained', checkpoint=REF, prefix=None)``: weights from ``REF``, a local file or
  a ``torchvision://``, ``open-mmlab://``, ``mmcls://`` name or http(s) URL (downloaded once into
  torch's hub cache, see :mod:`mlpose.runtime.hub`); the reference is checked when the component
  is built, the file is read only by ``init_weights``. ``prefix`` keeps the keys under it
  (``'backbone'`` and ``'backbone.'`` alike, as MMEngine), stripped. ``map_location`` is accepted
  and unused (weights are read onto the CPU and copied into the module).
- ``Kaiming``, ``Xavier``, ``Normal``, ``TruncNormal``, ``Uniform``, ``Constant`` with ``layer``:
  MMEngine's initialisers (:mod:`mlpose.models.init_types`), applied before any ``Pretrained``.

Accepted checkpoint layouts (:func:`mlpose.runtime.foreign.model_weights`): torchvision state
dicts (``fc.*`` dropped), mlpose, MMPose 1.x/0.x and MMEngine files (``mmcls://`` files keep their
``backbone.*`` keys, as MMEngine processes them), plain state dicts. Keys the module lacks are
skipped with one logged line (as MMEngine, whose ImageNet files carry classifier heads); a
missing key or a shape that differs is an error.
"""
from __future__ import annotations

import logging
import os
from typing import Callable, Iterable

from torch import nn

from mlpose.errors import ConfigError
from mlpose.models.init_types import INIT_TYPES, apply_init_type, check_init_type
from mlpose.runtime import hub
from mlpose.runtime.checkpoint_io import load_checkpoint
from mlpose.runtime.foreign import model_weights

logger = logging.getLogger(__name__)

_MAX_LISTED = 5
_PRETRAINED_KEYS = {"type", "checkpoint", "prefix", "map_location"}


def kaiming_init(module: nn.Module) -> None:
    """He-normal init (fan_out, ReLU) for conv weights and zero bias, as MMPose's ResNet does."""
    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def normal_init(module: nn.Module, std: float) -> None:
    """Normal(0, std) weights and zero bias."""
    nn.init.normal_(module.weight, mean=0.0, std=std)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def constant_init(module: nn.Module, val: float) -> None:
    """Constant weights (e.g. 1 for BatchNorm, 0 for zero-init residual) and zero bias."""
    nn.init.constant_(module.weight, val)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


def check_init_cfg(init_cfg: dict | list | None, owner: str) -> dict | list | None:
    """Validate an ``init_cfg`` when its component is built, so a bad one fails before training
    starts and before anything is downloaded.

    Args:
        init_cfg: ``None``, one entry or a list of entries (see the module docstring).
        owner: name used in error messages (e.g. ``'ResNet'``).

    Returns:
        A copy of ``init_cfg`` (or ``None``), of the same shape.
    """
    if init_cfg is None:
        return None
    entries = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    checked = [_check_entry(entry, f"{owner}.init_cfg" + (f"[{i}]" if entries is init_cfg else ""))
               for i, entry in enumerate(entries)]
    return checked if isinstance(init_cfg, (list, tuple)) else checked[0]


def _check_entry(entry, where: str) -> dict:
    kinds = ", ".join(["Pretrained", *INIT_TYPES])
    if not isinstance(entry, dict) or entry.get("type") not in ("Pretrained", *INIT_TYPES):
        raise ConfigError(f"{where}={entry!r}: expected dict(type=T, ...) with T one of {kinds}")
    if entry["type"] != "Pretrained":
        return check_init_type(entry, where)
    unknown = set(entry) - _PRETRAINED_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; accepted: checkpoint, prefix, map_location")
    ckpt = entry.get("checkpoint")
    if not isinstance(ckpt, (str, os.PathLike)) or not str(ckpt):
        raise ConfigError(f"{where}.checkpoint must be a file path or URL, got {ckpt!r}")
    ckpt = os.fspath(ckpt)
    if hub.is_remote(ckpt):
        try:
            hub.resolve_url(ckpt)
        except ConfigError as exc:
            raise ConfigError(f"{where}.checkpoint: {exc}") from None
    elif "://" in ckpt:
        raise ConfigError(f"{where}.checkpoint={ckpt!r}: the scheme is not one mlpose downloads from; give a local "
                          f"path, an http(s) URL or {', '.join(hub.TABLES)}NAME")
    prefix = entry.get("prefix")
    if prefix is not None and (not isinstance(prefix, str) or not prefix.strip(".")):
        raise ConfigError(f"{where}.prefix={prefix!r} must name a submodule, e.g. 'backbone.'")
    return {**entry, "checkpoint": ckpt}


def load_checkpoint_file(ref: str | os.PathLike) -> dict:
    """The checkpoint ``ref`` names (a local file, or a name/URL fetched into torch's hub cache),
    read safely onto the CPU (see :func:`mlpose.runtime.checkpoint_io.load_checkpoint`).

    ``mmcls://`` files keep only their ``backbone.*`` weights, stripped, as MMEngine's scheme does.
    """
    ref = os.fspath(ref)
    if hub.is_remote(ref):
        ckpt = load_checkpoint(hub.fetch(ref))
        if ref.startswith("mmcls://"):
            ckpt = {"state_dict": {k[len("backbone."):]: v for k, v in model_weights(ckpt).items()
                                   if k.startswith("backbone.")}}
        return ckpt
    if not os.path.exists(ref):
        raise ConfigError(f"init_cfg.checkpoint {ref!r} does not exist; pass a local file path or a URL")
    return load_checkpoint(ref)


def _strip(state: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def select_state_dict(
    ckpt: dict,
    prefix: str | None,
    auto_prefix: str | None = None,
    drop_prefixes: Iterable[str] = (),
) -> dict:
    """Pick the part of a checkpoint meant for one module and strip its key prefix.

    Args:
        ckpt: the loaded checkpoint, any layout :func:`mlpose.runtime.foreign.model_weights` reads.
        prefix: keep only keys starting with it and strip it (``'backbone'`` or ``'backbone.'``);
            ``None`` = auto.
        auto_prefix: with ``prefix=None``, the prefix used when any key carries it (so a full
            pose-model checkpoint can initialise just the backbone).
        drop_prefixes: with ``prefix=None`` and no ``auto_prefix`` match, keys to drop (the
            torchvision classifier ``fc.``).

    Returns:
        A flat state dict with the module's own key names.
    """
    state = model_weights(ckpt)
    if prefix:
        return _strip(state, prefix.rstrip(".") + ".")
    if auto_prefix and any(k.startswith(auto_prefix) for k in state):
        return _strip(state, auto_prefix)
    drop = tuple(drop_prefixes)
    return {k: v for k, v in state.items() if not (drop and k.startswith(drop))}


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def load_state_strict(module: nn.Module, state: dict, source: str) -> None:
    """Copy ``state`` into ``module``: every module tensor must be there with its shape; keys the
    module lacks are skipped with one logged line (ImageNet files carry classifier heads).

    BatchNorm ``num_batches_tracked`` counters may be absent (old torchvision files lack them).

    Raises:
        ConfigError: naming the first few missing, mismatched (and unexpected) keys and ``source``.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listed(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listed(unexpected)}")
    if mismatched:
        problems.append(f"shape mismatch: {_listed(mismatched)}")
    if missing or mismatched:
        raise ConfigError(
            f"{source}: does not fit {type(module).__name__} ({'; '.join(problems)}); "
            "check the architecture settings (depth, base_channels) or init_cfg.prefix"
        )
    if unexpected:
        logger.warning("%s: %d keys that %s does not have were skipped (%s)", source, len(unexpected),
                       type(module).__name__, _listed(unexpected))
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)


def load_pretrained(
    module: nn.Module,
    init_cfg: dict | list,
    auto_prefix: str | None = None,
    drop_prefixes: Iterable[str] = (),
    adapt: Callable[[dict], None] | None = None,
) -> None:
    """Apply ``init_cfg`` to ``module``: its initialisers in order, then its ``Pretrained``
    checkpoints (see :func:`select_state_dict` for ``auto_prefix`` and ``drop_prefixes``).

    Args:
        adapt: called with each selected state dict before it is loaded, to fit its tensors to
            the module in place (e.g. a ViT resizing a checkpoint's position embedding).
    """
    entries = check_init_cfg(init_cfg, type(module).__name__)
    entries = entries if isinstance(entries, list) else [entries]
    for entry in entries:
        if entry["type"] != "Pretrained":
            apply_init_type(module, entry)
    for entry in entries:
        if entry["type"] == "Pretrained":
            _load_one(module, entry, auto_prefix, drop_prefixes, adapt)


def _load_one(module: nn.Module, entry: dict, auto_prefix: str | None, drop_prefixes: Iterable[str],
              adapt: Callable[[dict], None] | None) -> None:
    ref = entry["checkpoint"]
    ckpt = load_checkpoint_file(ref)
    prefix = entry.get("prefix")
    state = select_state_dict(ckpt, prefix, auto_prefix, drop_prefixes)
    if prefix and not state:
        raise ConfigError(f"checkpoint {ref!r}: no key starts with init_cfg.prefix={prefix!r}")
    if adapt is not None:
        adapt(state)
    load_state_strict(module, state, f"checkpoint {ref!r}")
    logger.info("loaded %d tensors into %s from %s", len(state), type(module).__name__, ref)
