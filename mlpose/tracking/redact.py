"""Credential redaction for everything mlpose sends to MLflow (params, tags, artifacts, errors).

Three kinds of secrets are removed:

* passwords in URIs: ``postgresql://user:pass@host/db`` -> ``postgresql://user:***@host/db``
  (a long user part with no password, e.g. ``https://TOKEN@host``, is treated as a token);
* ``name=value`` / ``name: value`` pairs whose name looks secret (``password``, ``token``,
  ``secret``, ``api_key``, ``access_key``, ``credential``...), in text, URL queries and
  Python/JSON sources, and ``Authorization: Bearer ...`` headers;
* values of the environment's secret variables (``MLFLOW_TRACKING_PASSWORD``,
  ``MLFLOW_TRACKING_TOKEN``, ``AWS_SECRET_ACCESS_KEY`` and any variable whose name looks secret)
  wherever they appear verbatim.

In dicts, the value of a secret-looking key is replaced whole (``*password*``, ``*secret*``,
``*token*``, ``*key*``...), except for known harmless names such as ``keypoint_weights``,
``meta_keys``, ``custom_keys`` or ``num_tokens``.
"""
from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "***"

# A name part that marks a value as secret (matched case-insensitively anywhere in a name).
_SECRET_WORDS = r"password|passwd|secret|token|credential|api[_\-]?key|access[_\-]?key|private[_\-]?key"
_SECRET_NAME = re.compile(_SECRET_WORDS, re.I)
# Dict keys additionally count as secret when they contain 'key', unless harmless (below).
_KEY_WORD = re.compile(r"key", re.I)
# 'keypoint' is the domain's most common word; these names never hold credentials.
_HARMLESS_KEY_PARTS = re.compile(r"keypoint|keep", re.I)
_HARMLESS_KEYS = frozenset({
    "meta_keys", "custom_keys", "keys", "key_indices", "sort_key", "sort_keys", "key_metric",
    "monitor_key", "input_key", "output_key", "pred_key", "gt_key", "label_key", "key_name",
})
# Always-secret environment variables (their values are masked even when short-named).
SECRET_ENV_VARS = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN", "AWS_SECRET_ACCESS_KEY",
                   "AWS_SESSION_TOKEN", "PGPASSWORD", "DATABRICKS_TOKEN", "AZURE_STORAGE_ACCESS_KEY")
# Bare values that hide nothing (a ViT's ``with_cls_token=False`` is no credential).
_NOT_SECRETS = ("True", "False", "None", "true", "false", "null")
_MIN_ENV_SECRET_LEN = 6  # shorter values ('1', 'true') would mask harmless text everywhere

# scheme://user:password@host -- the password may contain '@' (greedy up to the last '@'
# before the path), never '/' or whitespace.
_URI_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@'\"]*):(?P<pw>[^\s/'\"]*)@")
# scheme://longtoken@host (no password): a user part of >= 20 token characters.
_URI_TOKEN_USER = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[A-Za-z0-9_\-.~]{20,})@")
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic|Token)\s+)(?P<val>[A-Za-z0-9_\-.~+/=]{8,})", re.I)
# name<quote?> = or : <quote?>value ; quoted values end at the quote, bare ones at a separator.
_PAIR = re.compile(
    r"(?P<name>[A-Za-z0-9_.\-]*(?:" + _SECRET_WORDS + r")[A-Za-z0-9_\-]*)"
    r"(?P<nq>[\"']?)(?P<sep>\s*[=:]\s*)"
    r"(?:(?P<q>[\"'])(?P<qval>[^\"'\n]*)(?P=q)|(?P<val>[^\s&,;)\"'}\]]+))",
    re.I,
)


def is_secret_key(name: str) -> bool:
    """Whether a dict key or parameter name (last dotted part is checked) holds a credential."""
    last = str(name).rsplit(".", 1)[-1].lower()
    if last.startswith("num_") or last in _HARMLESS_KEYS:
        return False
    if _SECRET_NAME.search(last):
        return True
    return bool(_KEY_WORD.search(_HARMLESS_KEY_PARTS.sub("", last)))


def environ_snapshot() -> dict[str, str]:
    """``os.environ`` as a dict, safe while other threads change it.

    ``os.environ.items()`` raises KeyError when a variable disappears mid-iteration, which
    MLflow's telemetry thread does to ``_MLFLOW_TELEMETRY_SESSION_ID`` at run start.
    """
    values = ((name, os.environ.get(name)) for name in list(os.environ))
    return {name: value for name, value in values if value is not None}


def _env_secrets() -> list[str]:
    values = set()
    for name, value in environ_snapshot().items():
        secret_name = name in SECRET_ENV_VARS or _SECRET_NAME.search(name)
        if secret_name and len(value) >= _MIN_ENV_SECRET_LEN:
            values.add(value)
    return sorted(values, key=len, reverse=True)  # longest first: no partial masks left behind


def _mask_pair(m: re.Match) -> str:
    name = m.group("name")
    if name.lower().startswith("num_"):
        return m.group(0)
    if m.group("q") is not None:
        if not m.group("qval") or m.group("qval") == REDACTED:
            return m.group(0)
        return f"{name}{m.group('nq')}{m.group('sep')}{m.group('q')}{REDACTED}{m.group('q')}"
    if m.group("val") in (REDACTED, *_NOT_SECRETS):
        return m.group(0)
    return f"{name}{m.group('nq')}{m.group('sep')}{REDACTED}"


def redact_text(text: str) -> str:
    """Return ``text`` with URI passwords, secret ``name=value`` pairs and env secrets masked."""
    if not text:
        return text
    for secret in _env_secrets():
        text = text.replace(secret, REDACTED)
    text = _URI_PASSWORD.sub(lambda m: f"{m.group('head')}:{REDACTED}@", text)
    text = _URI_TOKEN_USER.sub(lambda m: f"{m.group('head')}{REDACTED}@", text)
    text = _BEARER.sub(lambda m: f"{m.group('head')}{REDACTED}", text)
    return _PAIR.sub(_mask_pair, text)


def redact(obj: Any) -> Any:
    """Return a redacted copy of ``obj``: strings masked, dict values of secret keys replaced.

    Args:
        obj: a string, or nested dicts/lists/tuples of plain values (a config). Other values
            (numbers, None, objects) are returned unchanged unless they sit under a secret key.

    Returns:
        The same structure (dicts as plain ``dict``, lists/tuples keep their type). A secret
        key's value becomes ``'***'`` unless it is None, an empty string or a boolean (nothing
        to hide: ``with_cls_token=False``).
    """
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if isinstance(key, str) and is_secret_key(key) and value not in (None, "") and not isinstance(value, bool):
                out[key] = REDACTED
            else:
                out[key] = redact(value)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact(v) for v in obj) if type(obj) in (list, tuple) else [redact(v) for v in obj]
    return obj
