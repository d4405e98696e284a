"""Inference speed: crops/s of the model, images/s of ``mlpose infer``, latency of the served model,
and the ratio to MMPose's top-down inference of the same res50 weights on the same crops.

    .venv/bin/python benchmarks/infer.py [--images 32] [--requests 200] [--mmpose-python /tmp/mmpose-venv/bin/python]

Data: generated 256x256 images with two people each (``mlpose data synth --difficulty simple``,
the images with two labelled people), their ground-truth boxes as the detections. Models: the
``tiny`` and ``res50`` recipes with random weights (speed does not depend on them), built from a
checkpoint as ``mlpose infer`` builds them; flip test on, as both configs set it, so each crop is
two forward passes. Measured, on this machine's CPU threads:

- crops/s of ``PosePredictor.predict_crops`` (model + flip test + decoding) at batch 1 and 32, fp32
  and bf16 autocast;
- images/s of ``mlpose infer``'s job (read, crop, predict, write COCO results; not the start-up);
- p50/p95 ms of ``POST /invocations`` to ``mlflow models serve`` (tiny model, one JPEG with its
  two boxes per request), over ``--requests`` requests;
- with MMPose's venv: res50 crops/s of ``mmpose.apis.inference_topdown`` (one call per image, its
  boxes one batch) and of mlpose's predictor called the same way, same images, boxes and weights,
  interleaved mlpose, MMPose, MMPose, mlpose; the ratio is mlpose's speed-up.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import torch

from mlpose.config import config_text, load_config
from mlpose.datasets.synth import generate
from mlpose.engine.predict import InferOptions, infer
from mlpose.inference import ImageTask, PosePredictor
from mlpose.inference.pyfunc import save_pose_model
from mlpose.registry import MODELS, build
from mlpose.stack import ModelServer

REPO = Path(__file__).resolve().parents[1]
MMPOSE_CONFIG = REPO.parent / "shared" / "anchors" / "mmpose" / "configs" / "synth_td-hm_res50_256x192.py"


def two_person_images(folder: Path, count: int) -> tuple[list[Path], Path]:
    """``count`` generated images with exactly two labelled people, and a detections file of their boxes."""
    generate(folder, num_train=0, num_val=3 * count, seed=0, image_size=(256, 256), progress=False, difficulty="simple")
    coco = json.loads((folder / "annotations" / "person_keypoints_val.json").read_text())
    people: dict[int, list] = {}
    for ann in coco["annotations"]:
        if not ann["iscrowd"] and ann["num_keypoints"] > 0:
            people.setdefault(ann["image_id"], []).append(ann["bbox"])
    chosen = [img for img in coco["images"] if len(people.get(img["id"], [])) == 2][:count]
    (folder / "two").mkdir()
    dets = []
    for img in chosen:
        (folder / "two" / img["file_name"]).write_bytes((folder / "images" / "val" / img["file_name"]).read_bytes())
        dets += [{"image_id": img["id"], "bbox": box, "score": 1.0, "category_id": 1} for box in people[img["id"]]]
    (folder / "dets.json").write_text(json.dumps(dets))
    return sorted((folder / "two").iterdir()), folder / "dets.json"


def random_checkpoint(name: str, folder: Path) -> Path:
    cfg = load_config(name)
    model = build(cfg.model, MODELS, "model")
    path = folder / f"{name}.pth"
    torch.save({"state_dict": model.state_dict(), "config": config_text(cfg.to_dict()), "meta": {"config_name": name}}, path)
    return path


def tasks_of(images: list[Path], dets_file: Path) -> list[ImageTask]:
    dets = json.loads(dets_file.read_text())
    return [ImageTask(p.name, cv2.imread(str(p)), np.array([d["bbox"] for d in dets if d["image_id"] == int(p.stem)]))
            for p in images]


def crops_per_s(predictor: PosePredictor, items: list[dict], batch: int, min_s: float = 3.0) -> float:
    predictor.predict_crops(items[:batch])  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_s or done < 2 * batch:
        predictor.predict_crops(items[done % len(items):][:batch] or items[:batch])
        done += batch
    return done / (time.perf_counter() - start)


def model_speed(checkpoints: dict[str, Path], tasks: list[ImageTask]) -> None:
    print("crops/s (model + flip test + decoding)       batch 1    batch 32")
    for name, ckpt in checkpoints.items():
        for amp in (False, True):
            predictor = PosePredictor.from_checkpoint(str(ckpt), device="cpu", amp=amp)
            items = [predictor.crop(t, b, 1.0, i) for t in tasks for i, b in enumerate(t.boxes)]
            items = (items * (1 + 32 // len(items)))[:max(32, len(items))]
            rates = [crops_per_s(predictor, items, b) for b in (1, 32)]
            print(f"  {name:6s} {'bf16' if amp else 'fp32'}                              "
                  f"{rates[0]:8.1f}  {rates[1]:8.1f}")


def infer_speed(checkpoints: dict[str, Path], images: list[Path], dets: Path, folder: Path) -> None:
    for name, ckpt in checkpoints.items():
        subset = [str(p) for p in (images if name == "tiny" else images[:8])]
        infer(subset[:2], str(ckpt), InferOptions(boxes=str(dets), out=str(folder / "warm.json")))
        done = infer(subset, str(ckpt), InferOptions(boxes=str(dets), out=str(folder / f"{name}.json")))
        print(f"mlpose infer, {name}: {done['images'] / done['seconds']:.1f} images/s "
              f"({done['images']} images, {done['people']} people, {done['seconds']:.2f} s)")


def served_latency(ckpt: Path, images: list[Path], dets: Path, folder: Path, requests: int) -> None:
    save_pose_model(folder / "served-model", ckpt)
    task = tasks_of(images[:1], dets)[0]
    body = json.dumps({"dataframe_records": [{"image": base64.b64encode(images[0].read_bytes()).decode(),
                                              "boxes": task.boxes.tolist()}]}).encode()
    with ModelServer(str(folder / "served-model"), env={"PYTHONPATH": str(REPO)}) as server:
        def post() -> float:
            start = time.perf_counter()
            req = urllib.request.Request(f"{server.url}/invocations", body, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                assert resp.status == 200 and len(json.loads(resp.read())["predictions"][0]["poses"]) == 2
            return time.perf_counter() - start

        for _ in range(5):
            post()
        times = sorted(post() for _ in range(requests))
    p50, p95 = times[len(times) // 2] * 1e3, times[int(0.95 * len(times)) - 1] * 1e3
    print(f"served tiny model: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {requests} requests "
          f"(one 256x256 JPEG, 2 boxes; server start {server.startup_s:.1f} s)")


class TopdownWorker:
    """MMPose's ``inference_topdown`` in MMPose's own venv (``mmpose_topdown_worker.py``), on the same
    images and boxes as ``tasks``: ``rate()`` times one pass (crops/s), ``keypoints()`` gives the first
    image's people and ends the worker. The jobs file is written to ``folder``."""

    def __init__(self, python: str, config: Path, weights: Path, images: list[Path], tasks: list[ImageTask],
                 folder: Path, env: dict):
        jobs = [{"image": str(p), "boxes": np.c_[t.boxes[:, :2], t.boxes[:, :2] + t.boxes[:, 2:]].tolist()}  # xyxy
                for p, t in zip(images, tasks)]
        (folder / "jobs.json").write_text(json.dumps(jobs))
        self.proc = subprocess.Popen([python, str(Path(__file__).with_name("mmpose_topdown_worker.py")), str(config),
                                      str(weights), str(folder / "jobs.json")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env, cwd=folder)
        assert self._ask(None)["ready"]

    def _ask(self, command: str | None):
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def rate(self) -> float:
        out = self._ask("run")
        return out["crops"] / out["seconds"]

    def keypoints(self) -> np.ndarray:
        kpts = np.asarray(self._ask("keypoints"))
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        return kpts


def per_image_rate(predictor: PosePredictor, tasks: list[ImageTask]) -> float:
    """Crops/s of ``predictor`` called once per image, as ``inference_topdown`` is."""
    start = time.perf_counter()
    crops = sum(len(people) for t in tasks for _, people in predictor.predict([t], batch_size=32))
    return crops / (time.perf_counter() - start)


def keypoint_gap(predictor: PosePredictor, task: ImageTask, theirs: np.ndarray) -> float:
    """Largest keypoint difference (px) between ``predictor``'s people of ``task`` and ``theirs``."""
    ((_, people),) = predictor.predict([task])
    return float(np.abs(theirs - np.stack([p.keypoints for p in people])).max())


def mmpose_ratio(python: str, ckpt: Path, images: list[Path], dets: Path, folder: Path) -> None:
    tasks = tasks_of(images[:8], dets)
    weights = folder / "res50-weights.pth"
    torch.save(torch.load(ckpt, weights_only=True)["state_dict"], weights)
    worker = TopdownWorker(python, MMPOSE_CONFIG, weights, images[:8], tasks, folder,
                           {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"})
    predictor = PosePredictor.from_checkpoint(str(ckpt), device="cpu")
    per_image_rate(predictor, tasks), worker.rate()  # warm-up
    ours, theirs = [per_image_rate(predictor, tasks)], [worker.rate()]
    theirs.append(worker.rate())
    ours.append(per_image_rate(predictor, tasks))
    gap = keypoint_gap(predictor, tasks[0], worker.keypoints())
    print(f"res50 top-down inference, one call per image (2 crops, flip test): mlpose {statistics.mean(ours):.2f} "
          f"crops/s, MMPose inference_topdown {statistics.mean(theirs):.2f} crops/s: mlpose "
          f"{statistics.mean(ours) / statistics.mean(theirs):.2f}x (keypoints agree within {gap:.2f} px)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32, help="two-person images for `mlpose infer`")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--mmpose-python", default="/tmp/mmpose-venv/bin/python")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlpose-bench-infer-") as tmp:
        folder = Path(tmp)
        images, dets = two_person_images(folder / "data", args.images)
        checkpoints = {name: random_checkpoint(name, folder) for name in ("tiny", "res50")}
        print(f"{len(images)} images of 256x256 with 2 people; torch threads {torch.get_num_threads()}")
        model_speed(checkpoints, tasks_of(images[:16], dets))
        infer_speed(checkpoints, images, dets, folder)
        served_latency(checkpoints["tiny"], images, dets, folder, args.requests)
        if Path(args.mmpose_python).exists() and MMPOSE_CONFIG.exists():
            mmpose_ratio(args.mmpose_python, checkpoints["res50"], images, dets, folder)
        else:
            print(f"MMPose not found at {args.mmpose_python}: no ratio (see ../shared/anchors/mmpose/README.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
