"""The tracker interface the engine is written against, and the tracker that does nothing.

The engine calls these methods unconditionally: rank 0 of a tracked job holds a
:class:`mlpose.tracking.tracker.Tracker` (MLflow), every other rank (and every rank with
``tracking.enabled=False``) a :class:`NullTracker`. This module imports no MLflow, so ranks that
never talk to MLflow never load it.
"""
from __future__ import annotations

import os
from typing import Any, Mapping


class BaseTracker:
    """What a job logs, and where; every method here does nothing.

    Attributes:
        run_id: the MLflow run (the same id on every rank of a tracked job; None untracked).
        experiment_id, tracking_uri: where the run lives (None untracked).
        active: whether this object sends anything anywhere.
        finished: set by :meth:`finish`; later calls log nothing.
    """

    active = False

    def __init__(self, run_id: str | None = None, experiment_id: str | None = None,
                 tracking_uri: str | None = None):
        self.run_id, self.experiment_id, self.tracking_uri = run_id, experiment_id, tracking_uri
        self.finished = False

    def log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        """Queue scalars (python floats) for ``step``, the global iteration."""

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Queue tags."""

    def flush(self, timeout: float | None = None, uploads: bool = False) -> bool:
        """Wait until what is queued is stored; False on timeout."""
        return True

    def log_artifact(self, local_path: str | os.PathLike, artifact_path: str | None = None) -> None:
        """Queue the upload of a file or folder."""

    def log_image(self, key: str, image: Any, step: int) -> None:
        """Queue a step image: ``image`` an (H, W, 3) RGB uint8 array, or a callable returning
        one, called on the upload thread (drawing stays off the training thread)."""

    def log_table(self, data: Any, artifact_file: str, replace: bool = False) -> None:
        """Queue a table (``{column: values}``, or a callable returning one) as ``artifact_file``
        (.json); appended to an existing one unless ``replace``."""

    def log_checkpoint(self, path: str | os.PathLike, name: str | None = None, latest: bool | None = None) -> None:
        """Queue the upload of a checkpoint file as ``checkpoints/<name>``."""

    def delete_checkpoint(self, name: str) -> None:
        """Queue the deletion of the run's ``checkpoints/<name>``."""

    def log_model(self, checkpoint: str | os.PathLike, role: str = "best", step: int = 0,
                  metrics: Mapping[str, Any] | None = None) -> None:
        """Queue logging the checkpoint file as the run's ``role`` model at ``step``, with the
        ``metrics`` of that step linked to it."""

    def log_datasets(self, datasets: Mapping[str, Any]) -> None:
        """Queue recording ``{context: dataset}`` (``training``/``validation``/``test``; None
        values skipped) as the run's dataset inputs."""

    def has_model(self, role: str) -> bool:
        """Whether the run has its ``role`` model (True here: nothing to log)."""
        return True

    def register_models(self, name: str) -> dict[str, str]:
        """Register the run's best and latest models under ``name`` (aliases ``best``, ``last``);
        returns ``{alias: version}`` (empty here)."""
        return {}

    def finish(self, status: str = "FINISHED", error: BaseException | None = None,
               timeout: float | None = None) -> None:
        """Store what is queued and end the run with ``status``; later calls log nothing."""
        self.finished = True


class NullTracker(BaseTracker):
    """The tracker of ranks other than 0 (carrying rank 0's ``run_id``) and of untracked jobs."""
