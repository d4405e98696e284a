"""Weight initialisation and loading pretrained weights from local checkpoint files.

``init_cfg=dict(type='Pretrained', checkpoint=PATH, prefix=None)`` is the only ``init_cfg`` form
mlpose models accept. Nothing is downloaded: ``torchvision://...``, ``open-mmlab://...`` and
http(s) URLs raise a :class:`ConfigError` asking for a local path.

Accepted checkpoint layouts (``torch.load``-able files):

- a torchvision ResNet state dict (``conv1.weight``, ``bn1.*``, ``layer1..4.*``, ``fc.*``);
- an MMPose/MMEngine or mlpose checkpoint: the weights nested under ``state_dict`` or ``model``,
  keys prefixed with the submodule name (``backbone.``, ``head.``);
- a plain state dict whose keys match the module.
"""
from __future__ import annotations

import logging
import os
import pickle
from typing import Iterable

import torch
from torch import nn

from mlpose.errors import ConfigError

logger = logging.getLogger(__name__)

_URL_SCHEMES = ("torchvision://", "open-mmlab://", "mmcls://", "http://", "https://", "s3://")
_MAX_LISTED = 5


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


def check_init_cfg(init_cfg: dict | None, owner: str) -> dict | None:
    """Validate an ``init_cfg`` at build time so a bad one fails before training starts.

    Args:
        init_cfg: ``None`` or ``dict(type='Pretrained', checkpoint=PATH, prefix=None)``.
        owner: name used in error messages (e.g. ``'ResNet'``).

    Returns:
        A copy of ``init_cfg`` (or ``None``).
    """
    if init_cfg is None:
        return None
    if not isinstance(init_cfg, dict) or init_cfg.get("type") != "Pretrained":
        raise ConfigError(
            f"{owner}.init_cfg={init_cfg!r}: only dict(type='Pretrained', checkpoint=PATH) is "
            "supported; built-in initialisation is applied automatically"
        )
    unknown = set(init_cfg) - {"type", "checkpoint", "prefix"}
    if unknown:
        raise ConfigError(
            f"{owner}.init_cfg: unknown keys {sorted(unknown)}; accepted: checkpoint, prefix"
        )
    ckpt = init_cfg.get("checkpoint")
    if not isinstance(ckpt, (str, os.PathLike)) or not str(ckpt):
        raise ConfigError(f"{owner}.init_cfg.checkpoint must be a local file path, got {ckpt!r}")
    if str(ckpt).startswith(_URL_SCHEMES):
        raise ConfigError(
            f"{owner}.init_cfg.checkpoint={str(ckpt)!r}: nothing can be downloaded here; "
            "download the file elsewhere and pass its local path"
        )
    return dict(init_cfg)


def load_checkpoint_file(path: str | os.PathLike) -> dict:
    """``torch.load`` a checkpoint onto the CPU.

    Tries the safe ``weights_only`` loader first; MMEngine checkpoints carry Python objects in
    their ``meta``/``message_hub`` entries, so a file the user named explicitly falls back to a
    full unpickle (with a warning).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ConfigError(f"init_cfg.checkpoint {path!r} does not exist; pass a local file path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        logger.warning("%s holds non-tensor Python objects; loading it with full unpickling", path)
        return torch.load(path, map_location="cpu", weights_only=False)


def _unnest(ckpt: dict) -> dict:
    """The flat ``name -> tensor`` mapping inside an MMEngine/mlpose/plain checkpoint."""
    for key in ("state_dict", "model"):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt


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
        ckpt: the loaded checkpoint (nested or flat).
        prefix: keep only keys starting with it and strip it (``'backbone.'``); ``None`` = auto.
        auto_prefix: with ``prefix=None``, the prefix used when any key carries it (so a full
            pose-model checkpoint can initialise just the backbone).
        drop_prefixes: with ``prefix=None`` and no ``auto_prefix`` match, keys to drop (the
            torchvision classifier ``fc.``).

    Returns:
        A flat state dict with the module's own key names.
    """
    state = _unnest(ckpt)
    if state and all(k.startswith("module.") for k in state):  # saved from a DDP wrapper
        state = _strip(state, "module.")
    if prefix:
        return _strip(state, prefix)
    if auto_prefix and any(k.startswith(auto_prefix) for k in state):
        return _strip(state, auto_prefix)
    drop = tuple(drop_prefixes)
    return {k: v for k, v in state.items() if not (drop and k.startswith(drop))}


def _listed(keys: list[str]) -> str:
    more = f" (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return ", ".join(keys[:_MAX_LISTED]) + more


def load_state_strict(module: nn.Module, state: dict, source: str) -> None:
    """Copy ``state`` into ``module``; any missing/unexpected key or shape mismatch is an error.

    BatchNorm ``num_batches_tracked`` counters may be absent (old torchvision files lack them).

    Raises:
        ConfigError: naming the first few offending keys and ``source``.
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
    if problems:
        raise ConfigError(
            f"{source}: does not fit {type(module).__name__} ({'; '.join(problems)}); "
            "check the architecture settings (depth, base_channels) or init_cfg.prefix"
        )
    module.load_state_dict(state, strict=False)


def load_pretrained(
    module: nn.Module,
    init_cfg: dict,
    auto_prefix: str | None = None,
    drop_prefixes: Iterable[str] = (),
) -> None:
    """Load ``init_cfg['checkpoint']`` into ``module`` (see :func:`select_state_dict`)."""
    init_cfg = check_init_cfg(init_cfg, type(module).__name__)
    path = os.fspath(init_cfg["checkpoint"])
    ckpt = load_checkpoint_file(path)
    if not isinstance(ckpt, dict):
        raise ConfigError(f"checkpoint {path!r} holds a {type(ckpt).__name__}, not a state dict")
    prefix = init_cfg.get("prefix")
    state = select_state_dict(ckpt, prefix, auto_prefix, drop_prefixes)
    if prefix and not state:
        raise ConfigError(f"checkpoint {path!r}: no key starts with init_cfg.prefix={prefix!r}")
    load_state_strict(module, state, f"checkpoint {path!r}")
    logger.info("loaded %d tensors into %s from %s", len(state), type(module).__name__, path)
