"""Creating a new SQLite tracking store from several processes at once.

MLflow creates and migrates the schema of a new SQLite database on the first client call; two
processes doing so at the same moment collide (``table runs already exists``, or alembic's
``Online migration expected to match one row``). The first call is made under an exclusive
file lock next to the database, so the second process waits and then finds the tables made.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os

from mlpose.errors import ConfigError
from mlpose.runtime.folders import check_writable, make_dirs

LOCK_SUFFIX = ".init.lock"
SCHEMA_LOGGERS = ("mlflow.store.db.utils", "alembic")


def sqlite_path(uri: str) -> str | None:
    """The database file of a ``sqlite:///`` URI (relative or absolute), None for other URIs
    and in-memory databases."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else os.path.abspath(path)


def ensure_store(uri: str) -> None:
    """Make sure the tracking store at ``uri`` exists with its schema (SQLite: under a lock).

    Raises:
        ConfigError: the SQLite file or its folder cannot be created or written (a read-only
            folder, a file in the way), in one line naming the store and the path.
    """
    path = sqlite_path(uri)
    if path is None:
        return
    from mlflow import MlflowClient

    fix = "choose a writable place for it (MLFLOW_TRACKING_URI or tracking.uri)"
    make_dirs(os.path.dirname(path), "folder", hint=f"the tracking store {uri} needs it: {fix}")
    for target in (path, os.path.dirname(path)):  # SQLite writes the file and a journal beside it
        if os.path.exists(target) and not os.access(target, os.W_OK):
            raise ConfigError(f"tracking store {uri}: {target} is not writable; {fix}")
    try:
        lock = open(path + LOCK_SUFFIX, "a")
    except OSError as exc:
        raise ConfigError(f"tracking store {uri}: cannot write in {os.path.dirname(path)} ({exc.strerror}); "
                          f"{fix}") from None
    with lock, _quiet(SCHEMA_LOGGERS):
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)  # creates and migrates the schema
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet(names: tuple[str, ...]):
    """Only warnings and errors of the loggers ``names`` while inside (MLflow's and alembic's
    table-creation INFO lines, which every command on a new store would print)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def check_artifact_root(client, experiment_id: str) -> None:
    """Fail in one line when the experiment keeps its artifacts in a local folder that cannot
    be written (an experiment created from a read-only working folder: MLflow put its
    ``./mlruns`` there): else the run trains to the end and stores no checkpoint or model.

    Raises:
        ConfigError: naming the experiment, the folder and the reason.
    """
    from urllib.parse import unquote, urlparse

    exp = client.get_experiment(experiment_id)
    location = exp.artifact_location or ""
    parsed = urlparse(location)
    if parsed.scheme not in ("", "file"):
        return  # a server or a bucket: its own access check answers
    folder = unquote(parsed.path) if parsed.scheme else location
    check_writable(folder, f"artifact folder of the MLflow experiment {exp.name!r}", folder=True,
                   hint="use another experiment (--experiment) or restore write access")
