"""Time the training thread spends on MLflow logging, as % of a tiny-model training iteration.

    python benchmarks/tracking.py                       # SQLite and an HTTP server (PostgreSQL if reachable)
    python benchmarks/tracking.py --iters 400 --backends sqlite

The iteration is a tiny conv net's forward, backward and SGD step on CPU (batch 8, 3x64x48 input,
17 heatmaps of 16x12). Each configuration runs the same loop three times, interleaved:

* ``baseline``: no tracker;
* ``logged``: ``tracker.log_metrics`` with the 8 scalars the trainer logs (loss, loss_kpt, acc_pose,
  lr, data_time, time, memory, epoch) every ``interval`` iterations, and ``tracker.flush()`` every
  ``--flush-every`` iterations (the trainer flushes at each checkpoint, i.e. once an epoch).

Reported per configuration: time inside ``log_metrics`` per iteration and as a percentage of the
baseline iteration (the goal is < 1 %); the mean ``flush`` wait and the percentage including the
flushes (amortised over ``--flush-every`` iterations); and the change of the whole iteration time
without the flushes (the background thread competing for the GIL and the CPU; noisy on a busy
machine, the last column shows how much two identical baseline loops differed).
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
import uuid

import torch
from torch import nn

METRIC_NAMES = ("loss", "loss_kpt", "acc_pose", "lr", "data_time", "time", "memory", "epoch")


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                         nn.Conv2d(32, 17, 1))


def run_loop(iters: int, tracker=None, interval: int = 1, flush_every: int = 100) -> dict:
    """Train the tiny net ``iters`` iterations; returns per-iteration and on-thread logging times (s)."""
    torch.manual_seed(0)
    model = tiny_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, target = torch.randn(8, 3, 64, 48), torch.randn(8, 17, 16, 12)
    iteration, log_s, flushes = [], 0.0, []
    for it in range(1, iters + 1):
        t0 = time.perf_counter()
        loss = nn.functional.mse_loss(model(x), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if tracker is not None and it % interval == 0:
            value = loss.item()  # the trainer converts at the log interval, outside the tracker
            t1 = time.perf_counter()
            tracker.log_metrics({name: value for name in METRIC_NAMES}, step=it)
            log_s += time.perf_counter() - t1
        flush_s = 0.0
        if tracker is not None and it % flush_every == 0:
            t1 = time.perf_counter()
            tracker.flush()
            flush_s = time.perf_counter() - t1
            flushes.append(flush_s)
        iteration.append(time.perf_counter() - t0 - flush_s)  # flushes are reported on their own
    return {"iter_s": statistics.median(iteration), "mean_iter_s": statistics.fmean(iteration),
            "log_per_iter_s": log_s / iters, "flush_per_iter_s": sum(flushes) / iters,
            "mean_flush_s": statistics.fmean(flushes) if flushes else 0.0}


def bench_backend(name: str, uri: str, iters: int, intervals: list[int], flush_every: int) -> list[dict]:
    from mlpose.tracking import Tracker

    os.environ["MLFLOW_TRACKING_URI"] = uri
    rows = []
    run_loop(50)  # warm up torch's allocator and kernels
    for interval in intervals:
        base_a = run_loop(iters)
        tracker = Tracker.start({"bench": {"interval": interval}}, config_name="bench-tracking",
                                command=["benchmarks/tracking.py"])
        logged = run_loop(iters, tracker, interval, flush_every)
        tracker.finish()
        base_b = run_loop(iters)
        base = statistics.fmean([base_a["mean_iter_s"], base_b["mean_iter_s"]])
        rows.append({
            "backend": name, "interval": interval, "iter_ms": base * 1e3,
            "log_us": logged["log_per_iter_s"] * 1e6, "log_pct": 100 * logged["log_per_iter_s"] / base,
            "total_pct": 100 * (logged["log_per_iter_s"] + logged["flush_per_iter_s"]) / base,
            "flush_ms": logged["mean_flush_s"] * 1e3,
            "slowdown_pct": 100 * (logged["mean_iter_s"] - base) / base,
            "baseline_spread_pct": 100 * abs(base_a["mean_iter_s"] - base_b["mean_iter_s"]) / base,
        })
    return rows


def http_server(admin_url: str | None, workdir: str):
    """A TrackingServer on a fresh PostgreSQL database when reachable, else on SQLite."""
    from mlpose.stack import TrackingServer, create_database

    backend, label = f"sqlite:///{workdir}/server.db", "http (SQLite backend)"
    if admin_url:
        try:
            backend = create_database(admin_url, f"mlpose_bench_{uuid.uuid4().hex[:10]}")
            label = "http (PostgreSQL backend)"
        except Exception as exc:  # noqa: BLE001 - no PostgreSQL here: measure the SQLite-backed server
            print(f"PostgreSQL unavailable ({str(exc).strip().splitlines()[0]}); using SQLite behind the server")
    return TrackingServer(backend, os.path.join(workdir, "artifacts")), label, backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=1000)
    parser.add_argument("--intervals", type=int, nargs="+", default=[1, 50],
                        help="log every N iterations (1: worst case; the default config logs every 50)")
    parser.add_argument("--flush-every", type=int, default=500,
                        help="iterations between flush() calls (one epoch of a real run is thousands)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "http"], choices=["sqlite", "http"])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    torch.set_num_threads(1)  # steadier timings on a shared machine
    logging.getLogger("mlflow").setLevel(logging.WARNING)

    rows = []
    with tempfile.TemporaryDirectory(prefix="mlpose-bench-") as tmp:
        os.chdir(tmp)  # SQLite stores put artifacts in ./mlruns
        if "sqlite" in args.backends:
            rows += bench_backend("sqlite", f"sqlite:///{tmp}/mlflow.db", args.iters, args.intervals, args.flush_every)
        if "http" in args.backends:
            server, label, backend = http_server(args.admin_url, tmp)
            try:
                with server:
                    rows += bench_backend(label, server.url, args.iters, args.intervals, args.flush_every)
            finally:
                if backend.startswith("postgresql"):
                    from mlpose.stack import drop_database

                    drop_database(args.admin_url, backend.rsplit("/", 1)[1])

    print(f"\ntiny conv net, CPU, {torch.get_num_threads()} thread, {args.iters} iterations per loop, "
          f"{len(METRIC_NAMES)} scalars per log, flush every {args.flush_every} iterations")
    header = (f"{'backend':26} {'log every':>9} {'iter ms':>8} {'log_metrics us/iter':>19} {'% of iter':>9} "
              f"{'flush ms':>8} {'% incl. flush':>13} {'iter change %':>13} {'baseline noise %':>16}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['backend']:26} {r['interval']:>9} {r['iter_ms']:>8.2f} {r['log_us']:>19.2f} {r['log_pct']:>9.3f} "
              f"{r['flush_ms']:>8.1f} {r['total_pct']:>13.3f} {r['slowdown_pct']:>+13.1f} "
              f"{r['baseline_spread_pct']:>16.1f}")
    print("iter change: mean iteration time with logging vs without, flush waits excluded; the HTTP server "
          "and its database run on this machine too")


if __name__ == "__main__":
    main()
