"""MMEngine's weight-initialisation ``init_cfg`` entries, with MMEngine's meaning::

    init_cfg=[dict(type='Kaiming', layer='Conv2d', a=math.sqrt(5), distribution='uniform',
                   mode='fan_in', nonlinearity='leaky_relu'),
              dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1)]

Each entry initialises every submodule whose class, or one of its base classes, is named in
``layer``: its ``weight`` by the entry's rule and its ``bias`` to ``bias`` (or, with
``bias_prob=p``, to ``-log((1 - p) / p)``, a focal-loss prior). Components already initialise
themselves as MMPose's do; these entries change that where a config asks.
"""
from __future__ import annotations

import math

from torch import nn

from mlpose.errors import ConfigError

#: type -> (keyword defaults as in MMEngine, the torch initialiser of ``weight``)
INIT_TYPES = {
    "Kaiming": (dict(a=0, mode="fan_out", nonlinearity="relu", distribution="normal"), None),
    "Xavier": (dict(gain=1, distribution="normal"), None),
    "Normal": (dict(mean=0, std=1), lambda w, p: nn.init.normal_(w, p["mean"], p["std"])),
    "TruncNormal": (dict(mean=0, std=1, a=-2, b=2),
                    lambda w, p: nn.init.trunc_normal_(w, p["mean"], p["std"], p["a"], p["b"])),
    "Uniform": (dict(a=0, b=1), lambda w, p: nn.init.uniform_(w, p["a"], p["b"])),
    "Constant": (dict(val=None), lambda w, p: nn.init.constant_(w, p["val"])),
}
_COMMON = ("type", "layer", "bias", "bias_prob")


def check_init_type(entry: dict, where: str) -> dict:
    """Validate one initialisation entry; returns a copy with ``layer`` as a list.

    Raises:
        ConfigError: an unknown key or value, no ``layer``, or ``override`` (not supported).
    """
    defaults, _ = INIT_TYPES[entry["type"]]
    if "override" in entry:
        raise ConfigError(f"{where}.override: initialising named submodules is not supported; give the "
                          "submodule's own init_cfg, or layer=CLASS_NAME")
    unknown = set(entry) - set(_COMMON) - set(defaults)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)} for type={entry['type']!r}; accepted: "
                          f"{', '.join([*_COMMON[1:], *defaults])}")
    layer = entry.get("layer")
    layers = [layer] if isinstance(layer, str) else list(layer) if isinstance(layer, (list, tuple)) else None
    if not layers or not all(isinstance(name, str) for name in layers):
        raise ConfigError(f"{where}.layer={layer!r}: name the module classes to initialise, e.g. layer='Conv2d' "
                          "or layer=['_BatchNorm', 'GroupNorm']")
    if entry["type"] == "Constant" and not isinstance(entry.get("val"), (int, float)):
        raise ConfigError(f"{where}: type='Constant' needs val=NUMBER")
    for key, allowed in (("distribution", ("normal", "uniform")), ("mode", ("fan_in", "fan_out"))):
        if key in entry and entry[key] not in allowed:
            raise ConfigError(f"{where}.{key}={entry[key]!r}: use {' or '.join(map(repr, allowed))}")
    prob = entry.get("bias_prob")
    if prob is not None and not (isinstance(prob, float) and 0 < prob < 1):
        raise ConfigError(f"{where}.bias_prob={prob!r} must be a probability in (0, 1)")
    return {**entry, "layer": layers}


def apply_init_type(module: nn.Module, entry: dict) -> int:
    """Initialise the submodules of ``module`` named by a checked ``entry``; returns how many."""
    defaults, rule = INIT_TYPES[entry["type"]]
    params = {**defaults, **{k: v for k, v in entry.items() if k in defaults}}
    bias = entry.get("bias", 0)
    if entry.get("bias_prob") is not None:
        bias = -math.log((1 - entry["bias_prob"]) / entry["bias_prob"])
    wanted, done = set(entry["layer"]), 0
    for m in module.modules():
        if not wanted & {cls.__name__ for cls in type(m).__mro__}:
            continue
        if getattr(m, "weight", None) is not None:
            _init_weight(m.weight, entry["type"], params, rule)
        if getattr(m, "bias", None) is not None:
            nn.init.constant_(m.bias, bias)
        done += 1
    return done


def _init_weight(weight, kind: str, p: dict, rule) -> None:
    if kind == "Kaiming":
        init = nn.init.kaiming_uniform_ if p["distribution"] == "uniform" else nn.init.kaiming_normal_
        init(weight, a=p["a"], mode=p["mode"], nonlinearity=p["nonlinearity"])
    elif kind == "Xavier":
        init = nn.init.xavier_uniform_ if p["distribution"] == "uniform" else nn.init.xavier_normal_
        init(weight, gain=p["gain"])
    else:
        rule(weight, p)
