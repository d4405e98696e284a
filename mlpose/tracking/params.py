"""A resolved config as MLflow params: dotted keys, one canonical string per value, MLflow's limits.

``flatten_config`` turns ``dict(optim_wrapper=dict(optimizer=dict(lr=5e-4)))`` into
``{'optim_wrapper.optimizer.lr': '0.0005'}``. Lists that hold dicts (pipelines, evaluators) are
flattened by index (``train_pipeline.0.type``); lists of plain values stay one value
(``codec.input_size`` -> ``[192, 256]``) so they read and compare as one thing in the MLflow UI.

``canonical_str`` gives every value exactly one spelling, independent of how it was written:
JSON-like (``null``, ``true``, ``"quoted"`` strings inside lists), floats via ``repr`` (shortest
round-trip form), tuples as lists, no object addresses. Strings at the top level are unquoted.

``log_run_setup`` logs what a job knows at its start: these params, the config file and the
resolved config (``config/resolved.py``) as artifacts, and the run's tags.
"""
from __future__ import annotations

import enum
import hashlib
import json
import math
import os
import posixpath
import re
import shlex
import socket
import sys
import tempfile
from pathlib import PurePath
from typing import Any, Iterator, Mapping, Sequence

from mlflow.entities import Param
from mlflow.utils.validation import (MAX_ENTITY_KEY_LENGTH, MAX_PARAM_VAL_LENGTH,
                                     MAX_PARAMS_TAGS_PER_BATCH, MAX_TAG_VAL_LENGTH)

import mlpose
from mlpose.tracking.gitinfo import code_git_info
from mlpose.tracking.redact import redact, redact_text

__all__ = ["canonical_str", "truncate", "param_key", "flatten_config", "batches", "log_run_setup",
           "MAX_PARAM_VAL_LENGTH", "MAX_PARAMS_TAGS_PER_BATCH", "MAX_TAG_VAL_LENGTH"]

RESOLVED_CONFIG = "resolved.py"  # logged as config/resolved.py; resume reads it back
_BAD_KEY_CHARS = re.compile(r"[^/\w.\- ]")  # MLflow's allowed set minus ':' (refused on Windows)
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _encode(value: Any) -> str:
    """JSON-like spelling of ``value`` (strings quoted), used inside containers."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _encode(value.value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))  # float(): numpy float64's repr is 'np.float64(...)'
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_encode(v)}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_encode(v) for v in value) + "]"
    if isinstance(value, (set, frozenset)):
        return _encode(sorted(value, key=_encode))
    if callable(getattr(value, "tolist", None)):  # numpy scalars and arrays
        return _encode(value.tolist())
    return json.dumps(_plain_str(value), ensure_ascii=False)


def _plain_str(value: Any) -> str:
    """A stable string for a non-container object (paths, classes, functions, others)."""
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}".lstrip(".")
    return _ADDRESS.sub("", str(value))


def canonical_str(value: Any) -> str:
    """The one string MLflow shows for a config value.

    Examples: ``'SGD'`` -> ``SGD``; ``5e-4`` -> ``0.0005``; ``(192, 256)`` -> ``[192, 256]``;
    ``None`` -> ``null``; ``True`` -> ``true``; ``['a', 1.0]`` -> ``["a", 1.0]``;
    ``float('nan')`` -> ``nan``; ``np.float32(0.5)`` -> ``0.5``; a class -> ``module.Name``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return repr(float(value))
    if isinstance(value, (type(None), bool, int, float, enum.Enum, Mapping, list, tuple, set, frozenset)):
        return _encode(value)
    if callable(getattr(value, "tolist", None)):  # numpy scalars and arrays
        return canonical_str(value.tolist())
    return _plain_str(value)


def truncate(text: str, limit: int = MAX_PARAM_VAL_LENGTH) -> str:
    """Cut ``text`` to at most ``limit`` characters, ending with ``...[truncated N chars]``.

    ``N`` counts the characters removed, so the original length is ``len(kept) + N``.
    """
    if len(text) <= limit:
        return text
    removed = len(text) - limit
    while True:  # the suffix's own length depends on N's digit count
        suffix = f"...[truncated {removed} chars]"
        keep = limit - len(suffix)
        if len(text) - keep == removed:
            return text[:keep] + suffix
        removed = len(text) - keep


def param_key(parts: Sequence[str]) -> str:
    """Join config path parts with '.' into a valid MLflow param/metric key (<= 250 chars).

    Characters MLflow refuses become '_'; a key that would read as a file path with '..' or
    '//' gets its slashes replaced; an over-long key keeps its head plus a short hash so
    distinct keys stay distinct.
    """
    key = ".".join(_BAD_KEY_CHARS.sub("_", str(p)) for p in parts) or "_"
    norm = posixpath.normpath(key)
    if norm != key or norm in (".", "..") or norm.startswith(("..", "/")):
        key = key.replace("/", "_")
        if key.startswith("."):
            key = "_" + key
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        digest = hashlib.sha1(key.encode()).hexdigest()[:10]
        key = f"{key[:MAX_ENTITY_KEY_LENGTH - 11]}-{digest}"
    return key


def _holds_mapping(value: Any) -> bool:
    if isinstance(value, Mapping):
        return True
    return isinstance(value, (list, tuple)) and any(_holds_mapping(v) for v in value)


def flatten_config(cfg: Mapping[str, Any]) -> dict[str, str]:
    """Flatten a (redacted) config into ``{dotted_key: canonical value}`` within MLflow's limits.

    Args:
        cfg: nested dicts/lists of plain values, e.g. a resolved ``mlpose.config.Config``.

    Returns:
        Ordered dict of param key -> value string (<= 6000 characters, truncated visibly).
        Empty dicts appear as ``{}`` so that they are visible too.
    """
    out: dict[str, str] = {}

    def walk(value: Any, path: list[str]) -> None:
        if isinstance(value, Mapping):
            if not value and path:
                out[param_key(path)] = "{}"
            for k, v in value.items():
                walk(v, path + [str(k)])
        elif isinstance(value, (list, tuple)) and _holds_mapping(value):
            for i, v in enumerate(value):
                walk(v, path + [str(i)])
        else:
            out[param_key(path)] = truncate(canonical_str(value))

    walk(cfg, [])
    return out


def batches(items: Sequence, size: int = MAX_PARAMS_TAGS_PER_BATCH) -> Iterator[Sequence]:
    """Consecutive slices of ``items`` of at most ``size`` elements (MLflow's per-call limits)."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _best_metric(cfg: Mapping) -> tuple[str | None, str | None]:
    """The checkpoint hook's ``save_best`` metric (first one) and its rule, if configured."""
    ckpt = ((cfg.get("default_hooks") or {}).get("checkpoint") or {})
    best, rule = ckpt.get("save_best"), ckpt.get("rule")
    best = best[0] if isinstance(best, (list, tuple)) and best else best
    rule = rule[0] if isinstance(rule, (list, tuple)) and rule else rule
    if not isinstance(best, str) or best == "auto":
        return None, None
    if rule is None:
        rule = "less" if any(w in best.lower() for w in ("loss", "epe", "nme")) else "greater"
    return best, rule


def log_run_setup(tracker, run, cfg: Mapping, *, config_file: str | None, config_name: str,
                  command: Sequence[str] | None, launcher: str, world_size: int, precision: str,
                  parent_run_id: str | None, extra_tags: Mapping | None) -> None:
    """Log what a job knows at its start: config params, config artifacts and run tags.

    Params are written synchronously (<= 100 per call) so a refused value fails the start,
    not silently later. On an attached run, keys it already has are skipped; differing values
    go to the ``mlpose.param_conflicts`` tag. On a resumed mlpose run (it has ``mlpose.config``)
    the original identity tags stay and this job's differing values go to ``mlpose.resume.*``.
    """
    client, run_id = tracker.client, tracker.run_id
    red = redact(cfg)
    params = flatten_config(red)
    existing = run.data.params
    new = [Param(k, v) for k, v in params.items() if k not in existing]
    for chunk in batches(new):
        client.log_batch(run_id, params=list(chunk), synchronous=True)

    tags = {"mlpose.config": config_name, "mlpose.launcher": launcher, "mlpose.world_size": str(world_size),
            "mlpose.precision": precision, "mlpose.version": mlpose.__version__, "mlpose.host": socket.gethostname(),
            "mlpose.command": shlex.join(list(command if command is not None else sys.argv))}
    git = code_git_info()
    if git:
        tags.update({"mlflow.source.git.commit": git.commit, "mlpose.git_dirty": str(git.dirty).lower()})
        if git.branch:
            tags["mlflow.source.git.branch"] = git.branch
    best, rule = _best_metric(red)
    if best:
        tags.update({"mlpose.best_metric": best, "mlpose.best_rule": rule})
    if parent_run_id:
        tags["mlflow.parentRunId"] = parent_run_id
    old = run.data.tags
    if "mlpose.config" in old:  # resuming an mlpose run: keep its identity, note what differs
        for key in [k for k in tags if k in old and old[k] != tags[k]]:
            tags[f"mlpose.resume.{key.rsplit('.', 1)[-1]}"] = tags.pop(key)
        tags["mlpose.num_resumes"] = str(int(old.get("mlpose.num_resumes", "0")) + 1)
    conflicts = {k: v for k, v in params.items() if k in existing and existing[k] != v}
    if conflicts:
        tags["mlpose.param_conflicts"] = json.dumps(conflicts)
    tags.update({str(k): str(v) for k, v in (extra_tags or {}).items()})
    tracker.set_tags(tags)  # redacted and cut to length there

    stage = tempfile.mkdtemp(prefix="mlpose-config-")
    if config_file and os.path.isfile(config_file):
        with open(config_file, encoding="utf-8", errors="replace") as src:
            text = src.read()
        with open(os.path.join(stage, os.path.basename(config_file)), "w", encoding="utf-8") as dst:
            dst.write(redact_text(text))
    with open(os.path.join(stage, RESOLVED_CONFIG), "w", encoding="utf-8") as dst:
        dst.write(resolved_config_text(red))
    tracker._uploads.put_upload(stage, "config", cleanup_dir=stage)


def resolved_config_text(cfg: Mapping) -> str:
    """The resolved config as a Python config file that ``mlpose.config.load_config`` reads back
    exactly (tuples, None and floats kept)."""
    from mlpose.config import config_text

    return config_text(cfg, "py")
