"""An MLflow tracking server run as a managed subprocess: the team stack without Docker.

``TrackingServer`` starts ``mlflow server`` in its own session, waits for ``/health`` and, on
``stop()``, ends its whole process tree. The tree matters: ``mlflow server`` forks a uvicorn
supervisor with worker processes and (unless job execution is off) a job runner with seven huey
consumers. When the parent dies hard (SIGKILL, the OOM killer) they keep running and hold the
port, so ``stop()`` signals the process group and every descendant, not just the parent.

Settings chosen from measurements (``benchmarks/server_latency.py``, docs/team.md): one worker and
``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``, because the default four workers plus the job runner
make each synchronous logging call slower and use several times the memory.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from mlpose.errors import ConfigError, first_line
from mlpose.tracking.redact import environ_snapshot


class ServerStartError(RuntimeError):
    """The tracking server exited or did not answer ``/health`` in time; carries its log tail."""


def sqlalchemy_url(url: str) -> str:
    """Return ``url`` with the psycopg2 driver spelled out for bare PostgreSQL URLs.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3, which mlpose does not install;
    psycopg2 is its dependency. Other URLs (``sqlite:///``, ``postgresql+driver://``) pass through.
    MLflow backend stores and Optuna storages both take the returned URL.
    """
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg2://", url)


def _proc_table() -> dict[int, tuple[int, int, str]]:
    """Map pid -> (ppid, pgid, state) for every live process, read from /proc."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # The command name may contain spaces or parentheses: split after the last ')'.
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        table[int(entry)] = (int(fields[1]), int(fields[2]), fields[0])
    return table


def _alive(pids: set[int]) -> set[int]:
    table = _proc_table()
    return {p for p in pids if p in table and table[p][2] != "Z"}


def process_tree(pid: int) -> set[int]:
    """Live pids of ``pid``, its descendants and its process group (zombies excluded)."""
    table = _proc_table()
    found = {p for p, (_, pgid, _) in table.items() if pgid == pid} | {pid}
    frontier = list(found)
    while frontier:
        parent = frontier.pop()
        for p, (ppid, _, _) in table.items():
            if ppid == parent and p not in found:
                found.add(p)
                frontier.append(p)
    return {p for p in found if p in table and table[p][2] != "Z"}


def _signal_all(pids: set[int], pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
    for p in pids:  # descendants that escaped the group (setsid) still get the signal
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


def kill_process_tree(pid: int, grace_s: float = 10.0,
                      popen: subprocess.Popen | None = None) -> set[int]:
    """SIGTERM the group and tree of ``pid``, SIGKILL what is left after ``grace_s`` seconds.

    Returns:
        The pids still alive afterwards (empty when the tree is gone).
    """
    pids = process_tree(pid)
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        _signal_all(pids, pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if popen is not None:
                popen.poll()  # reap our own child so it does not linger as a zombie
            pids = _alive(pids) | process_tree(pid)
            if not pids:
                return set()
            time.sleep(0.1)
    return pids


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def check_backend(backend_uri: str) -> None:
    """Raise a one-line ConfigError when a PostgreSQL backend does not accept a connection."""
    if not backend_uri.startswith("postgresql"):
        return
    import psycopg2

    url = re.sub(r"^postgresql\+\w+://", "postgresql://", backend_uri)
    try:
        psycopg2.connect(url, connect_timeout=5).close()
    except psycopg2.OperationalError as e:
        first = first_line(e)
        where = re.sub(r"//[^@/]*@", "//", url)  # never echo a password
        raise ConfigError(f"backend store {where}: {first} (create the database, e.g. "
                          "`createdb -h HOST -U USER NAME`, or fix --backend-store-uri)") from None


def answers(url: str, timeout_s: float = 2.0) -> bool:
    """True when ``GET url`` returns 200 (a server's health or ping route)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def file_tail(path: Path | None, num_lines: int = 30) -> str:
    """The last ``num_lines`` lines of a server's log file; ``(no log)`` when there is none."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except (OSError, AttributeError):
        return "(no log)"
    return "\n".join(lines[-num_lines:])


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class TrackingServer:
    """``mlflow server`` as a context-managed subprocess serving artifacts from a folder or bucket.

    Args:
        backend_uri: SQLAlchemy URL of the backend store (``postgresql://...``, ``sqlite:///...``).
        artifacts_dir: local folder (created) or ``s3://bucket/`` URI (``--artifacts-destination``).
        host: interface to bind; ``0.0.0.0`` to serve other machines.
        port: TCP port; 0 picks a free one.
        workers: uvicorn workers; ``None`` keeps MLflow's default (4).
        auth: turn on MLflow basic auth (``--app-name basic-auth``).
        admin_password: password (>= 12 characters) of the admin user created on first start.
        secret_key: Flask secret for CSRF; a random one when None (fine for a single server).
        admin_username: name of that admin user.
        auth_db_uri: users/permissions database. Default: the backend database itself when it is
            one (MLflow's auth tables and version table do not collide with the tracking ones, and
            users survive restarts), else a SQLite file in a private temp folder.
        job_execution: keep MLflow's job runner (off by default; mlpose uses no server jobs).
        allowed_hosts: ``--allowed-hosts``, host names clients may use, e.g.
            ``"mlflow.lab.org:5000,10.*"``; None: ``$MLFLOW_SERVER_ALLOWED_HOSTS``, else MLflow's
            default (localhost and private IPs).
        log_path: file for the server's stdout/stderr; default in the private temp folder.
        startup_timeout_s: seconds to wait for ``/health``.
    """

    def __init__(self, backend_uri: str, artifacts_dir: str | os.PathLike,
                 host: str = "127.0.0.1", port: int = 0, workers: int | None = 1,
                 auth: bool = False, admin_password: str | None = None, secret_key: str | None = None,
                 admin_username: str = "admin", auth_db_uri: str | None = None,
                 job_execution: bool = False, allowed_hosts: str | None = None,
                 log_path: str | os.PathLike | None = None, startup_timeout_s: float = 120.0):
        if auth and (not admin_password or len(admin_password) < 12):
            raise ConfigError("admin_password: basic auth needs an admin password of at least 12 "
                              "characters (MLflow's minimum); pass one or set MLFLOW_ADMIN_PASSWORD")
        self.backend_uri = sqlalchemy_url(backend_uri)
        dest = str(artifacts_dir)
        self.artifacts_destination = dest if "://" in dest else str(Path(dest).resolve())
        self.host, self.port, self.workers = host, port or free_port(host), workers
        self.auth, self.admin_username, self.admin_password = auth, admin_username, admin_password
        self.secret_key, self.auth_db_uri = secret_key, auth_db_uri
        self.job_execution, self.allowed_hosts = job_execution, allowed_hosts
        self.log_path = Path(log_path) if log_path else None
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.startup_s: float | None = None
        self._workdir: str | None = None
        self._log: Path | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the server (``127.0.0.1`` when bound to all interfaces)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def command(self) -> list[str]:
        """The ``mlflow server`` argv this object runs."""
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend_uri,
               "--serve-artifacts", "--artifacts-destination", self.artifacts_destination,
               "--host", self.host, "--port", str(self.port)]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        if self.auth:
            cmd += ["--app-name", "basic-auth"]
        if self.allowed_hosts:
            cmd += ["--allowed-hosts", self.allowed_hosts]
        return cmd

    def _environment(self) -> dict[str, str]:
        env = environ_snapshot()
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "true" if self.job_execution else "false"
        if self.auth:
            auth_db = self.auth_db_uri or (self.backend_uri if "://" in self.backend_uri
                                           and not self.backend_uri.startswith("file:")
                                           else f"sqlite:///{self._workdir}/basic_auth.db")
            ini = Path(self._workdir) / "basic_auth.ini"
            # configparser interpolates '%': URL-escaped passwords must be doubled.
            ini.write_text("[mlflow]\ndefault_permission = READ\n"
                           f"database_uri = {sqlalchemy_url(auth_db).replace('%', '%%')}\n"
                           f"admin_username = {self.admin_username}\n"
                           "authorization_function = "
                           "mlflow.server.auth:authenticate_request_basic_auth\n")
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
            # The password goes through the environment (MLflow reads it before the ini) so that
            # it never lands on disk.
            env["MLFLOW_AUTH_ADMIN_PASSWORD"] = self.admin_password
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = self.secret_key or os.urandom(24).hex()
        return env

    def start(self) -> "TrackingServer":
        """Start the server and block until ``/health`` answers.

        Raises:
            ServerStartError: the process exited or ``startup_timeout_s`` passed; the message ends
                with the last lines of the server log.
        """
        check_backend(self.backend_uri)
        self._workdir = tempfile.mkdtemp(prefix="mlpose-server-")
        if "://" not in self.artifacts_destination:
            Path(self.artifacts_destination).mkdir(parents=True, exist_ok=True)
        log_path = self.log_path or Path(self._workdir) / "server.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path
        t0 = time.monotonic()
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), env=self._environment(), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        while True:
            if self.proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise ServerStartError(f"mlflow server exited with code {self.proc.returncode} "
                                       f"before {self.url}/health answered; log:\n{tail}")
            if self.healthy():
                self.startup_s = time.monotonic() - t0
                return self
            if time.monotonic() - t0 > self.startup_timeout_s:
                tail = self.log_tail()
                self.stop()
                raise ServerStartError(f"mlflow server at {self.url} did not answer /health within "
                                       f"{self.startup_timeout_s:.0f} s; log:\n{tail}")
            time.sleep(0.2)

    def healthy(self) -> bool:
        """True when ``GET /health`` returns 200."""
        return answers(f"{self.url}/health")

    def log_tail(self, num_lines: int = 30) -> str:
        """The last ``num_lines`` lines of the server log."""
        return file_tail(self._log, num_lines)

    def pids(self) -> set[int]:
        """Live pids of the server's process tree (empty once stopped)."""
        return process_tree(self.proc.pid) if self.proc else set()

    def stop(self, grace_s: float = 10.0) -> None:
        """End the whole process tree (SIGTERM, then SIGKILL after ``grace_s``); idempotent."""
        if self.proc is not None:
            left = kill_process_tree(self.proc.pid, grace_s, popen=self.proc)
            if left:
                raise RuntimeError(f"tracking server processes {sorted(left)} survived SIGKILL")
            self.proc.wait(timeout=5)
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> "TrackingServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def pid_file_for(port: int) -> Path:
    """Where ``serve_forever`` on ``port`` records its pids for ``stop_server``."""
    return Path.home() / ".cache" / "mlpose" / f"tracking-server-{port}.json"


def serve_forever(backend_store_uri: str, artifacts_dir: str | os.PathLike,
                  host: str = "127.0.0.1", port: int = 5000, auth: bool = False,
                  admin_password: str | None = None, echo=print, pid_file: str | os.PathLike | None = None, **server_kwargs) -> None:
    """Run a TrackingServer in the foreground until Ctrl-C, SIGTERM or ``stop_server``.

    Args:
        backend_store_uri, artifacts_dir, host, port, auth: as for ``TrackingServer``.
        admin_password: default ``$MLFLOW_ADMIN_PASSWORD``; the Flask secret defaults to
            ``$MLFLOW_FLASK_SERVER_SECRET_KEY`` (random when unset).
        echo: called with one-line status messages (the URL once it is healthy).
        pid_file: JSON file with this process's pid and the URL; default ``pid_file_for(port)``.
        **server_kwargs: other ``TrackingServer`` arguments (workers, auth_db_uri, log_path, ...).
    """
    if auth:
        admin_password = admin_password or os.environ.get("MLFLOW_ADMIN_PASSWORD")
        server_kwargs.setdefault("secret_key", os.environ.get("MLFLOW_FLASK_SERVER_SECRET_KEY"))
    pid_file = Path(pid_file or pid_file_for(port))
    server = TrackingServer(backend_store_uri, artifacts_dir, host=host, port=port, auth=auth,
                            admin_password=admin_password, **server_kwargs)
    # SIGTERM (from stop_server or a service manager) takes the same clean path as Ctrl-C.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.start()
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(json.dumps({"pid": os.getpid(), "server_pid": server.proc.pid,
                                        "url": server.url}))
        echo(f"MLflow tracking server at {server.url} (started in {server.startup_s:.1f} s); "
             f"Ctrl-C or `mlpose server stop` stops it")
        while server.proc.poll() is None:
            time.sleep(0.5)
        echo(f"tracking server exited with code {server.proc.returncode}:\n{server.log_tail()}")
    except KeyboardInterrupt:
        echo("stopping the tracking server")
    finally:
        server.stop()
        pid_file.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, previous)


def stop_server(port: int = 5000, pid_file: str | os.PathLike | None = None,
                timeout_s: float = 30.0) -> bool:
    """Stop a server started by ``serve_forever``; False when none is recorded for ``port``."""
    pid_file = Path(pid_file or pid_file_for(port))
    if not pid_file.exists():
        return False
    info = json.loads(pid_file.read_text())
    # A stale file may name pids that now belong to other programs: check before signalling.
    if "mlpose" in _cmdline(info["pid"]):
        os.kill(info["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive({info["pid"]}):
            time.sleep(0.2)
    # The supervisor died without cleaning up (e.g. SIGKILL): end the server tree directly.
    if any("mlflow" in _cmdline(p) for p in process_tree(info["server_pid"])):
        kill_process_tree(info["server_pid"])
    pid_file.unlink(missing_ok=True)
    return True
