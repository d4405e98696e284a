"""Credentials in a tracking URI or checkpoint URL work and are never shown."""
import base64
import http.server
import threading
import uuid

import pytest

from mlpose.errors import ConfigError
from mlpose.tracking.credentials import adopt_uri_credentials, split_credentials
from mlpose.tracking.runs import resolve_tracking_uri
from mlpose.tracking.uris import resolve_checkpoint

PASSWORD = "s3cr/t:p@ss"  # '/', ':' and '@' percent-encoded in the URI
QUOTED = "s3cr%2Ft%3Ap%40ss"


def test_split_credentials_decodes_and_strips_user_info():
    assert split_credentials(f"http://alice:{QUOTED}@host:5000/x?y=1") == ("http://host:5000/x?y=1", "alice", PASSWORD)
    assert split_credentials("https://host") == ("https://host", None, None)
    assert split_credentials("postgresql://u:p@h/db") == ("postgresql://u:p@h/db", None, None)  # SQLAlchemy's job


def test_tracking_uri_credentials_move_to_mlflow_env(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:{QUOTED}@127.0.0.1:5999")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    assert resolve_tracking_uri({}) == "http://127.0.0.1:5999"
    import os

    assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == ("alice", PASSWORD)
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5999"  # child processes inherit the clean one
    assert adopt_uri_credentials("http://127.0.0.1:5999") == "http://127.0.0.1:5999"


@pytest.fixture
def auth_file_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path`` only with basic auth ``bob:PASSWORD``."""
    expected = "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
    root = tmp_path / "served"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(root), **kw)

        def do_GET(self):
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="ckpt"')
                self.end_headers()
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, server.server_address[1]
    server.shutdown()
    server.server_close()


def test_checkpoint_url_with_credentials_downloads_and_a_refusal_hides_them(auth_file_server, tmp_path):
    root, port = auth_file_server
    (root / "model.pth").write_bytes(b"weights")
    got = resolve_checkpoint(f"http://bob:{QUOTED}@127.0.0.1:{port}/model.pth", cache_dir=tmp_path / "cache")
    assert open(got.path, "rb").read() == b"weights"
    with pytest.raises(ConfigError) as err:
        resolve_checkpoint(f"http://bob:wrong-{uuid.uuid4().hex}@127.0.0.1:{port}/model.pth", cache_dir=tmp_path / "c2")
    assert "401" in str(err.value) and "wrong-" not in str(err.value) and "\n" not in str(err.value)


ADMIN_PASSWORD = "pw-in-the-uri-1234"


@pytest.fixture
def auth_server(postgres_url, tmp_path):
    """A real ``mlflow server`` with basic auth on a fresh PostgreSQL database."""
    from mlpose.stack import TrackingServer, create_database, drop_database

    name = f"mlpose_test_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_url, name)
    try:
        with TrackingServer(url, tmp_path / "artifacts", auth=True, admin_password=ADMIN_PASSWORD) as server:
            yield server
    finally:
        drop_database(postgres_url, name)


@pytest.mark.slow  # ~85 s on 2 shared cores: a real auth server and a training run
def test_training_against_a_uri_with_the_password_works_and_never_shows_it(auth_server, tiny_data, tiny_opts,
                                                                            run_cli, tmp_path):
    from mlflow import MlflowClient

    host = auth_server.url.split("://", 1)[1]
    env = {"MLFLOW_TRACKING_URI": f"http://admin:{ADMIN_PASSWORD}@{host}", "MLFLOW_TRACKING_USERNAME": "",
           "MLFLOW_TRACKING_PASSWORD": ""}
    proc = run_cli(["train", "tiny", "--work-dir", str(tmp_path / "run"), "--experiment", "creds",
                    "--cfg-options", *tiny_opts(tiny_data, 1, width=8)], cwd=tmp_path, env=env)
    assert ADMIN_PASSWORD not in proc.stdout + proc.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "run").rglob("*.log"))
    assert logs and ADMIN_PASSWORD not in logs
    import os

    os.environ.update(MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD)
    try:
        client = MlflowClient(auth_server.url)
        (run,) = client.search_runs([client.get_experiment_by_name("creds").experiment_id])
        assert run.info.status == "FINISHED"
        everything = repr(run.data.params) + repr(run.data.tags)
        assert ADMIN_PASSWORD not in everything
    finally:
        os.environ.pop("MLFLOW_TRACKING_USERNAME")
        os.environ.pop("MLFLOW_TRACKING_PASSWORD")
