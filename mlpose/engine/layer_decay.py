"""Layer-wise learning-rate decay for ViT fine-tuning: MMPose's ``LayerDecayOptimWrapperConstructor``.

``optim_wrapper=dict(optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.1),
constructor='LayerDecayOptimWrapperConstructor', paramwise_cfg=dict(num_layers=12,
layer_decay_rate=0.75))`` gives each parameter a depth ``d`` and the lr ``lr * rate ** (L + 1 - d)``
with ``L = num_layers``:

- depth 0: the patch embedding, ``pos_embed``, ``cls_token`` and ``mask_token`` of the backbone;
- depth ``i + 1``: ``backbone.layers.i.*``;
- depth ``L + 1`` (lr unscaled): everything else (the final norm, neck and head).

Weight decay is 0 for 1-D parameters (norms, biases, layer scales), every ``*.bias`` and any
``pos_embed``; the others get the optimizer's ``weight_decay``. As in MMPose, ``custom_keys`` do not
change any of this (its constructor never reads them): they are reported once in the log.
"""
from __future__ import annotations

import logging

from torch import nn

from mlpose.errors import ConfigError

logger = logging.getLogger(__name__)

NAME = "LayerDecayOptimWrapperConstructor"
PARAMWISE_KEYS = ("num_layers", "layer_decay_rate", "custom_keys")
_DEPTH_ZERO = ("backbone.cls_token", "backbone.mask_token", "backbone.pos_embed")
_LAYERS = "backbone.layers."


def layer_depth(name: str, num_layers: int) -> int:
    """Depth ``0..num_layers + 1`` of the parameter called ``name`` (a ``model.named_parameters()``
    name) in a model whose backbone has ``num_layers`` encoder layers."""
    if name in _DEPTH_ZERO or name.startswith("backbone.patch_embed"):
        return 0
    if name.startswith(_LAYERS):
        return int(name.split(".")[2]) + 1
    return num_layers + 1


def _no_decay(name: str, param: nn.Parameter) -> bool:
    return param.ndim == 1 or name.endswith(".bias") or "pos_embed" in name


def _settings(model: nn.Module, paramwise: dict, path: str) -> tuple[int, float]:
    """``(num_layers, layer_decay_rate)``, checked against the model's backbone."""
    num_layers, rate = paramwise.get("num_layers"), paramwise.get("layer_decay_rate")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ConfigError(f"{path}.num_layers={num_layers!r}: {NAME} needs the backbone's number of layers "
                          "(ViT-B: 12, ViT-L: 24, ViT-H: 32)")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
        raise ConfigError(f"{path}.layer_decay_rate={rate!r}: {NAME} needs a positive number (e.g. 0.75)")
    depths = {int(n.split(".")[2]) for n, _ in model.named_parameters() if n.startswith(_LAYERS)}
    if depths and max(depths) + 1 != num_layers:
        raise ConfigError(f"{path}.num_layers={num_layers} but the backbone has {max(depths) + 1} layers "
                          f"(backbone.layers.0..{max(depths)}); set num_layers={max(depths) + 1}")
    custom = paramwise.get("custom_keys")
    if custom is not None and (not isinstance(custom, dict) or not all(isinstance(v, dict) for v in custom.values())):
        raise ConfigError(f"{path}.custom_keys: expected a dict of name -> dict(...), got {custom!r}")
    if custom:
        logger.info("%s.custom_keys (%s) are not applied by %s, as in MMPose: 1-D parameters, biases and "
                    "pos_embed get no weight decay by its own rule", path, ", ".join(custom), NAME)
    return num_layers, float(rate)


def layer_decay_groups(model: nn.Module, paramwise: dict, base_lr: float, base_wd: float,
                       path: str = "optim_wrapper.paramwise_cfg") -> list[dict]:
    """Optimizer param groups with layer-wise decayed learning rates (see the module docstring).

    Args:
        model: the unwrapped pose model (parameter names ``backbone.*``, ``head.*``).
        paramwise: ``dict(num_layers=..., layer_decay_rate=..., custom_keys=...)``.
        base_lr: the optimizer's lr.
        base_wd: the optimizer's weight decay.
        path: the config key of ``paramwise``, for error messages.

    Returns:
        One group per (depth, decay or not), in order of first appearance, each with ``params``,
        ``lr`` = ``initial_lr`` = ``base_lr * lr_mult``, ``lr_mult`` (the layer scale),
        ``weight_decay`` = ``base_wd * decay_mult`` (``decay_mult`` 0 or 1) and ``group_name``
        (MMPose's ``layer_<depth>_decay`` / ``layer_<depth>_no_decay``). Parameters with
        ``requires_grad=False`` (frozen stages) are left out.

    Raises:
        ConfigError: for missing or bad ``num_layers`` / ``layer_decay_rate``, a ``num_layers``
            other than the backbone's, or nothing to train.
    """
    num_layers, rate = _settings(model, paramwise, path)
    groups: dict[str, dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        depth = layer_depth(name, num_layers)
        decay_mult = 0.0 if _no_decay(name, param) else 1.0
        key = f"layer_{depth}_{'decay' if decay_mult else 'no_decay'}"
        if key not in groups:
            scale = rate ** (num_layers + 1 - depth)
            groups[key] = dict(params=[], lr=base_lr * scale, initial_lr=base_lr * scale, lr_mult=scale,
                               weight_decay=base_wd * decay_mult, decay_mult=decay_mult, group_name=key)
        groups[key]["params"].append(param)
    if not groups:
        raise ConfigError(f"{path}: every parameter is frozen (requires_grad=False); nothing to train")
    scales = sorted({g["lr_mult"] for g in groups.values()})
    logger.info("%s (mlpose's own, MMPose not imported): %d param groups, lr scaled by %.3g (shallowest "
                "trained depth) to %.3g (head)", NAME, len(groups), scales[0], scales[-1])
    return list(groups.values())
