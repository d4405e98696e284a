"""Checkpoint artifacts without second copies: hard links into a local store, and deletion.

MLflow's local artifact repository (``sqlite:///mlflow.db`` runs store artifacts under
``./mlruns``) copies every logged file: each save of res50's ``last.pth`` writes 408 MB
beside the work dir's copy. When the run's artifact folder is on the work dir's file system,
:class:`CheckpointLinker` hard-links the checkpoint in instead (no bytes written, no time
spent). That is safe because mlpose never rewrites a checkpoint file in place: a new save is
a new file renamed over the old name, so the linked artifact keeps the content it was logged
with. Other stores (a tracking server, S3) get MLflow's ordinary upload.
"""
from __future__ import annotations

import os
import threading

from mlflow import MlflowClient
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository


def local_artifact_dir(client: MlflowClient, run_id: str) -> str | None:
    """The run's artifact folder when its artifact store is a local folder, else None."""
    repo = get_artifact_repository(client.get_run(run_id).info.artifact_uri)
    return repo.artifact_dir if isinstance(repo, LocalArtifactRepository) else None


def link_into(folder: str, path: str, artifact_path: str | None) -> bool:
    """Hard-link file ``path`` to ``folder/artifact_path/<its name>``, replacing what is there
    atomically. False (nothing changed) where linking is impossible: another file system,
    a file system without hard links, permissions."""
    dest_dir = os.path.join(folder, artifact_path or "")
    dest = os.path.join(dest_dir, os.path.basename(path))
    tmp = os.path.join(dest_dir, f".{os.path.basename(path)}.link-{os.getpid()}-{threading.get_ident()}")
    try:
        os.makedirs(dest_dir, exist_ok=True)
        os.link(path, tmp)
        os.replace(tmp, dest)
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


class CheckpointLinker:
    """The upload lane's client: files announced with :meth:`expect` are hard-linked into a
    local artifact store; everything else (and every file elsewhere) goes to ``client``.

    Only announced files are linked: a linked artifact shares its bytes with the file, so it
    suits checkpoints (replaced by rename, never edited) and nothing a user might rewrite.

    Args:
        client: the tracker's MLflow client; every other attribute is the client's.
    """

    def __init__(self, client: MlflowClient):
        self.client = client
        self._expected: set[str] = set()
        self._folders: dict[str, str | None] = {}
        self.num_linked = 0

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    def expect(self, path: str) -> None:
        """Link ``path`` (a checkpoint file) when it is logged, where the store allows."""
        self._expected.add(os.path.abspath(path))

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        key = os.path.abspath(local_path)
        if key in self._expected:
            if run_id not in self._folders:
                self._folders[run_id] = local_artifact_dir(self.client, run_id)
            folder = self._folders[run_id]
            if folder is not None and link_into(folder, local_path, artifact_path):
                self._expected.discard(key)
                self.num_linked += 1
                return
        self.client.log_artifact(run_id, local_path, artifact_path)
        self._expected.discard(key)

    def delete_artifact(self, run_id: str, artifact_path: str) -> None:
        """Delete one artifact of the run (a file or a folder), in whatever store it is."""
        repo = get_artifact_repository(self.client.get_run(run_id).info.artifact_uri)
        repo.delete_artifacts(artifact_path)
