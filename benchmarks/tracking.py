"""Time the training thread spends on MLflow logging, as % of a tiny-model training iteration.

    python benchmarks/tracking.py                       # SQLite and an HTTP server (PostgreSQL if reachable)
    python benchmarks/tracking.py --iters 400 --backends sqlite
    python benchmarks/tracking.py --media               # validation pictures and tables on a short demo

``--media`` (see :func:`bench_media`) trains the demo recipe (``tiny``) on the demo's validation
set (100 generated 256x256 images) with few training images (``--train-images``), with the
validation pictures and tables on (the defaults; ``--compare`` adds a run without them). It
reports the training thread's time in the new code per validation (recording predictions,
gathering, OKS, queueing) and the upload thread's time reading, drawing and storing them, as a
share of this run's validation interval and of the full demo (8 validations in ``--demo-wall-s``).
``--with-system-metrics`` adds ``SYSTEM_METRICS_OPTIONS`` (the hook for MLflow's system metrics,
once ``tracking.system_metrics`` exists).

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


#: --cfg-options of the system-metrics logging (issue 13, part B); added by --with-system-metrics.
SYSTEM_METRICS_OPTIONS = ["tracking.system_metrics=True"]
MEDIA_OFF = ["tracking.num_step_images=0", "tracking.num_failure_images=0", "tracking.log_breakdown=False"]
DEMO = {"train_images": 1500, "epochs": 32, "validations": 8}  # Makefile's demo data, experiments/tiny.py


def _timed(owner, name: str, totals: dict) -> None:
    """Wrap ``owner.name`` so that the seconds spent in it add up in ``totals[name]``."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - start

    setattr(owner, name, wrapper)


def bench_media(tmp: str, train_images: int, epochs: int, extra: list[str], demo_wall_s: float,
                compare: bool) -> None:
    """A short demo training with validation pictures and tables (and, with ``compare``, one
    without them); prints their cost per validation and projected onto the full demo."""
    from mlpose.datasets.synth import generate
    from mlpose.engine import jobs
    from mlpose.tracking import tracker as tracker_module
    from mlpose.tracking import step_media
    from mlpose.tracking.step_media import TableWriter
    from mlpose.tracking import val_report
    from mlpose.tracking.val_report import ValidationReport

    data = os.path.join(tmp, "data")
    generate(data, num_train=train_images, num_val=100, seed=0, image_size=(256, 256), difficulty="simple",
             progress=False)
    totals: dict[str, float] = {}
    # Upload thread: staging (drawing, encoding) as the tracker calls it, then storing as the journal does.
    for owner, name in ((ValidationReport, "log"), (ValidationReport, "process"), (tracker_module, "stage_image"),
                        (step_media, "send_image"), (TableWriter, "stage"), (step_media, "send_table"),
                        (val_report, "_grid"), (val_report, "keypoint_chart")):
        _timed(owner, name, totals)
    opts = [f"train_dataloader.dataset.data_root={data}", f"val_dataloader.dataset.data_root={data}",
            f"val_evaluator.ann_file={data}/annotations/person_keypoints_val.json",
            f"train_cfg.max_epochs={epochs}", "train_cfg.val_interval=1", f"tracking.uri=sqlite:///{tmp}/mlflow.db",
            *extra]
    walls, costs = {}, {}
    for label, switch in (*((("off", MEDIA_OFF),) if compare else ()), ("on", [])):  # "on" second: no warm-up bias
        totals.clear()
        start = time.perf_counter()
        jobs.train("tiny", jobs.TrainOptions(work_dir=os.path.join(tmp, label), cfg_options=opts + switch,
                                             show_dir="pics", interval=10))
        walls[label], costs[label] = time.perf_counter() - start, dict(totals)
    on = costs["on"]
    thread_s = (on.get("log", 0.0) + on.get("process", 0.0)) / epochs  # per validation
    upload_s = sum(on.get(name, 0.0) for name in ("stage_image", "send_image", "stage", "send_table")) / epochs
    interval_s = walls["on"] / epochs
    demo_thread = DEMO["validations"] * thread_s
    print(f"\nvalidation pictures and tables: demo recipe (fp32), {train_images} training / 100 validation images "
          f"(the demo's), {epochs} epochs, a validation each{' + system metrics' if extra else ''}")
    print(f"  training thread per validation: {1e3 * thread_s:8.1f} ms  (recording predictions "
          f"{1e3 * on.get('process', 0) / epochs:.1f} ms, gather + OKS + queueing {1e3 * on.get('log', 0) / epochs:.1f} ms)")
    print(f"  upload thread per validation:   {1e3 * upload_s:8.1f} ms  (grids: reading + drawing "
          f"{1e3 * on.get('_grid', 0) / epochs:.0f} ms, matplotlib chart {1e3 * on.get('keypoint_chart', 0) / epochs:.0f} ms, "
          f"tables {1e3 * (on.get('stage', 0) + on.get('send_table', 0)) / epochs:.0f} ms, the rest PNG encoding and storing)")
    print(f"  validation interval here: {interval_s:.1f} s -> training thread {100 * thread_s / interval_s:.3f} %, "
          f"upload thread {100 * upload_s / interval_s:.2f} %")
    print(f"  full demo ({DEMO['validations']} validations in ~{demo_wall_s:.0f} s): training thread "
          f"{1e3 * demo_thread:.0f} ms = {100 * demo_thread / demo_wall_s:.3f} % of its wall time (goal < 2 %); "
          f"upload thread {100 * DEMO['validations'] * upload_s / demo_wall_s:.2f} %")
    if compare:
        print(f"  wall time with / without: {walls['on']:.1f} s / {walls['off']:.1f} s "
              f"({100 * (walls['on'] - walls['off']) / walls['off']:+.1f} %, noisy on a shared machine)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=1000)
    parser.add_argument("--intervals", type=int, nargs="+", default=[1, 50],
                        help="log every N iterations (1: worst case; the default config logs every 50)")
    parser.add_argument("--flush-every", type=int, default=500,
                        help="iterations between flush() calls (one epoch of a real run is thousands)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "http"], choices=["sqlite", "http"])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--media", action="store_true", help="measure the validation pictures and tables instead")
    parser.add_argument("--train-images", type=int, default=32, help="--media: training images (the demo has 1500)")
    parser.add_argument("--demo-wall-s", type=float, default=330.0,
                        help="--media: the full demo's wall time (experiments/tiny.py: about 5.5 minutes)")
    parser.add_argument("--compare", action="store_true", help="--media: also train once without pictures/tables")
    parser.add_argument("--epochs", type=int, default=2, help="--media: epochs, each ending in a validation")
    parser.add_argument("--with-system-metrics", action="store_true", help="--media: add SYSTEM_METRICS_OPTIONS")
    args = parser.parse_args()
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    if args.media:
        with tempfile.TemporaryDirectory(prefix="mlpose-bench-") as tmp:
            os.chdir(tmp)
            bench_media(tmp, args.train_images, args.epochs, SYSTEM_METRICS_OPTIONS if args.with_system_metrics else [],
                        args.demo_wall_s, args.compare)
        return
    torch.set_num_threads(1)  # steadier timings on a shared machine

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
