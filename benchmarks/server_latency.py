"""Tracking-server settings, measured: per-call latency of synchronous ``log_metric``, start time
and memory of ``mlflow server`` with MLflow's defaults vs the settings mlpose uses.

    python benchmarks/server_latency.py                 # fresh database on the local PostgreSQL
    python benchmarks/server_latency.py --calls 500 --admin-url postgresql://postgres@HOST/postgres

Each configuration gets a fresh database and artifact folder. Latency is wall time of one
``MlflowClient().log_metric`` call (one HTTP request, one keep-alive session, as a training loop
logging synchronously sees it). Memory is summed over the server's process tree once its process
count is stable: RSS (what ``top`` shows, shared pages counted per process) and PSS (shared pages
split between the processes: the real footprint).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from mlpose.stack import TrackingServer, create_database, drop_database

CONFIGS = {  # name -> (workers, job_execution)
    "MLflow default (4 workers + job runner)": (None, True),
    "4 workers, no job runner": (4, False),
    "1 worker + job runner": (1, True),
    "mlpose: 1 worker, no job runner": (1, False),
}


def tree_memory_mb(pids: set[int]) -> tuple[float, float]:
    """(RSS, PSS) in MiB summed over ``pids``, read from /proc/PID/smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                key, _, rest = line.partition(":")
                if key in ("Rss", "Pss"):
                    kib = int(rest.split()[0])
                    rss, pss = (rss + kib, pss) if key == "Rss" else (rss, pss + kib)
        except OSError:
            continue
    return rss / 1024, pss / 1024


def wait_for_stable_tree(server: TrackingServer, settle_s: float = 5.0, limit_s: float = 120.0) -> set[int]:
    """Pids of the server once no process has appeared or gone for ``settle_s`` seconds."""
    pids, since, t0 = server.pids(), time.monotonic(), time.monotonic()
    while time.monotonic() - since < settle_s and time.monotonic() - t0 < limit_s:
        time.sleep(0.5)
        now = server.pids()
        if now != pids:
            pids, since = now, time.monotonic()
    return pids


def measure(name: str, workers: int | None, jobs: bool, admin_url: str, calls: int) -> dict:
    from mlflow import MlflowClient

    db_name = f"mlpose_bench_{uuid.uuid4().hex[:10]}"
    db_url = create_database(admin_url, db_name)
    try:
        with tempfile.TemporaryDirectory() as tmp, \
                TrackingServer(db_url, Path(tmp) / "artifacts", workers=workers,
                               job_execution=jobs) as server:
            startup_s = server.startup_s
            pids = wait_for_stable_tree(server)
            client = MlflowClient(server.url)
            run_id = client.create_run(client.create_experiment("bench")).info.run_id
            for step in range(20):  # warm-up: connection pool, worker imports, DB caches
                client.log_metric(run_id, "warmup", 0.0, step=step)
            latencies = []
            for step in range(calls):
                t0 = time.perf_counter()
                client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step)
                latencies.append((time.perf_counter() - t0) * 1000)
            rss, pss = tree_memory_mb(server.pids())
            return dict(name=name, processes=len(pids), startup_s=startup_s,
                        median_ms=statistics.median(latencies),
                        p90_ms=statistics.quantiles(latencies, n=10)[-1],
                        mean_ms=statistics.fmean(latencies), rss_mb=rss, pss_mb=pss)
    finally:
        drop_database(admin_url, db_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test",
                        help="PostgreSQL URL of a user allowed to create databases")
    parser.add_argument("--calls", type=int, default=200, help="log_metric calls per configuration")
    args = parser.parse_args()

    rows = [measure(name, w, j, args.admin_url, args.calls) for name, (w, j) in CONFIGS.items()]
    header = (f"{'configuration':40s} {'procs':>5s} {'start s':>8s} {'median ms':>10s} "
              f"{'p90 ms':>8s} {'mean ms':>8s} {'RSS MiB':>8s} {'PSS MiB':>8s}")
    print(f"synchronous log_metric, {args.calls} calls per configuration")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['name']:40s} {r['processes']:5d} {r['startup_s']:8.1f} {r['median_ms']:10.1f} "
              f"{r['p90_ms']:8.1f} {r['mean_ms']:8.1f} {r['rss_mb']:8.0f} {r['pss_mb']:8.0f}")


if __name__ == "__main__":
    main()
