"""The team stack run locally: a tracking-server process, its databases, and client checks.

Server side lives in :mod:`mlpose.stack.server` (and the served pose model's in
:mod:`mlpose.stack.model_server`); this module adds ``create_database`` /
``drop_database`` (a fresh PostgreSQL database per test or per team stack). The client-side check
of a server (``check_tracking_access``) lives in :mod:`mlpose.tracking.access`.
"""
from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request

from mlpose.errors import ConfigError
from mlpose.stack.model_server import ModelServer
from mlpose.stack.server import (ServerStartError, TrackingServer, free_port, kill_process_tree,
                                 pid_file_for, process_tree, serve_forever, sqlalchemy_url,
                                 stop_server)

__all__ = ["ModelServer", "ServerStartError", "TrackingServer", "create_database",
           "drop_database", "free_port", "kill_process_tree", "pid_file_for", "process_tree",
           "serve_forever", "sqlalchemy_url", "stop_server"]


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
