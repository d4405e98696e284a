"""Overhead of a full mlpose training iteration over a bare forward+backward+step.

A full iteration is what `mlpose train` runs (data loading with workers, the schedule, AMP,
on-device loss/accuracy, logging to the log file, TensorBoard, JSON lines and MLflow; validation
excluded); the bare one is the same model and optimizer on pre-made tensors. Prints seconds per
iteration and ratios for res50 at 256x192, batch 8, on the CPU, in fp32 and with --amp (bf16).

    python benchmarks/train_step.py [--iters 32] [--batch 8] [--config res50]

Goals: full/bare <= 1.03; amp at least 2x faster than fp32 per iteration. MMPose 1.3.2 on these
machines: 1.595 s per res50 batch-8 fp32 iteration, bare model 1.589 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

WARMUP = 8  # iterations left out of both measurements: allocator, oneDNN primitive caches, workers
WINDOW = 4  # iterations per timed window (the trainer's log interval here)


def bare_iteration_time(cfg, amp: bool, iters: int, batch: int) -> float:
    """Seconds per forward+backward+optimizer step on pre-made uint8 inputs and targets: the
    same model, memory format (channels_last on the CPU) and optimizer as the trainer's."""
    from mlpose.engine.optim import build_optimizer
    from mlpose.registry import MODELS, build

    model = build(cfg.model, MODELS, "model")
    model.init_weights()
    model.train()
    model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, cfg.optim_wrapper)
    w, h = cfg.codec["input_size"]
    hw, hh = cfg.codec["heatmap_size"]
    inputs = torch.randint(0, 255, (batch, 3, h, w), dtype=torch.uint8)
    target = torch.rand(batch, 17, hh, hw)
    weights = torch.ones(batch, 17)
    times = []
    for _ in range(WARMUP + iters):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            losses = model.loss_from_outputs(model(inputs), dict(heatmaps=target, keypoint_weights=weights))
        losses["loss"].backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        float(losses["loss"].detach())  # the bare loop too must finish its work before the clock stops
        times.append(time.perf_counter() - t)
    measured = times[WARMUP:]
    return statistics.median(sum(measured[i:i + WINDOW]) / WINDOW for i in range(0, iters - WINDOW + 1, WINDOW))


def full_iteration_time(config: str, data: Path, amp: bool, iters: int, batch: int, work: Path) -> float:
    """Seconds per iteration of a real `mlpose train` run (no validation): the median of its
    logged window averages after the same warm-up as the bare loop."""
    from mlpose.engine.jobs import TrainOptions, train

    n = (WARMUP + iters) * batch
    opts = [
        "train_cfg.max_epochs=1", f"train_dataloader.batch_size={batch}", "train_dataloader.num_workers=2",
        f"train_dataloader.dataset.data_root={data}", "train_dataloader.dataset.ann_file=annotations/person_keypoints_train.json",
        "train_dataloader.dataset.data_prefix.img=images/train/", f"+train_dataloader.dataset.indices={n}",
        f"default_hooks.logger.interval={WINDOW}", "randomness.seed=0",
    ]
    train(config, TrainOptions(work_dir=str(work), amp=amp, no_validate=True, cfg_options=opts))
    rows = [json.loads(line) for p in work.glob("*/vis_data/scalars.json") for line in p.read_text().splitlines()]
    windows = [r["time"] for r in rows if "time" in r]
    return statistics.median(windows[WARMUP // WINDOW:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="res50")
    parser.add_argument("--iters", type=int, default=32, help="timed iterations after the warm-up")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--data", default=None, help="generated data folder (default: a temporary one)")
    args = parser.parse_args()

    from mlpose.config import load_config
    from mlpose.datasets.synth import generate
    from mlpose.runtime.malloc import keep_freed_memory

    tmp = Path(tempfile.mkdtemp(prefix="mlpose-bench-"))
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    data = Path(args.data) if args.data else tmp / "synth"
    if not (data / "annotations" / "person_keypoints_train.json").exists():
        generate(data, num_train=max((WARMUP + args.iters) * args.batch // 2, 8), num_val=2, image_size=(256, 256), progress=False)
    cfg = load_config(args.config)
    keep_freed_memory()  # what `mlpose train` does on a CPU, so the bare loop gets it too
    results = {}
    for amp in (False, True):
        tag = "amp-bf16" if amp else "fp32"
        # bare, full, full, bare: a machine that speeds up or slows down over the minutes this
        # takes (shared cores, clocks) shifts both sides alike instead of biasing the ratio
        bare = [bare_iteration_time(cfg, amp, args.iters, args.batch)]
        full = [full_iteration_time(args.config, data, amp, args.iters, args.batch, tmp / f"work-{tag}-{i}")
                for i in range(2)]
        bare.append(bare_iteration_time(cfg, amp, args.iters, args.batch))
        bare_s, full_s = statistics.mean(bare), statistics.mean(full)
        results[tag] = full_s
        print(f"{tag:9s} full {full_s:.3f} s/iter ({full[0]:.3f}, {full[1]:.3f})  bare {bare_s:.3f} s/iter "
              f"({bare[0]:.3f}, {bare[1]:.3f})  overhead ratio {full_s / bare_s:.3f}", flush=True)
    speedup = results["fp32"] / results["amp-bf16"]
    print(f"--amp speed-up per full iteration: {speedup:.2f}x (goal >= 2x); "
          f"threads={torch.get_num_threads()}")


if __name__ == "__main__":
    main()
