"""What one journal line asks MLflow to do, and doing it (live by a tracker lane, or later by
``mlpose sync``). Every record is a plain dict with a kind ``k``:

* ``metrics``: ``p`` = ``[[key, value, timestamp_ms, step], ...]`` (at most 1000) -> ``log_batch``
* ``tags``: ``t`` = ``{name: value}`` -> ``log_batch``
* ``upload``: ``path`` (file or folder), ``ap`` (artifact folder), ``redact`` (text files
  redacted on the way), ``link`` (a checkpoint the local store may hard-link), ``done_tags``
  (set after it), ``cleanup`` (staging folder removed after it)
* ``delete``: ``ap`` -> delete that artifact
* ``model``: ``path``, ``role``, ``step``, ``points``, ``keep``, ``exp``, ``cleanup`` -> a logged model
* ``image``: ``key``, ``step``, ``path`` (a staged PNG), ``cleanup`` -> a step image (``log_image``)
* ``table``: ``ap`` (artifact file), ``path`` (the whole table, pandas split JSON), ``cleanup`` ->
  ``log_table`` in place of the stored one
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile

from mlflow.entities import Metric, RunTag

from mlpose.tracking.redact import redact_text

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".log", ".txt", ".py", ".json", ".yaml", ".yml", ".md", ".csv", ".cfg", ".ini", ".toml", ".sh")


class Skipped(Exception):
    """The record cannot be executed (its local file is gone); it is dropped, not retried."""


def describe(record: dict) -> str:
    """A few words for warnings: 'log 12 metric points', 'upload PATH'."""
    kind = record["k"]
    if kind == "metrics":
        return f"log {len(record['p'])} metric points"
    if kind == "tags":
        return "set tags"
    if kind == "upload":
        return f"upload {record['path']}"
    if kind == "delete":
        return f"delete {record['ap']}"
    if kind == "image":
        return f"log image {record['key']} at step {record['step']}"
    if kind == "table":
        return f"log table {record['ap']}"
    return f"log the {record.get('role')} model"


def execute(record: dict, client, run_id: str, last_steps: dict[str, int] | None = None) -> None:
    """Do what ``record`` says for run ``run_id``; raises what MLflow raises.

    Args:
        client: an ``MlflowClient`` or a :class:`~mlpose.tracking.artifact_store.CheckpointLinker`.
        last_steps: metric key -> highest step already stored; points at or below it are not
            sent again (a replay after a crash may repeat a batch that was stored but not acked).

    Raises:
        Skipped: an upload or model whose local file no longer exists.
    """
    kind = record["k"]
    if kind == "metrics":
        points = [p for p in record["p"] if last_steps is None or p[3] > last_steps.get(p[0], -1)]
        if points:
            # synchronous=True: the lane's thread is already the asynchronous part.
            client.log_batch(run_id, metrics=[Metric(k, v, ts, step) for k, v, ts, step in points], synchronous=True)
    elif kind == "tags":
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in record["t"].items()], synchronous=True)
    elif kind == "upload":
        _upload(record, client, run_id)
    elif kind == "delete":
        client.delete_artifact(run_id, record["ap"])
    elif kind == "model":
        from mlpose.tracking.models import log_checkpoint_model

        if not os.path.exists(record["path"]):
            raise Skipped(f"{record['path']} no longer exists")
        log_checkpoint_model(client, run_id, record["exp"], record["path"], record["role"], int(record["step"]),
                             record.get("points"), keep_superseded=record.get("keep", False))
    elif kind in ("image", "table"):
        from mlpose.tracking.step_media import send_image, send_table

        if not os.path.exists(record["path"]):
            raise Skipped(f"{record['path']} no longer exists")
        (send_image if kind == "image" else send_table)(client, run_id, record)
    else:
        raise Skipped(f"unknown journal record kind {kind!r}")


def finished(record: dict) -> None:
    """After ``record`` was executed or dropped: remove its staging folder."""
    if record.get("cleanup"):
        shutil.rmtree(record["cleanup"], ignore_errors=True)


def _upload(record: dict, client, run_id: str) -> None:
    path = record["path"]
    if not os.path.exists(path):
        raise Skipped(f"{path} no longer exists")
    redacted_dir = tempfile.mkdtemp(prefix="mlpose-redacted-") if record.get("redact") else None
    try:
        if redacted_dir:
            path = _redacted_copy(path, redacted_dir)
        if record.get("link") and hasattr(client, "expect"):
            client.expect(path)
        if os.path.isdir(path):
            client.log_artifacts(run_id, path, record.get("ap"))
        else:
            client.log_artifact(run_id, path, record.get("ap"))
    finally:
        if redacted_dir:
            shutil.rmtree(redacted_dir, ignore_errors=True)
    if record.get("done_tags"):
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in record["done_tags"].items()], synchronous=True)


def _redacted_copy(path: str, folder: str) -> str:
    """Copy ``path`` (file or tree) into ``folder`` with text files redacted; return the copy."""
    dst = os.path.join(folder, os.path.basename(path.rstrip(os.sep)))
    if os.path.isdir(path):
        shutil.copytree(path, dst, copy_function=_copy_redacted)
    else:
        _copy_redacted(path, dst)
    return dst


def _copy_redacted(src: str, dst: str) -> None:
    if src.endswith(TEXT_SUFFIXES):
        with open(src, encoding="utf-8", errors="replace") as f:
            text = redact_text(f.read())
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        shutil.copy2(src, dst)
