"""Creating a new SQLite tracking store from several processes at once.

MLflow creates and migrates the schema of a new SQLite database on the first client call; two
processes doing so at the same moment collide (``table runs already exists``, or alembic's
``Online migration expected to match one row``). The first call is made under an exclusive
file lock next to the database, so the second process waits and then finds the tables made.
"""
from __future__ import annotations

import fcntl
import os

LOCK_SUFFIX = ".init.lock"


def sqlite_path(uri: str) -> str | None:
    """The database file of a ``sqlite:///`` URI (relative or absolute), None for other URIs
    and in-memory databases."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else os.path.abspath(path)


def ensure_store(uri: str) -> None:
    """Make sure the tracking store at ``uri`` exists with its schema (SQLite: under a lock)."""
    path = sqlite_path(uri)
    if path is None:
        return
    from mlflow import MlflowClient

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + LOCK_SUFFIX, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            MlflowClient(tracking_uri=uri).search_experiments(max_results=1)  # creates and migrates the schema
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
