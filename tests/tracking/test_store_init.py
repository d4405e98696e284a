"""Processes started at the same moment on a new SQLite tracking store all get it (no
``table runs already exists``): real processes, a real MLflow store."""
import subprocess
import sys

from mlpose.tracking.store_init import sqlite_path

SCRIPT = """
import sys, time
from mlpose.tracking.access import check_tracking_access
from mlflow import MlflowClient
while time.time() < float(sys.argv[2]):  # start together
    time.sleep(0.005)
check_tracking_access(sys.argv[1])
client = MlflowClient(sys.argv[1])
client.create_run(client.create_experiment(sys.argv[3]))
print("ok")
"""


def test_sqlite_path():
    assert sqlite_path("sqlite:////tmp/x/mlflow.db") == "/tmp/x/mlflow.db"
    assert sqlite_path("sqlite:///:memory:") is None and sqlite_path("http://h:5000") is None


def test_processes_started_together_on_a_new_sqlite_store_all_work(tmp_path):
    import time

    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    start = time.time() + 6  # after the imports of both
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, uri, str(start), f"exp{i}"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(3)]
    outputs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], "\n".join(o[-1500:] for o in outputs)
    from mlflow import MlflowClient

    assert {e.name for e in MlflowClient(uri).search_experiments()} >= {"exp0", "exp1", "exp2"}
