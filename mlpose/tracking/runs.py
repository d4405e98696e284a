"""Where a job's MLflow run is: the tracking URI, the experiment, an existing run and what it
already holds (see :mod:`mlpose.tracking.tracker` for the order in which they are chosen)."""
from __future__ import annotations

import os
import re
from typing import Mapping

from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from mlpose.errors import ConfigError
from mlpose.tracking.credentials import adopt_uri_credentials
from mlpose.tracking.redact import redact_text


def resolve_tracking_uri(cfg: Mapping | None = None, explicit: str | None = None) -> str:
    """The tracking URI a job uses (see the module docstring for the order)."""
    tracking = (cfg or {}).get("tracking") or {}
    uri = explicit or os.environ.get("MLFLOW_TRACKING_URI") or tracking.get("uri")
    if not uri:
        return f"sqlite:///{os.path.abspath('mlflow.db')}"
    uri = str(uri)
    if uri.startswith("file:") or "://" not in uri and not uri.startswith(("databricks", "uc")):
        raise ConfigError(
            f"tracking URI {redact_text(uri)!r}: MLflow 3.13+ refuses the file store; use "
            "sqlite:///path/to/mlflow.db or an http(s):// tracking server (MLFLOW_TRACKING_URI or tracking.uri)")
    uri = adopt_uri_credentials(uri)  # http://user:pw@host: user and password move to MLflow's env
    # SQLAlchemy 2.1 maps postgresql:// to psycopg 3; mlpose installs psycopg2.
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", uri)


def experiment_id(client: MlflowClient, cfg: Mapping, config_name: str, experiment: str | None,
                  default: str | None = None) -> str:
    """The id of the experiment named by ``experiment``, ``$MLFLOW_EXPERIMENT_NAME``,
    ``$MLFLOW_EXPERIMENT_ID``, ``cfg.tracking.experiment``, ``default`` or ``config_name``
    (the first set), created when new."""
    name = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name and os.environ.get("MLFLOW_EXPERIMENT_ID"):
        return os.environ["MLFLOW_EXPERIMENT_ID"]
    name = name or ((cfg.get("tracking") or {}).get("experiment")) or default or config_name
    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name)
        except MlflowException as exc:  # another process created it first
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            exp = client.get_experiment_by_name(name)
    if exp.lifecycle_stage == "deleted":
        raise ConfigError(f"MLflow experiment {name!r} is deleted; restore it "
                          f"(mlflow experiments restore --experiment-id {exp.experiment_id}) or pick another name")
    return exp.experiment_id


def new_run_name(client: MlflowClient, experiment_id: str, base: str) -> str:
    """``<base>-<n>``, n one more than the highest of the experiment's runs named so (deleted
    runs count, so a number is never given twice). Counted, not drawn: MLflow's random names
    come from the RNG the training seed has fixed, so every run got the same one."""
    pattern = re.compile(rf"^{re.escape(base)}-(\d+)(-[0-9a-f]+)?$")
    # LIKE narrows the search ('_' and '%' in a name only widen it; the pattern decides)
    where = f"attributes.run_name LIKE '{base}-%'" if "'" not in base else ""
    highest, token = 0, None
    while True:
        page = client.search_runs([experiment_id], filter_string=where, run_view_type=ViewType.ALL,
                                  max_results=1000, page_token=token)
        for run in page:
            match = pattern.match(run.info.run_name or "")
            if match:
                highest = max(highest, int(match.group(1)))
        token = page.token
        if not token:
            return f"{base}-{highest + 1}"


def make_name_unique(client: MlflowClient, run) -> str:
    """Rename ``run`` to ``<name>-<run id's first 6>`` when another run of its experiment got the
    same name (two jobs counted at the same moment); returns the name it has."""
    name = run.info.run_name
    if not name or "'" in name:
        return name
    same = client.search_runs([run.info.experiment_id], filter_string=f"attributes.run_name = '{name}'",
                              run_view_type=ViewType.ALL, max_results=2)
    if len(same) > 1:
        name = f"{name}-{run.info.run_id[:6]}"
        client.update_run(run.info.run_id, name=name)
    return name


def get_existing_run(client: MlflowClient, run_id: str, uri: str, action: str = ""):
    """``client.get_run(run_id)``, or a one-line ConfigError when the run is missing or deleted.

    Args:
        action: what was being tried, put first in the message (e.g. ``'cannot resume: '``).
    """
    try:
        run = client.get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise ConfigError(f"{action}MLflow run {run_id!r} not found at tracking URI {redact_text(uri)!r}; "
                              "check the run id and MLFLOW_TRACKING_URI") from None
        raise
    if run.info.lifecycle_stage == "deleted":
        raise ConfigError(f"{action}MLflow run {run_id!r} is deleted; restore it "
                          f"(mlflow runs restore --run-id {run_id}) first")
    return run


def _attach(client: MlflowClient, run_id: str, uri: str):
    run = get_existing_run(client, run_id, uri)
    client.update_run(run_id, status="RUNNING")
    return run


def last_steps(client: MlflowClient, run) -> dict[str, int]:
    """Highest step already stored per metric key of an attached run."""
    return {key: max(m.step for m in hist)
            for key in run.data.metrics if (hist := client.get_metric_history(run.info.run_id, key))}
