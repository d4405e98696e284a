"""Checkpoints by path, URL or MLflow URI, and the MLflow model format they come back from.

``resolve_checkpoint`` accepts:

* a local path (``work_dirs/res50/epoch_3.pth``, ``file:///...``);
* ``runs:/RUN_ID/checkpoints/best.pth`` (any file the run logged);
* ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``models:/m-<model id>``: a pose model
  logged by :mod:`mlpose.tracking.models`; the file returned is the model's
  ``artifacts/checkpoint.pth`` (``extra_files/checkpoint.pth`` in models of mlpose 0.1's first
  format; for models logged without either, a pickled PyTorch model is loaded and its
  ``state_dict`` saved);
* ``mlflow-artifacts:/...`` and the other artifact schemes MLflow knows (``s3://``, ``gs://``...);
* ``http(s)://`` URLs and ``torchvision://``, ``open-mmlab://``, ``mmcls://`` names, downloaded
  once into torch's hub cache with a progress bar (:mod:`mlpose.runtime.hub`: the files torch and
  MMEngine download and use, ``$TORCH_HOME/hub/checkpoints/<file name>``; ``cache_dir`` replaces
  that folder when given).

MLflow downloads go to ``cache_dir``, else ``$MLPOSE_CACHE/checkpoints``, else
``~/.cache/mlpose/checkpoints``, every time (``last.pth`` and aliases move); URLs are assumed
immutable and reused from the cache.

A model's checkpoint (see :func:`mlpose.inference.pyfunc.save_pose_model`) holds the weights,
the config, meta and train state and needs no model code to read, so
``mlpose test CONFIG models:/NAME@best`` loads weights exactly as from a local checkpoint.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlpose.errors import ConfigError
from mlpose.runtime import hub
from mlpose.tracking.credentials import split_credentials
from mlpose.tracking.redact import redact_text

#: Where a logged model keeps its checkpoint: the pose model's, then the first format's.
MODEL_CHECKPOINTS = ("artifacts/checkpoint.pth", "extra_files/checkpoint.pth")
_SAFE = re.compile(r"[^\w.-]")
_RUN_IN_PATH = re.compile(r"/\d+/([0-9a-f]{32})/artifacts/")
_EXAMPLES = "a file path, http(s) URL, runs:/RUN_ID/checkpoints/best.pth or models:/NAME@ALIAS"


class ResolvedCheckpoint(NamedTuple):
    """A local checkpoint file and the MLflow run that produced it (None when unknown)."""

    path: str
    source_run_id: str | None


def default_cache_dir() -> Path:
    root = os.environ.get("MLPOSE_CACHE")
    return Path(root) / "checkpoints" if root else Path.home() / ".cache" / "mlpose" / "checkpoints"


def resolve_checkpoint(uri_or_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                       tracking_uri: str | None = None) -> ResolvedCheckpoint:
    """Turn a checkpoint reference into a local file (see the module docstring for the forms).

    Args:
        uri_or_path: path, URL or MLflow URI.
        cache_dir: where downloads go (default: see module docstring).
        tracking_uri: MLflow server/database for ``runs:/``/``models:/`` (default: MLflow's
            current one: ``$MLFLOW_TRACKING_URI`` or ``mlflow.set_tracking_uri``).

    Raises:
        ConfigError: one line naming the reference, for missing files, unknown runs/models,
            unreachable URLs and unsupported schemes.
    """
    ref = os.fspath(uri_or_path)
    shown = redact_text(ref)
    scheme = urllib.parse.urlsplit(ref).scheme if "://" in ref or ref.startswith(("runs:", "models:", "mlflow-artifacts:")) else ""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    if hub.is_remote(ref):
        return ResolvedCheckpoint(hub.fetch(ref, cache_dir, request=url_request), None)
    try:
        if scheme in ("", "file"):
            path = Path(urllib.parse.urlsplit(ref).path if scheme else ref).expanduser()
            if path.is_dir():
                raise ConfigError(f"checkpoint {shown!r} is a folder, not a file; name the checkpoint file in it")
            if not path.is_file():
                raise ConfigError(f"checkpoint {shown!r} does not exist; give {_EXAMPLES}")
            return ResolvedCheckpoint(str(path.resolve()), None)
        if scheme == "runs":
            return _from_run(ref, cache, tracking_uri)
        if scheme == "models":
            return _from_model(ref, cache, tracking_uri)
        dst = cache / scheme / hashlib.sha256(ref.encode()).hexdigest()[:16]
        path = _download(ref, dst, tracking_uri)
        found = _RUN_IN_PATH.search(ref)
        return ResolvedCheckpoint(path, found.group(1) if found else None)
    except MlflowException as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"checkpoint {shown!r}: {redact_text(first)[:300]}") from None
    except OSError as exc:
        raise ConfigError(f"checkpoint {shown!r}: {redact_text(str(exc))[:300]}") from None


def _download(uri: str, dst: Path, tracking_uri: str | None) -> str:
    """Download the file ``uri`` into ``dst`` (created) and return its path.

    The file arrives in a private temporary folder and is then renamed into place, so
    processes fetching the same URI at once (DDP ranks) never see or break a partial file.
    """
    dst.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=dst)
    try:
        path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=tracking_uri)
        if os.path.isdir(path):
            raise ConfigError(f"checkpoint {redact_text(uri)!r} is a folder of artifacts, not a file; name the file in it")
        final = dst / os.path.basename(path)
        os.replace(path, final)
        return str(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _from_run(ref: str, cache: Path, tracking_uri: str | None) -> ResolvedCheckpoint:
    parts = ref[len("runs:"):].lstrip("/").split("/", 1)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ConfigError(f"checkpoint {ref!r}: a runs:/ URI names a file, e.g. runs:/RUN_ID/checkpoints/best.pth")
    run_id, sub = parts
    MlflowClient(tracking_uri).get_run(run_id)  # a clear 'run not found' before any download
    return ResolvedCheckpoint(_download(ref, cache / "runs" / run_id / hashlib.sha256(sub.encode()).hexdigest()[:8],
                                        tracking_uri), run_id)


def _from_model(ref: str, cache: Path, tracking_uri: str | None) -> ResolvedCheckpoint:
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    spec = ref[len("models:"):].lstrip("/")
    head, _, sub = spec.partition("/")
    if head.startswith("m-"):  # a logged model id
        model = client.get_logged_model(head)
        base, run_id = model.artifact_location.rstrip("/"), model.source_run_id
        label = head
    else:
        if "@" in head:
            name, alias = head.split("@", 1)
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, _, rest = spec.partition("/")
            number, _, sub = rest.partition("/")
            if not number.isdigit():
                raise ConfigError(f"checkpoint {ref!r}: expected models:/NAME@ALIAS, models:/NAME/VERSION or models:/m-ID")
            version = client.get_model_version(name, number)
        # the storage location, not models:/NAME/V: MLflow resolves those with its global registry URI
        base, run_id = client.get_model_version_download_uri(version.name, version.version).rstrip("/"), version.run_id
        label = f"{_SAFE.sub('_', version.name)}/v{version.version}"
    dst = cache / "models" / label
    if sub:
        return ResolvedCheckpoint(_download(f"{base}/{sub}", dst, tracking_uri), run_id)
    for candidate in MODEL_CHECKPOINTS:
        try:
            return ResolvedCheckpoint(_download(f"{base}/{candidate}", dst, tracking_uri), run_id)
        except MlflowException:
            continue
    # not logged by mlpose: recover the weights from the pickled model
    return ResolvedCheckpoint(_state_dict_from_model(base, dst, tracking_uri), run_id)


def _state_dict_from_model(model_uri: str, dst: Path, tracking_uri: str | None) -> str:
    import mlflow.pytorch
    import torch

    dst.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".download-", dir=dst)
    try:
        folder = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp, tracking_uri=tracking_uri)
        model = mlflow.pytorch.load_model(folder, map_location="cpu")
        torch.save({"state_dict": model.state_dict()}, os.path.join(tmp, "checkpoint.pth"))
        os.replace(os.path.join(tmp, "checkpoint.pth"), dst / "checkpoint.pth")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(dst / "checkpoint.pth")


def url_request(url: str) -> urllib.request.Request:
    """A request for ``url``; ``user:password@`` in it becomes a basic-auth header (urllib
    would read it as part of the host name), so the URL sent carries no credentials."""
    clean, user, password = split_credentials(url)
    request = urllib.request.Request(clean)
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request
