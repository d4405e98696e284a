"""Metric names: user-facing names, MLflow metric keys, and lookup of a name a user typed.

User-facing names are what metrics return and what the logs print, e.g. ``coco/AP``,
``coco/AP .5``, ``aic/AR (M)`` (MMPose's spelling). MLflow accepts only letters, digits,
``_``, ``-``, ``.``, ``/`` and space in a metric key (colons too, except on Windows; we do not
rely on them), and a key that :func:`posixpath.normpath` would change (``a//b``, ``a/./b``,
a leading or trailing ``/``) is refused.

The mapping :func:`mlflow_key` is deterministic and documented here once:

1. A run of disallowed characters at the start or end of the name is dropped, together
   with the spaces next to it (``AP (M)`` loses its closing ``)``).
2. Every other run of disallowed characters becomes one ``_``, and the spaces next to
   that run are absorbed: ``AP (M)`` -> ``AP_M``, ``AP(E)`` -> ``AP_E``, ``PCK@0.05`` ->
   ``PCK_0.05``.
3. Path-like oddities are collapsed so MLflow's normpath check passes: empty, ``.`` and
   ``..`` path parts are dropped (so ``a//b`` -> ``a/b``, ``/a/`` -> ``a``).
4. A name that is already valid is returned unchanged, so ``coco/AP``, ``coco/AP .5`` and
   ``aic/AR .75`` are their own keys.

Examples: ``coco/AP (M)`` -> ``coco/AP_M``, ``coco/AR (L)`` -> ``coco/AR_L``.

:func:`resolve_metric_name` lets ``save_best`` (and Optuna's objective) name a metric either
way: ``'coco/AP (M)'`` and ``'coco/AP_M'`` both resolve to ``'coco/AP (M)'``.
"""
from __future__ import annotations

import posixpath
import re
from typing import Iterable

from mlpose.errors import ConfigError

# The characters MLflow accepts in a metric key on every OS.
_ALLOWED = r"/\w.\- "
_EDGE_RUN = re.compile(rf"^[ ]*[^{_ALLOWED}]+[ ]*|[ ]*[^{_ALLOWED}]+[ ]*$")
_INNER_RUN = re.compile(rf"[ ]*[^{_ALLOWED}]+[ ]*")
_VALID = re.compile(rf"^[{_ALLOWED}]+$")


def is_valid_mlflow_key(key: str) -> bool:
    """True when MLflow accepts ``key`` as a metric key (characters and path shape)."""
    if not key or not _VALID.match(key):
        return False
    norm = posixpath.normpath(key)
    return norm == key and norm != "." and not norm.startswith("..") and not norm.startswith("/")


def mlflow_key(name: str) -> str:
    """Map a user-facing metric name to a valid MLflow metric key (see the module docstring).

    Args:
        name: metric name such as ``'coco/AP (M)'``.

    Returns:
        The key, e.g. ``'coco/AP_M'``; ``name`` itself when it is already valid.

    Raises:
        ValueError: when nothing valid is left (a name made only of disallowed characters).
    """
    name = str(name)
    if is_valid_mlflow_key(name):
        return name
    key = _EDGE_RUN.sub("", name)
    key = _INNER_RUN.sub("_", key)
    # Path shape: drop empty, '.' and '..' parts (a leading/trailing or doubled '/').
    key = "/".join(p for p in key.split("/") if p not in ("", ".", ".."))
    if not is_valid_mlflow_key(key):
        raise ValueError(f"metric name {name!r} has no valid MLflow key (got {key!r})")
    return key


def resolve_metric_name(user_name: str, available_names: Iterable[str]) -> str:
    """Return the metric in ``available_names`` that ``user_name`` refers to.

    ``user_name`` may be the user-facing name (``'coco/AP (M)'``) or its MLflow key
    (``'coco/AP_M'``).

    Args:
        user_name: the name from the config, e.g. ``save_best='coco/AP'``.
        available_names: the names the evaluator produced.

    Returns:
        The matching user-facing name from ``available_names``.

    Raises:
        ConfigError: naming ``user_name`` and listing the available names when none match.
    """
    names = list(available_names)
    if user_name in names:
        return user_name
    try:
        wanted = mlflow_key(user_name)
    except ValueError:
        wanted = None
    matches = [n for n in names if wanted is not None and mlflow_key(n) == wanted]
    if len(matches) == 1:
        return matches[0]
    shown = ", ".join(repr(n) for n in names) or "(none: the evaluator returned no metrics)"
    raise ConfigError(f"unknown metric name {user_name!r}; available metrics: {shown}")
