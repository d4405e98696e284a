"""Credentials written into an HTTP tracking URI (``http://user:pw@host:port``).

MLflow's client sends basic auth from ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``,
not from the URI (requests to ``http://user:pw@host`` fail before they leave: the client and
urllib read ``user:pw@host`` as a host name). So mlpose moves them there, for this process and
the processes it starts, and uses the URI without them: no message, log, tag or param can show
what is no longer in it.
"""
from __future__ import annotations

import os
import urllib.parse

USERNAME_VAR, PASSWORD_VAR = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """``(uri without user info, user, password)``, user and password percent-decoded; for a
    URI with no user info (or not http(s)) ``(uri, None, None)``."""
    if not uri.startswith(("http://", "https://")):
        return uri, None, None
    parts = urllib.parse.urlsplit(uri)
    if "@" not in parts.netloc:
        return uri, None, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    clean = urllib.parse.urlunsplit(parts._replace(netloc=host))
    return clean, urllib.parse.unquote(user) or None, urllib.parse.unquote(password) if password else None


def adopt_uri_credentials(uri: str) -> str:
    """Move the user and password of an http(s) ``uri`` into MLflow's environment variables
    (they take precedence over ones already set: the URI is the more specific choice) and
    return the URI without them; ``MLFLOW_TRACKING_URI`` is rewritten too when it held them."""
    clean, user, password = split_credentials(uri)
    if clean == uri:
        return uri
    if user:
        os.environ[USERNAME_VAR] = user
    if password is not None:
        os.environ[PASSWORD_VAR] = password
    if os.environ.get("MLFLOW_TRACKING_URI") == uri:
        os.environ["MLFLOW_TRACKING_URI"] = clean
    return clean
