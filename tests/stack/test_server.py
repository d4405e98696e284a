"""The tracking-server stack against the local PostgreSQL: logging lands in the database and the
artifact folder, auth refuses strangers, and stopping leaves no process behind."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from mlpose.errors import ConfigError
from mlpose.stack import (ServerStartError, TrackingServer,
                          create_database, drop_database, free_port, process_tree, stop_server)
from mlpose.tracking.access import check_tracking_access

ADMIN_PASSWORD = "admin-password-for-tests"


def _cmdlines(pids):
    out = []
    for pid in pids:
        try:
            out.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            pass
    return out


def _live(pids):
    """The pids among ``pids`` that still run (zombies awaiting their reaper count as gone)."""
    live = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            live.add(pid)
    return live


def _query(db_url, sql, *args):
    conn = psycopg2.connect(db_url.replace("+psycopg2", ""), connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def fresh_db(postgres_url):
    """A new empty database on the local PostgreSQL, dropped after the test; yields its URL."""
    name = f"mlpose_test_{uuid.uuid4().hex[:12]}"
    url = create_database(postgres_url, name)
    yield url
    drop_database(postgres_url, name)


@pytest.fixture
def tracking_stack(fresh_db, tmp_path):
    """A running server (no auth) on a fresh database and a tmp artifact folder.

    Yields ``(server, db_url, artifacts_dir)``; the end-to-end test below uses it too.
    """
    artifacts = tmp_path / "artifacts"
    with TrackingServer(fresh_db, artifacts) as server:
        yield server, fresh_db, artifacts


def test_run_lands_in_postgres_and_artifact_folder(tracking_stack, tmp_path):
    from mlflow import MlflowClient

    server, db_url, artifacts = tracking_stack
    tree = server.pids()
    # The chosen settings: one uvicorn worker and no job runner (no huey consumers).
    assert not [c for c in _cmdlines(tree) if "huey" in c or "_job_runner" in c]
    assert len(tree) <= 3, _cmdlines(tree)

    client = MlflowClient(server.url)
    run = client.create_run(client.create_experiment("stack-test"))
    run_id = run.info.run_id
    client.log_param(run_id, "lr", "0.001")
    for step in range(3):
        client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
    (tmp_path / "notes.txt").write_text("hello from the stack test")
    client.log_artifact(run_id, str(tmp_path / "notes.txt"), artifact_path="outputs")
    client.set_terminated(run_id)

    assert _query(db_url, "SELECT status FROM runs WHERE run_uuid = %s", run_id) == [("FINISHED",)]
    assert _query(db_url, "SELECT value FROM params WHERE run_uuid = %s AND key = 'lr'",
                  run_id) == [("0.001",)]
    steps = _query(db_url, "SELECT step, value FROM metrics WHERE run_uuid = %s AND key = 'loss'"
                   " ORDER BY step", run_id)
    assert steps == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    stored = list(artifacts.rglob("notes.txt"))
    assert len(stored) == 1 and run_id in stored[0].parts
    assert stored[0].read_text() == "hello from the stack test"
    assert [f.path for f in client.list_artifacts(run_id, "outputs")] == ["outputs/notes.txt"]

    server.stop()
    assert process_tree(server.proc.pid) == set()
    assert _live(tree) == set(), _cmdlines(tree)
    with pytest.raises(ConfigError, match="cannot reach tracking server"):
        check_tracking_access(server.url)


@pytest.mark.slow  # orphans of a SIGKILLed parent; CI stops a whole server tree in test_serve_forever_stops_from_another_process
def test_stop_ends_orphaned_workers_and_job_runner(fresh_db, tmp_path):
    # Several uvicorn workers plus MLflow's job runner (the default server runs 4 workers and
    # the runner; 2 workers keep this test light).
    server = TrackingServer(fresh_db, tmp_path / "a", workers=2, job_execution=True).start()
    tree = server.pids()
    assert any("_job_runner" in c for c in _cmdlines(tree)), _cmdlines(tree)
    # The `mlflow server` parent dies hard (OOM killer, kill -9): its children are orphaned and
    # keep the port; stop() still finds them through their process group.
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    time.sleep(1)
    assert _live(tree - {server.proc.pid}), "children should outlive a SIGKILLed parent"
    server.stop()
    assert _live(tree | server.pids()) == set(), _cmdlines(tree)


def test_auth_refuses_strangers_and_admits_admin(fresh_db, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    # Only "localhost" may name the server: requests to 127.0.0.1 show the Host-header error.
    with TrackingServer(fresh_db, tmp_path / "a", auth=True, admin_password=ADMIN_PASSWORD,
                        allowed_hosts="localhost:*") as server:
        url = server.url.replace("127.0.0.1", "localhost")
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        with pytest.raises(ConfigError) as refused:
            check_tracking_access(url)
        message = str(refused.value)
        assert "\n" not in message and url in message
        assert "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in message

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-the-password")
        with pytest.raises(ConfigError, match="refused the credentials"):
            check_tracking_access(url)

        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
        check_tracking_access(url)
        with pytest.raises(ConfigError, match="rejected the Host header '127.0.0.1:"):
            check_tracking_access(server.url)
        client = MlflowClient(url)
        run = client.create_run(client.create_experiment("auth-test"))
        client.log_metric(run.info.run_id, "acc", 0.5)
        assert client.get_run(run.info.run_id).data.metrics == {"acc": 0.5}
    # Users live in the backend database, so they survive a restart.
    assert _query(fresh_db, "SELECT username, is_admin FROM users") == [("admin", True)]


def test_unreachable_server_is_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=f"^cannot reach tracking server at {url}") as err:
        check_tracking_access(url)
    assert "\n" not in str(err.value)
    check_tracking_access(f"sqlite:///{tmp_path / 'local.db'}")  # a local store: made, not probed


def test_start_failure_shows_log_tail(fresh_db, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        server = TrackingServer(fresh_db, tmp_path / "a", port=busy.getsockname()[1])
        with pytest.raises(ServerStartError, match="(?is)exited.*address already in use"):
            server.start()
    assert server.pids() == set()


def test_bad_settings_are_config_errors(postgres_url, tmp_path):
    with pytest.raises(ConfigError, match="at least 12 characters"):
        TrackingServer("sqlite:///x.db", tmp_path, auth=True, admin_password="short")
    with pytest.raises(ConfigError, match="database name 'no-dashes'"):
        create_database(postgres_url, "no-dashes")
    missing = postgres_url.rsplit("/", 1)[0] + f"/mlpose_missing_{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConfigError, match=r"^backend store postgresql://127\.0\.0\.1:5432/mlpose_"):
        TrackingServer(missing, tmp_path).start()


def test_serve_forever_stops_from_another_process(fresh_db, tmp_path):
    port, pid_file = free_port(), tmp_path / "server.json"
    code = ("import sys; from mlpose.stack import serve_forever; "
            "serve_forever(sys.argv[1], sys.argv[2], port=int(sys.argv[3]), pid_file=sys.argv[4])")
    proc = subprocess.Popen([sys.executable, "-c", code, fresh_db, str(tmp_path / "a"), str(port),
                             str(pid_file)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # blocks until the server is healthy (or the child died)
        assert f"http://127.0.0.1:{port}" in line, line
        info = json.loads(pid_file.read_text())
        tree = process_tree(info["server_pid"])
        assert stop_server(port, pid_file=pid_file) is True
        assert proc.wait(timeout=30) == 0
        assert _live(tree) == set()
        assert not pid_file.exists()
        assert stop_server(port, pid_file=pid_file) is False
    finally:
        if proc.poll() is None:
            proc.kill()


SWEEP_RECIPE = """_base_ = [{base!r}]
# EPE (px, lower is better) differs between trials after one epoch; AP is still 0 everywhere.
val_evaluator = dict(_delete_=True, type='EPE', prefix='synth')
sweep = dict(metric='synth/EPE', direction='minimize', sampler='random', pruner='none', max_epochs=1)
"""


def _files_on_disk(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def _files_in_mlflow(client, run_id, path=None) -> dict:
    out = {}
    for a in client.list_artifacts(run_id, path):
        out.update(_files_in_mlflow(client, run_id, a.path) if a.is_dir else {a.path: a.file_size})
    return out


@pytest.mark.postgres

def test_end_to_end_train_resume_test_sweep_against_server(tracking_stack, postgres_url, tiny_data, tiny_opts,
                                                            tmp_path, monkeypatch, run_cli, interrupt_cli):
    """Issue 8's integration check: train (killed mid-epoch) -> resume by run id from an empty
    folder -> test by runs:/ URI -> a 2-worker sweep on its own PostgreSQL database, all against
    one server; then the backend database and the artifact folder hold what MLflow reports."""
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    server, db_url, artifacts_dir = tracking_stack
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    env = {"MLFLOW_TRACKING_URI": server.url, "MLPOSE_CACHE": str(tmp_path / "cache")}  # runs:/ downloads
    client = MlflowClient(server.url)
    opts = tiny_opts(tiny_data, 3, width=8)
    for name in "abcd":
        (tmp_path / name).mkdir()

    def first_checkpoint_uploaded():  # SIGKILL only once the run has something to resume from
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        return bool(runs) and "mlpose.last_checkpoint" in runs[0].data.tags

    rc, out = interrupt_cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *opts], tmp_path / "a", env,
                            until="Epoch(train) [2][2/", sig=signal.SIGKILL, ready=first_checkpoint_uploaded)
    assert rc == -signal.SIGKILL, out[-2000:]
    (killed,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    run_id = killed.info.run_id
    assert killed.info.status == "RUNNING"  # nobody could mark it
    run_cli(["resume", run_id], tmp_path / "b", env)  # another machine: nothing local
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["mlpose.num_resumes"] == "1"

    best = f"runs:/{run_id}/checkpoints/best.pth"
    run_cli(["test", "tiny", best, "--work-dir", "t", "--out", "m.json", "--cfg-options", *opts], tmp_path / "c", env)
    tested = json.loads((tmp_path / "c" / "m.json").read_text())
    (test_run,) = client.search_runs([run.info.experiment_id], f"tags.`mlpose.source_run_id` = '{run_id}'")
    assert test_run.info.status == "FINISHED" and test_run.data.tags["mlpose.checkpoint"] == best
    assert test_run.data.metrics["coco/AP"] == pytest.approx(tested["coco/AP"])

    sweep_db = f"mlpose_sweep_{uuid.uuid4().hex[:10]}"
    storage = create_database(postgres_url, sweep_db)  # Optuna's alembic table would collide with MLflow's
    try:
        recipe = tmp_path / "d" / "tiny-sweep-epe.py"
        recipe.write_text(SWEEP_RECIPE.format(base=str(Path(__file__).resolve().parents[2] / "experiments" / "tiny-sweep.py")))
        searched = ("train_cfg.max_epochs", "randomness.seed")  # the sweep sets them
        sweep_opts = [o for o in opts if not o.startswith(searched) and "_evaluator." not in o] + [
            "default_hooks.checkpoint.save_best=synth/EPE", "default_hooks.checkpoint.rule=less",
            "tracking.log_model=False"]
        run_cli(["sweep", str(recipe), "--workers", "2", "--storage", storage, "--n-trials", "2",
                 "--study-name", "e2e", "--cfg-options", *sweep_opts], tmp_path / "d", env)
        assert _query(storage, "SELECT state, count(*) FROM trials GROUP BY state") == [("COMPLETE", 2)]
        trial_values = sorted(v for (v,) in _query(storage, "SELECT value FROM trial_values"))
    finally:
        drop_database(postgres_url, sweep_db)
    runs = {r.info.run_id: r for r in client.search_runs(
        [e.experiment_id for e in client.search_experiments()], run_view_type=ViewType.ALL, max_results=100)}
    children = [r for r in runs.values() if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) == 5 and len(children) == 2  # train, test, sweep parent, 2 trials
    assert {r.data.tags["mlflow.parentRunId"] for r in children} <= set(runs)
    assert sorted(r.data.metrics["synth/EPE"] for r in children) == pytest.approx(trial_values)

    # The database holds what MLflow reports ...
    assert dict(_query(db_url, "SELECT run_uuid, status FROM runs")) == {i: r.info.status for i, r in runs.items()}
    assert set(_query(db_url, "SELECT status FROM runs")) == {("FINISHED",)}
    per_step = _query(db_url, "SELECT key, step, count(*) FROM metrics WHERE run_uuid = %s GROUP BY key, step", run_id)
    assert per_step and {n for _, _, n in per_step} == {1}  # each step once, resume included
    last_iter = 3 * client.get_metric_history(run_id, "coco/AP")[0].step
    assert sorted(s for k, s, _ in per_step if k == "loss") == list(range(2, last_iter + 1, 2))
    assert dict(_query(db_url, "SELECT key, value FROM params WHERE run_uuid = %s", run_id)) == run.data.params
    # ... and so does the artifact folder, byte for byte where it matters.
    for rid, r in runs.items():
        assert r.info.artifact_uri.startswith("mlflow-artifacts:/"), r.info.artifact_uri
        folder = artifacts_dir / r.info.artifact_uri[len("mlflow-artifacts:/"):]
        assert _files_on_disk(folder) == _files_in_mlflow(client, rid), rid
    stored = artifacts_dir / run.info.artifact_uri[len("mlflow-artifacts:/"):] / "checkpoints" / "last.pth"
    assert stored.read_bytes() == (tmp_path / "b" / "work_dirs" / run_id / "epoch_3.pth").read_bytes()
    # The best epoch came before the kill: the run's best model (logged before the kill, or by the
    # resumed job from the run's best.pth) holds its weights; the last model holds epoch 3's.
    import torch

    for role, name in (("best", "best.pth"), ("last", "last.pth")):
        model = client.get_logged_model(run.data.tags[f"mlpose.model.{role}"].split("/")[-1]).artifact_location
        logged = torch.load(artifacts_dir / model[len("mlflow-artifacts:/"):] / "artifacts" / "checkpoint.pth")
        trained = torch.load(stored.parent / name)
        assert logged["state"] == trained["state"], role
        assert all(torch.equal(v, trained["state_dict"][k]) for k, v in logged["state_dict"].items()), role
