"""Throughput of the 256x192 top-down training pipelines on 256x256 synthetic JPEGs.

Prints the mean time of each transform, the samples/s of ``dataset[i]`` in one process and
through a DataLoader with worker processes, and for the plain td-hm pipeline the ratio to MMPose
1.3.2's same pipeline measured on this machine (about 457 samples/s in one process, 2.2 ms per
sample). ``--recipes`` adds MMPose's augmented recipes: RTMPose's stage 1 (its box factors,
YOLOX HSV and Albumentation blur/dropout; heatmap target in place of SimCC) and the HRNet
photometric / coarsedropout / gridmask variants.

    .venv/bin/python benchmarks/pipeline.py                    # generates data once
    .venv/bin/python benchmarks/pipeline.py --recipes td-hm,rtmpose-stage1 --workers 0
    .venv/bin/python benchmarks/pipeline.py --compare          # + eager flip, simplejpeg
    .venv/bin/python benchmarks/pipeline.py --cv2-threads 1    # OpenCV single-threaded
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch

MMPOSE_SAMPLES_PER_S = 457.0
CODEC = dict(type="MSRAHeatmap", input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
_RTM_ALBU = [dict(type="Blur", p=0.1), dict(type="MedianBlur", p=0.1),
             dict(type="CoarseDropout", max_holes=1, max_height=0.4, max_width=0.4, min_holes=1,
                  min_height=0.2, min_width=0.2, p=1.0)]
#: recipe -> (RandomBBoxTransform arguments, pixel steps after TopdownAffine), MMPose 1.3.2's values
RECIPES = {
    "td-hm": (dict(), []),
    "rtmpose-stage1": (dict(scale_factor=[0.6, 1.4], rotate_factor=80),
                       [dict(type="mmdet.YOLOXHSVRandomAug"), dict(type="Albumentation", transforms=_RTM_ALBU)]),
    "hrnet-photometric": (dict(), [dict(type="PhotometricDistortion")]),
    "hrnet-coarsedropout": (dict(), [dict(type="Albumentation", transforms=[dict(
        type="CoarseDropout", max_holes=8, max_height=40, max_width=40, min_holes=1, min_height=10,
        min_width=10, p=0.5)])]),
    "hrnet-gridmask": (dict(), [dict(type="Albumentation", transforms=[dict(
        type="GridDropout", unit_size_min=10, unit_size_max=40, random_offset=True, p=0.5)])]),
}


def train_pipeline(backend: str = "cv2", lazy_flip: bool = True, recipe: str = "td-hm") -> list[dict]:
    """MMPose's 256x192 COCO training pipeline of ``recipe`` (see RECIPES)."""
    bbox_args, pixel_steps = RECIPES[recipe]
    return [
        dict(type="LoadImage", backend=backend),
        dict(type="GetBBoxCenterScale"),
        dict(type="RandomFlip", direction="horizontal", lazy=lazy_flip),
        dict(type="RandomHalfBody"),
        dict(type="RandomBBoxTransform", **bbox_args),
        dict(type="TopdownAffine", input_size=CODEC["input_size"]),
        *pixel_steps,
        dict(type="GenerateTarget", encoder=CODEC),
        dict(type="PackPoseInputs"),
    ]


def make_dataset(data_dir: Path, num_images: int, pipeline: list[dict]):
    """A CocoDataset over synthetic data, generated into ``data_dir`` on first use."""
    from mlpose.datasets.coco import CocoDataset
    from mlpose.datasets.synth import generate

    ann = data_dir / "annotations" / "person_keypoints_train.json"
    if not ann.exists():
        print(f"generating {num_images} synthetic 256x256 images in {data_dir} ...")
        generate(data_dir, num_train=num_images, num_val=0, seed=0, image_size=(256, 256), progress=False)
    return CocoDataset(ann_file=str(ann), data_prefix=dict(img=str(data_dir / "images" / "train")),
                       pipeline=pipeline)


def stage_times(dataset, num_samples: int) -> np.ndarray:
    """``(num_samples, 1 + num_transforms)`` seconds: ``get_data_info`` then each transform."""
    steps = dataset.pipeline
    times = np.zeros((num_samples, 1 + len(steps)))
    for i in range(num_samples):
        t0 = time.perf_counter()
        item = dataset.get_data_info(i % len(dataset))
        times[i, 0] = time.perf_counter() - t0
        for j, step in enumerate(steps):
            t0 = time.perf_counter()
            item = step(item)
            times[i, j + 1] = time.perf_counter() - t0
    return times


def single_process_rate(dataset, num_samples: int, chunk: int = 250) -> tuple[float, float, float]:
    """Samples/s of ``dataset[i]``: overall wall clock, best chunk, and per CPU second.

    On a shared machine the best chunk and the CPU-time rate are the least disturbed by
    other processes; the overall rate is what this run actually got.
    """
    best, start_wall, start_cpu = 0.0, time.perf_counter(), time.process_time()
    for c0 in range(0, num_samples, chunk):
        t0 = time.perf_counter()
        for i in range(c0, min(c0 + chunk, num_samples)):
            dataset[i % len(dataset)]
        best = max(best, (min(c0 + chunk, num_samples) - c0) / (time.perf_counter() - t0))
    wall = num_samples / (time.perf_counter() - start_wall)
    return wall, best, num_samples / (time.process_time() - start_cpu)


def loader_rate(dataset, workers: int, batch_size: int, epochs: int) -> float:
    from mlpose.datasets.collate import pose_collate

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         collate_fn=pose_collate, persistent_workers=workers > 0, drop_last=True)
    for _ in loader:  # warm-up epoch: worker start-up and page cache
        pass
    count, t0 = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            count += batch["inputs"].shape[0]
    return count / (time.perf_counter() - t0)


def report(name: str, dataset, args, reference: float | None = None) -> None:
    """Print the stage table and the rates; ``reference``: MMPose's samples/s for the same pipeline."""
    import mlpose.datasets.transforms  # noqa: F401  (registers the transforms)

    stage_times(dataset, 50)  # warm-up: page cache, lazy imports
    times = stage_times(dataset, args.samples) * 1e3
    names = ["get_data_info (deepcopy)"] + [type(step).__name__ for step in dataset.pipeline]
    print(f"\n== {name}\n  {'stage':28s} {'mean ms':>8s} {'median ms':>10s}")
    for col, stage in enumerate(names):
        print(f"  {stage:28s} {times[:, col].mean():8.3f} {np.median(times[:, col]):10.3f}")
    mean, median = times[:, 1:].sum(1).mean(), np.median(times[:, 1:].sum(1))
    print(f"  {'pipeline total':28s} {mean:8.3f} {median:10.3f}  -> {1e3 / median:.0f} samples/s at the median")
    wall, best, cpu = single_process_rate(dataset, args.samples)
    vs = (lambda rate: f" ({rate / reference:.2f}x MMPose's {reference:.0f})") if reference else (lambda rate: "")
    print(f"  dataset[i], 1 process: {wall:6.0f} samples/s overall{vs(wall)}, "
          f"best chunk {best:.0f}{vs(best)}, per CPU-second {cpu:.0f}{vs(cpu)}")
    if args.workers:
        rate = loader_rate(dataset, args.workers, args.batch_size, args.epochs)
        print(f"  DataLoader, {args.workers} workers, bs {args.batch_size}: {rate:7.1f} samples/s{vs(rate)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "mlpose_bench_synth")
    parser.add_argument("--num-images", type=int, default=200, help="images to generate (first run)")
    parser.add_argument("--samples", type=int, default=2000, help="samples timed per measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="timed DataLoader epochs")
    parser.add_argument("--cv2-threads", type=int, default=None, help="cv2.setNumThreads (default: leave)")
    parser.add_argument("--compare", action="store_true", help="also time the eager flip and simplejpeg")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipes", default="td-hm,rtmpose-stage1",
                        help=f"comma-separated, of: {', '.join(RECIPES)}")
    args = parser.parse_args()

    if args.cv2_threads is not None:
        cv2.setNumThreads(args.cv2_threads)
    np.random.seed(args.seed)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"OpenCV {cv2.__version__}, {cv2.getNumThreads()} OpenCV threads, {os.cpu_count()} CPUs, load average {load}")
    recipes = [r for r in args.recipes.split(",") if r]
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {unknown[0]!r}; use {', '.join(RECIPES)}")
    variants = [(f"{r}: fused flip, cv2 decode", dict(recipe=r)) for r in recipes]
    if args.compare:
        variants += [("td-hm: eager flip (naive), cv2 decode", dict(lazy_flip=False)),
                     ("td-hm: fused flip, simplejpeg decode", dict(backend="auto"))]
    for name, kwargs in variants:
        dataset = make_dataset(args.data_dir, args.num_images, train_pipeline(**kwargs))
        print(f"{len(dataset)} person instances in {args.data_dir}")
        plain = kwargs.get("recipe", "td-hm") == "td-hm"
        report(name, dataset, args, MMPOSE_SAMPLES_PER_S if plain else None)


if __name__ == "__main__":
    main()
