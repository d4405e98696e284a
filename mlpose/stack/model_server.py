"""``mlflow models serve`` as a managed subprocess: the served pose model for tests, benchmarks and
a local try-out.

    with ModelServer("models:/pose@best", tracking_uri=uri) as server:
        requests.post(f"{server.url}/invocations", json={"dataframe_records": [...]})

The server runs with ``--env-manager local`` (this Python, so mlpose must be importable: installed,
or on ``PYTHONPATH``), one uvicorn worker, in its own session; ``stop()`` ends its process tree.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlpose.stack.server import ServerStartError, answers, file_tail, free_port, kill_process_tree


class ModelServer:
    """One ``mlflow models serve -m MODEL_URI`` process on ``host:port``.

    Args:
        model_uri: ``models:/NAME@ALIAS``, ``models:/m-ID``, ``runs:/...`` or a model folder.
        tracking_uri: where ``models:/`` and ``runs:/`` URIs are looked up (default: inherited env).
        port: TCP port; 0 picks a free one.
        env: extra environment variables of the server process.
        startup_timeout_s: seconds to wait for ``GET /ping``.
    """

    def __init__(self, model_uri: str, tracking_uri: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 env: dict[str, str] | None = None, startup_timeout_s: float = 180.0):
        self.model_uri, self.tracking_uri, self.host = model_uri, tracking_uri, host
        self.port = port or free_port(host)
        self.extra_env = dict(env or {})
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None
        self._log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "mlflow", "models", "serve", "-m", self.model_uri, "--env-manager", "local",
                "--host", self.host, "--port", str(self.port), "--workers", "1"]

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **self.extra_env}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # its `uvicorn`
        if self.tracking_uri:
            env["MLFLOW_TRACKING_URI"] = self.tracking_uri
        return env

    def start(self) -> "ModelServer":
        """Start the server and block until ``/ping`` answers 200.

        Raises:
            ServerStartError: the process exited or did not answer in time (with its log tail).
        """
        fd, log = tempfile.mkstemp(prefix="mlpose-model-server-", suffix=".log")
        self._log = Path(log)
        t0 = time.monotonic()
        with os.fdopen(fd, "wb") as out:
            self.proc = subprocess.Popen(self.command(), env=self._environment(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        while not self.healthy():
            failed = self.proc.poll() is not None
            if failed or time.monotonic() - t0 > self.startup_timeout_s:
                tail = self.log_tail()
                self.stop()
                why = f"exited with code {self.proc.returncode}" if failed else \
                    f"did not answer /ping within {self.startup_timeout_s:.0f} s"
                raise ServerStartError(f"mlflow models serve -m {self.model_uri} {why}; log:\n{tail}")
            time.sleep(0.25)
        self.startup_s = time.monotonic() - t0
        return self

    def healthy(self) -> bool:
        return answers(f"{self.url}/ping")

    def log_tail(self, num_lines: int = 30) -> str:
        return file_tail(self._log, num_lines)

    def stop(self, grace_s: float = 10.0) -> None:
        """End the server's process tree (SIGTERM, then SIGKILL); idempotent."""
        if self.proc is not None:
            left = kill_process_tree(self.proc.pid, grace_s, popen=self.proc)
            if left:
                raise RuntimeError(f"model server processes {sorted(left)} survived SIGKILL")
            self.proc.wait(timeout=5)
            self.proc = None
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
