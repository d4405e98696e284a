"""A tracked command's first contact with its tracking server: one clear line when it fails."""
from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

from mlpose.errors import ConfigError
from mlpose.tracking.store_init import ensure_store


def check_tracking_access(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, in one line, when an HTTP tracking server is unreachable or refuses us.

    Makes one cheap authenticated call (``search_experiments(max_results=1)``) with the
    credentials MLflow itself would use (``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` or
    ``MLFLOW_TRACKING_TOKEN``). Non-HTTP URIs need no check; a new SQLite store is created
    here under a file lock (:mod:`mlpose.tracking.store_init`): processes started together
    would collide creating its tables.

    Raises:
        ConfigError: the server cannot be reached, refuses the credentials (401/403), or
            rejects the Host header (``--allowed-hosts``).
    """
    if not uri.startswith(("http://", "https://")):
        ensure_store(uri)  # a new SQLite store: created under a lock (concurrent first starts)
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
