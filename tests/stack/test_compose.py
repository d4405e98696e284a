"""docker-compose.yml: valid for Compose, the services a team needs, no secrets in the repo, and
the tracking-server entry point working against the local PostgreSQL."""
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg2
import pytest
import yaml

from mlpose.errors import ConfigError
from mlpose.stack import create_database, drop_database, free_port, kill_process_tree
from mlpose.tracking.access import check_tracking_access

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET")
APT = "apt-get update && apt-get install -y --no-install-recommends docker-compose"


def _env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def _compose(*args, env_file=".env.example"):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip(f"docker-compose not installed; install it with: {APT}")
    # Compose prefers the shell's variables over --env-file: keep secrets of the caller out.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([binary, "--env-file", str(env_file), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_compose_config_validates():
    for profile in ([], ["--profile", "trainer", "--profile", "gpu"]):
        done = _compose(*profile, "config", "-q")
        assert done.returncode == 0, done.stderr


def test_missing_secret_is_named(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = _compose("config", "-q", env_file=empty)
    assert done.returncode != 0
    assert re.search(r"set \w+ in \.env", done.stderr), done.stderr


def test_services_health_restart_and_order(services):
    assert set(services) == {"postgres", "minio", "minio-init", "mlflow", "mlpose", "mlpose-gpu"}
    for name in ("postgres", "minio", "mlflow"):
        assert services[name]["restart"] == "unless-stopped"
        assert services[name]["healthcheck"]["test"], name
    assert "/health" in " ".join(services["mlflow"]["healthcheck"]["test"])
    assert services["mlflow"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
        "minio-init": {"condition": "service_completed_successfully"},
    }
    bucket_cmd = " ".join(services["minio-init"]["command"])
    assert "mc mb --ignore-existing" in bucket_cmd and "MLFLOW_BUCKET" in bucket_cmd


def test_volumes_persist_database_and_artifacts():
    compose = yaml.safe_load(COMPOSE.read_text())
    assert set(compose["volumes"]) == {"postgres-data", "minio-data"}
    assert "postgres-data:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]
    assert "minio-data:/data" in compose["services"]["minio"]["volumes"]
    init = next(v for v in compose["services"]["postgres"]["volumes"] if "initdb.d" in v)
    assert (ROOT / init.split(":")[0]).is_file()


def test_mlflow_server_settings(services):
    mlflow = services["mlflow"]
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    script = ROOT / mlflow["command"][0].replace("/app/", "", 1)
    text = script.read_text()
    for flag in ("--serve-artifacts", "--app-name basic-auth", "--workers 1",
                 '--artifacts-destination "s3://', "--backend-store-uri"):
        assert flag in text, flag
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0


def test_trainers_are_one_off_and_gpu_optional(services):
    for name in ("mlpose", "mlpose-gpu"):
        trainer = services[name]
        assert trainer["profiles"], f"{name} must not start with `docker-compose up`"
        assert trainer["build"] == "." and trainer["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= set(trainer["environment"])
    assert "deploy" not in services["mlpose"]
    device = services["mlpose-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


def test_no_secret_literals_in_repo_files(services):
    example = _env_example()
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{\w+:?[?-][^}]*\}", str(value)), f"{name}.{key} = {value!r}"
    secrets = {k: v for k, v in example.items() if SECRET_NAME.search(k)}
    assert secrets and all(v.startswith("change-me") for v in secrets.values()), secrets
    for path in (COMPOSE, ROOT / "Dockerfile", *sorted((ROOT / "docker").iterdir())):
        text = path.read_text()
        assert not [v for v in secrets.values() if v in text], path
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_env_example_defines_every_required_variable():
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    assert required and required <= set(_env_example())


def test_mlflow_entrypoint_runs_with_auth_against_postgres(postgres_url, tmp_path, monkeypatch):
    """The service's script, run outside Docker: password quoting, ini escaping, auth database."""
    suffix = uuid.uuid4().hex[:10]
    tracking_db, auth_db = f"mlpose_dk_{suffix}", f"mlpose_dk_auth_{suffix}"
    for name in (tracking_db, auth_db):
        create_database(postgres_url, name)
    port = free_port()
    admin_password = "compose-admin-password"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "p@ss:w/rd%x",  # trust auth here
           "POSTGRES_HOST": "127.0.0.1", "POSTGRES_DB": tracking_db, "MLFLOW_AUTH_DB": auth_db,
           "MLFLOW_ADMIN_PASSWORD": admin_password, "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-key",
           "MLFLOW_BUCKET": "mlflow", "MLFLOW_HOST": "127.0.0.1",
           "MLFLOW_INTERNAL_PORT": str(port), "MLFLOW_AUTH_DIR": str(tmp_path / "auth")}
    proc = subprocess.Popen(["sh", str(ROOT / "docker" / "mlflow-server.sh")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                time.sleep(0.3)
        assert proc.poll() is None, "the entry point exited"
        ini = (tmp_path / "auth" / "basic_auth.ini").read_text()
        assert "p%%40ss%%3Aw%%2Frd%%25x" in ini and admin_password not in ini

        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        with pytest.raises(ConfigError, match="refused the credentials"):
            check_tracking_access(url)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin_password)
        check_tracking_access(url)
        # Users live in their own database, as the ini says; the tracking database has none.
        conn = psycopg2.connect(postgres_url.rsplit("/", 1)[0] + f"/{auth_db}")
        with conn, conn.cursor() as cur:
            cur.execute("SELECT username FROM users")
            assert cur.fetchall() == [("admin",)]
        conn.close()
    finally:
        kill_process_tree(proc.pid, popen=proc)
        for name in (tracking_db, auth_db):
            drop_database(postgres_url, name)
