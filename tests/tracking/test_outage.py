"""A real ``mlflow server`` SIGKILLed in the middle of a training and restarted on the same port
and store: the job never stops, warns once when the server goes and once when it is back, and
the run ends up with every metric step once, in order, its checkpoints and logs, FINISHED."""
import os
import re
import shutil
import subprocess
import sys
import threading
import time

import torch
from mlflow import MlflowClient
from mlflow.entities import ViewType

from mlpose.stack.server import TrackingServer, free_port

OUTAGE_S = 12


def test_server_killed_mid_run_loses_nothing(tiny_data, tiny_opts, tmp_path, empty_mlflow_store, kill_server):
    store = tmp_path / "store"
    store.mkdir()
    shutil.copy(empty_mlflow_store, store / "mlflow.db")
    backend, artifacts, port = f"sqlite:///{store / 'mlflow.db'}", store / "artifacts", free_port()
    server = TrackingServer(backend, artifacts, port=port).start()
    epochs = 12  # every iteration logged; the server is away from epoch 2 for OUTAGE_S (or to epoch 8)
    opts = tiny_opts(tiny_data, epochs, width=8, **{"default_hooks.logger.interval": 1,
                                                    "train_cfg.val_interval": 4})
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.url, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mlpose.cli", "train", "tiny", "--work-dir", "work",
                             "--cfg-options", *opts], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines, started, late = [], threading.Event(), threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            for event, mark in ((started, "Epoch(train) [2]["), (late, "Epoch(train) [8][")):
                if mark in line:
                    event.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert started.wait(240), "".join(lines)[-3000:]
        kill_server(server)
        down_at = time.monotonic()
        late.wait(OUTAGE_S)  # a fast machine trains through its epochs sooner than that
        assert proc.poll() is None, "training ended during the outage:\n" + "".join(lines)[-2000:]
        # same port, same store; a job ending before it answers waits tracking.flush_timeout (30 s)
        server = TrackingServer(backend, artifacts, port=port).start()
        back_at = time.monotonic()
        rc = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(10)
        server.stop()
    out = "".join(lines)
    assert rc == 0, out[-3000:]
    assert out.count("unreachable (") == 1 and out.count("is back after") == 1, out[-3000:]
    assert "Traceback" not in out and "pending in" not in out

    client = MlflowClient(backend)  # read the store directly: the server is gone
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)])
    assert run.info.status == "FINISHED"
    per_epoch = int(re.search(r"Epoch\(train\) \[1\]\[\d+/(\d+)\]", out).group(1))
    total = epochs * per_epoch
    for key in ("loss", "lr", "epoch"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert steps == list(range(1, total + 1)), (key, steps[:5], len(steps))  # each step once, in order
    assert [m.value for m in client.get_metric_history(run.info.run_id, "epoch")] == \
        [float(1 + (s - 1) // per_epoch) for s in range(1, total + 1)]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "coco/AP")] == \
        [4 * per_epoch, 8 * per_epoch, 12 * per_epoch]
    stored = artifacts / run.info.experiment_id / run.info.run_id / "artifacts"  # served from this folder
    assert (stored / "checkpoints" / "best.pth").is_file() and list((stored / "logs").glob("*.log"))
    assert torch.load(stored / "checkpoints" / "last.pth")["state"]["iteration"] == total  # the final one
    assert run.data.tags["mlpose.last_checkpoint"] == "checkpoints/last.pth"
    assert {"mlpose.model.best", "mlpose.model.last"} <= set(run.data.tags)
    assert not (tmp_path / "work" / "tracking-journal").exists()  # everything stored: no journal left
    assert not list((tmp_path / "work").glob(".mlpose-upload-*"))
    print(f"outage {back_at - down_at:.1f} s (server restart included)")
