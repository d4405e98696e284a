"""Fetch what continuing an MLflow run needs: its resolved config and latest checkpoint.

Works from a fresh machine with an empty work dir: both come from the run's artifacts
(``config/resolved.py``, ``checkpoints/...``), downloaded into ``dst_dir``.

Which checkpoint is the latest: the one the tag ``mlpose.last_checkpoint`` names (set only after
its upload completed) when the stored file has the recorded size; else ``checkpoints/last.pth``
when no tag vouches against it; else the highest ``checkpoints/epoch_N.pth``; else
``checkpoints/best.pth`` (an older state: the deterministic rerun recomputes what follows).
"""
from __future__ import annotations

import os
import re
from typing import NamedTuple

import mlflow
from mlflow import MlflowClient

from mlpose.errors import ConfigError
from mlpose.tracking.params import RESOLVED_CONFIG
from mlpose.tracking.runs import get_existing_run, resolve_tracking_uri
from mlpose.tracking.tracker import LAST_CHECKPOINT_BYTES_TAG, LAST_CHECKPOINT_TAG

_EPOCH = re.compile(r"^checkpoints/epoch_(\d+)\.pth$")


class ResumeInfo(NamedTuple):
    """Local copies of a run's resolved config and latest checkpoint, plus where the run lives.

    Attributes:
        run_id: the run to continue (pass it to ``Tracker.start(run_id=...)``).
        config_path: ``<dst_dir>/config/resolved.py``; ``mlpose.config.load_config`` reads it.
        checkpoint_path: ``<dst_dir>/checkpoints/<file>``.
        checkpoint_artifact: the artifact path it came from, e.g. ``checkpoints/last.pth``.
        experiment_id: the run's experiment.
        config_name: the run's ``mlpose.config`` tag (None if absent).
        tracking_uri: the tracking URI used.
        precision: the run's ``mlpose.precision`` tag (``'fp32'``, ``'bf16-amp'``...; None if absent).
    """

    run_id: str
    config_path: str
    checkpoint_path: str
    checkpoint_artifact: str
    experiment_id: str
    config_name: str | None
    tracking_uri: str
    precision: str | None


def latest_checkpoint(client: MlflowClient, run) -> str | None:
    """Artifact path of the run's newest complete checkpoint (see module docstring), or None."""
    sizes = {a.path: a.file_size for a in client.list_artifacts(run.info.run_id, "checkpoints") if not a.is_dir}
    tagged = run.data.tags.get(LAST_CHECKPOINT_TAG)
    recorded = run.data.tags.get(LAST_CHECKPOINT_BYTES_TAG)
    if tagged in sizes and (recorded is None or str(sizes[tagged]) == recorded):
        return tagged
    if "checkpoints/last.pth" in sizes and tagged is None:
        return "checkpoints/last.pth"
    epochs = sorted((int(m.group(1)), path) for path in sizes if (m := _EPOCH.match(path)))
    if epochs:
        return epochs[-1][1]
    return "checkpoints/best.pth" if "checkpoints/best.pth" in sizes else None


def fetch_run_for_resume(run_id: str, dst_dir: str | os.PathLike, tracking_uri: str | None = None) -> ResumeInfo:
    """Download run ``run_id``'s resolved config and latest checkpoint into ``dst_dir``.

    Args:
        run_id: the MLflow run to continue.
        dst_dir: local folder (created); files land in ``config/`` and ``checkpoints/`` under it.
        tracking_uri: default ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlflow.db``.

    Raises:
        ConfigError: one line when the run does not exist, is deleted, is not an mlpose run
            (no logged config) or has no checkpoint yet.
    """
    uri = resolve_tracking_uri(None, tracking_uri)
    client = MlflowClient(uri)
    run = get_existing_run(client, run_id, uri, action="cannot resume: ")
    config_artifact = f"config/{RESOLVED_CONFIG}"
    if config_artifact not in {a.path for a in client.list_artifacts(run_id, "config")}:
        raise ConfigError(f"cannot resume: MLflow run {run_id!r} has no {config_artifact} artifact "
                          "(not started by mlpose?); use mlpose train CONFIG --resume PATH instead")
    checkpoint = latest_checkpoint(client, run)
    if checkpoint is None:
        raise ConfigError(f"cannot resume: MLflow run {run_id!r} has no checkpoint under checkpoints/ "
                          "(stopped before its first checkpoint upload); start a new run instead")
    dst = os.path.abspath(os.fspath(dst_dir))
    paths = []
    for artifact in (config_artifact, checkpoint):  # keep the run's layout: config/, checkpoints/
        folder = os.path.join(dst, os.path.dirname(artifact))
        os.makedirs(folder, exist_ok=True)
        paths.append(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact,
                                                         dst_path=folder, tracking_uri=uri))
    config_path, checkpoint_path = paths
    return ResumeInfo(run_id, config_path, checkpoint_path, checkpoint, run.info.experiment_id,
                      run.data.tags.get("mlpose.config"), uri, run.data.tags.get("mlpose.precision"))
