"""The team stack run locally: a tracking-server process, its databases, and client checks.

Server side lives in :mod:`mlpose.stack.server`; this module adds what clients and tests call:
``check_tracking_access`` (run at the start of every tracked command) and ``create_database`` /
``drop_database`` (a fresh PostgreSQL database per test or per team stack).
"""
from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

from mlpose.registry import ConfigError
from mlpose.stack.server import (ServerStartError, TrackingServer, free_port, kill_process_tree,
                                 pid_file_for, process_tree, serve_forever, sqlalchemy_url,
                                 stop_server)

__all__ = ["ServerStartError", "TrackingServer", "check_tracking_access", "create_database",
           "drop_database", "free_port", "kill_process_tree", "pid_file_for", "process_tree",
           "serve_forever", "sqlalchemy_url", "stop_server"]


def check_tracking_access(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, when an HTTP tracking server is unreachable or refuses us.

    Makes one cheap authenticated call (``search_experiments(max_results=1)``) with the
    credentials MLflow itself would use (``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` or
    ``MLFLOW_TRACKING_TOKEN``). Non-HTTP URIs (``sqlite:``, ``file:``, paths) need no check.

    Raises:
        ConfigError: the server cannot be reached, refuses the credentials (401/403), or
            rejects the Host header (``--allowed-hosts``).
    """
    if not uri.startswith(("http://", "https://")):
        return
    base = uri.rstrip("/")
    try:
        # MLflow's own client retries refused connections for minutes; this probe does not.
        urllib.request.urlopen(f"{base}/health", timeout=timeout_s).close()
    except urllib.error.HTTPError:
        pass  # it answered: reachable (a proxy or a static prefix may 404 /health)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ConfigError(f"cannot reach tracking server at {uri} ({reason}): start it "
                          "(`mlpose server start` or `docker-compose up -d`) or fix "
                          "MLFLOW_TRACKING_URI") from None
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except MlflowException as e:
        status = e.get_http_status_code()
        if status == 403 and "host" in str(e).lower():
            host = urllib.parse.urlparse(uri).netloc
            raise ConfigError(f"tracking server at {uri} rejected the Host header {host!r}: add "
                              "it to the server's --allowed-hosts (MLFLOW_ALLOWED_HOSTS in "
                              ".env)") from None
        if status in (401, 403):
            raise ConfigError(f"tracking server at {uri} refused the credentials: set "
                              "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD") from None
        raise


def _libpq_url(url: str) -> str:
    """``postgresql+psycopg2://...`` -> ``postgresql://...`` (psycopg2 wants the plain scheme)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def _admin_connection(admin_url: str):
    import psycopg2

    conn = psycopg2.connect(_libpq_url(admin_url), connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    return conn


def create_database(admin_url: str, name: str) -> str:
    """Create an empty PostgreSQL database ``name`` (dropping one of that name first).

    Args:
        admin_url: URL of any database on the server, as a user allowed to create databases,
            e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``.
        name: database name: letters, digits and underscores.

    Returns:
        The SQLAlchemy URL of the new database (same server and user, psycopg2 driver).
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise ConfigError(f"database name {name!r}: use letters, digits and underscores "
                          "(at most 63, not starting with a digit)")
    from psycopg2 import sql

    drop_database(admin_url, name)
    conn = _admin_connection(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    parts = urllib.parse.urlsplit(sqlalchemy_url(admin_url))
    return urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(admin_url: str, name: str) -> None:
    """Drop database ``name`` if it exists, closing other sessions on it (PostgreSQL >= 13)."""
    from psycopg2 import sql

    conn = _admin_connection(admin_url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                        .format(sql.Identifier(name)))
    finally:
        conn.close()
