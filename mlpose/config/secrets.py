"""Secrets in a config that was logged redacted: a resumed run's ``config/resolved.py`` holds
``***`` where the original had a password or token. Training never runs with ``***``: each such
value is taken from the environment, or loading fails with one line naming the key.

Where a value comes from, for a dotted key ``a.b_c``:

* ``$MLPOSE_SECRET_A_B_C``: the whole value (any key);
* a URI whose password was redacted (``scheme://user:***@host``): the password from
  ``$MLFLOW_TRACKING_PASSWORD`` for ``tracking.uri`` (``$MLFLOW_TRACKING_URI`` replaces the whole
  URI), from ``$PGPASSWORD`` for ``postgresql://`` URLs (e.g. ``sweep.storage``).
"""
from __future__ import annotations

import os
import re
from typing import Any

from mlpose.errors import ConfigError

REDACTED = "***"  # what mlpose.tracking.redact writes in place of a secret
_URI_PASSWORD = re.compile(r"^(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*):\*\*\*@")


def secret_env_var(key: str) -> str:
    """``sweep.storage`` -> ``MLPOSE_SECRET_SWEEP_STORAGE``."""
    return "MLPOSE_SECRET_" + re.sub(r"[^A-Za-z0-9]+", "_", key).upper().strip("_")


def _real_value(key: str, value: str) -> str | None:
    env = os.environ
    if env.get(secret_env_var(key)):
        return env[secret_env_var(key)]
    if key == "tracking.uri" and env.get("MLFLOW_TRACKING_URI"):
        return env["MLFLOW_TRACKING_URI"]
    match = _URI_PASSWORD.match(value)
    if match and REDACTED not in value[match.end():]:
        password = env.get("MLFLOW_TRACKING_PASSWORD") if key == "tracking.uri" else \
            env.get("PGPASSWORD") if value.startswith(("postgres", "postgresql")) else None
        if password:
            return f"{match.group('head')}:{password}@{value[match.end():]}"
    return None


def _walk(node: Any, path: str):
    """``(container, index, dotted key, value)`` of every string in a config tree."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for k, v in items:
        key = f"{path}.{k}" if path else str(k)
        if isinstance(v, str):
            yield node, k, key, v
        else:
            yield from _walk(v, key)


def restore_secrets(cfg) -> list[str]:
    """Replace every ``***`` value of ``cfg`` (in place) from the environment; returns the keys.

    Raises:
        ConfigError: a ``***`` value with nothing in the environment for it (names the key and
            the variable to set).
    """
    restored = []
    for container, index, key, value in list(_walk(cfg, "")):
        if REDACTED not in value:
            continue
        real = _real_value(key, value)
        if real is None:
            raise ConfigError(
                f"{getattr(cfg, 'filename', 'config')}: {key} holds a redacted secret ({value!r}, as the run's "
                f"config was logged); set ${secret_env_var(key)} to its value or pass --cfg-options {key}=VALUE")
        if isinstance(container, tuple):
            raise ConfigError(f"{key}: a redacted secret inside a tuple; pass --cfg-options {key}=VALUE")
        container[index] = real
        restored.append(key)
    return restored
