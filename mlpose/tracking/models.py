"""A training run's models: the best and the latest checkpoint, each an MLflow 3 LoggedModel.

Each model is the checkpoint as a pyfunc pose model (:mod:`mlpose.inference.pyfunc`: images and
boxes in, keypoints in pixels out; ``mlflow models serve`` serves it), named after its role
(``best`` or ``last``), tagged ``mlpose.role``, recorded as an output of the run at the step
(global iteration) of its checkpoint, with that step's validation metrics linked to it
(``model_id``), so the run's and the experiment's Models tabs list it with its AP. The run tags
``mlpose.model.best`` / ``mlpose.model.last`` hold ``models:/m-<id>`` of the current ones.

Storage stays bounded: when a new model of a role is stored, the run's other models of that
role (superseded, or left unfinished by a killed job) are deleted with their artifacts, unless
they are registered or ``tracking.log_model='all'`` keeps every one. At the end of training
:func:`register_models` registers the current best and latest under ``tracking.register_model``
with the registry aliases ``best`` and ``last`` (MLflow reserves ``latest``: ``models:/NAME/latest``
is the newest version, which, the last checkpoint being registered after the best, is ``@last``).
"""
from __future__ import annotations

import logging
import os
import tempfile

from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
from mlflow.exceptions import MlflowException

from mlpose.errors import ConfigError
from mlpose.tracking.redact import redact_text

logger = logging.getLogger(__name__)

ROLES = ("best", "last")  # the last one registered last: models:/NAME/latest is @last
ROLE_TAG = "mlpose.role"
REGISTERED_TAG = "mlpose.registered"  # 'NAME/VERSION' of the registry version made from the model


def model_policy(tracking: dict) -> bool | str:
    """``tracking.log_model``: True (the current best and latest), ``'all'`` or False."""
    value = tracking.get("log_model", True)
    if value not in (True, False, "all"):
        raise ConfigError(f"tracking.log_model={value!r}: use True (the best and the latest checkpoint as "
                          "MLflow models), 'all' (a model per saved checkpoint) or False (none)")
    return value


def run_tag(role: str) -> str:
    """The run tag holding ``models:/m-<id>`` of the run's current ``role`` model."""
    return f"mlpose.model.{role}"


def log_checkpoint_model(client: MlflowClient, run_id: str, experiment_id: str, checkpoint: str, role: str,
                         step: int, points: list[tuple[str, float, int, int]] | None,
                         keep_superseded: bool = False) -> str:
    """Store ``checkpoint`` as the run's ``role`` pose model at ``step``; returns its model id.

    Args:
        points: ``(key, value, timestamp_ms, step)`` of the run's metric points to link to the
            model: the same points as already logged, so the run's histories do not change.
            None: every metric point the run has at ``step``.
        keep_superseded: keep the run's earlier ``role`` models (``tracking.log_model='all'``).
    """
    from mlflow.models import Model

    from mlpose.inference.pyfunc import save_pose_model

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # else one bar per model in the log
    if points is None:
        points = points_at(client, run_id, step)
    model = client.create_logged_model(experiment_id, name=role, source_run_id=run_id, model_type="pose",
                                       tags={ROLE_TAG: role, "mlpose.step": str(step)})
    try:
        with tempfile.TemporaryDirectory(prefix="mlpose-model-") as tmp:
            folder = os.path.join(tmp, "model")
            save_pose_model(folder, checkpoint, Model(artifact_path=model.artifact_location, run_id=run_id,
                                                      model_uuid=model.model_id, model_id=model.model_id))
            client.log_model_artifacts(model.model_id, folder)
        client.log_outputs(run_id, [LoggedModelOutput(model.model_id, step)])
        if points:
            client.log_batch(run_id, metrics=[Metric(k, v, ts, s, model_id=model.model_id) for k, v, ts, s in points],
                             synchronous=True)
        client.finalize_logged_model(model.model_id, LoggedModelStatus.READY)
    except BaseException:
        _quietly(lambda: client.finalize_logged_model(model.model_id, LoggedModelStatus.FAILED))
        raise
    client.set_tag(run_id, run_tag(role), f"models:/{model.model_id}")
    if not keep_superseded:
        delete_superseded(client, experiment_id, run_id, role, keep=model.model_id)
    return model.model_id


def points_at(client: MlflowClient, run_id: str, step: int) -> list[tuple[str, float, int, int]]:
    """Every metric point of the run at ``step``, as ``(key, value, timestamp_ms, step)``."""
    return [(m.key, m.value, m.timestamp, m.step) for key in client.get_run(run_id).data.metrics
            for m in client.get_metric_history(run_id, key) if m.step == step and m.model_id is None]


def run_models(client: MlflowClient, experiment_id: str, run_id: str) -> list:
    """Every (not deleted) LoggedModel whose source is ``run_id``."""
    found, token = [], None
    while True:
        page = client.search_logged_models([experiment_id], filter_string=f"source_run_id = '{run_id}'",
                                           page_token=token)
        found += list(page)
        token = page.token
        if not token:
            return found


def delete_superseded(client: MlflowClient, experiment_id: str, run_id: str, role: str, keep: str) -> list[str]:
    """Delete the run's ``role`` models other than ``keep`` that are not registered, with their
    artifacts; returns their ids."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    gone = []
    for model in run_models(client, experiment_id, run_id):
        if model.model_id == keep or model.tags.get(ROLE_TAG) != role or REGISTERED_TAG in model.tags:
            continue
        client.delete_logged_model(model.model_id)  # first: a half-deleted model never looks usable
        _quietly(lambda m=model: get_artifact_repository(m.artifact_location).delete_artifacts())
        gone.append(model.model_id)
    return gone


def register_models(client: MlflowClient, run_id: str, name: str) -> dict[str, str]:
    """Register the run's current best and latest models under ``name`` with the aliases ``best``
    and ``last``; returns ``{alias: version}``. A model registered before keeps its version."""
    tags = client.get_run(run_id).data.tags
    versions = {}
    for role in ROLES:
        uri = tags.get(run_tag(role))
        if not uri:
            continue
        model_id = uri.rsplit("/", 1)[-1]
        registered = client.get_logged_model(model_id).tags.get(REGISTERED_TAG, "")
        reg_name, _, version = registered.rpartition("/")
        if reg_name != name:
            _ensure_registered_model(client, name)
            version = client.create_model_version(name, source=uri, run_id=run_id, model_id=model_id).version
            client.set_logged_model_tags(model_id, {REGISTERED_TAG: f"{name}/{version}"})
        client.set_registered_model_alias(name, role, version)
        versions[role] = str(version)
    return versions


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise


def _quietly(fn) -> None:
    try:
        fn()
    except (MlflowException, OSError) as exc:
        text = str(exc).strip()
        # a cleanup refused by an absent server: the lane's one outage warning says it already
        level = logging.INFO if "Max retries exceeded" in text else logging.WARNING
        logger.log(level, "MLflow: %s", redact_text(text.splitlines()[0] if text else repr(exc))[:300])

