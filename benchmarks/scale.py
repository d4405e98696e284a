"""mlpose at COCO's size, side by side with MMPose 1.3.2 where it is installed; prints ratios.

    .venv/bin/python benchmarks/scale.py [--data /tmp/mlpose-scale] [--only eval,flip,...]
                                         [--mmpose /tmp/mmpose-venv/bin/python]

The data is generated once into ``--data`` (``mlpose data synth --coco-size``: COCO 2017's
annotation counts and MMPose's ~104k val detections over 300 + 100 rendered 640x480 images,
re-used); nothing is committed. Each figure comes from fresh processes (``scale_jobs.py``),
mlpose and MMPose interleaved (mlpose, MMPose, MMPose, mlpose) on the same files; the shared
machine is noisy, so compare the ratios. MMPose is skipped when its python is missing
(``../shared/anchors/mmpose/install.sh`` installs it into a venv of its own).

Figures (``--only`` names):
  startup     train dataset at 150k instances: seconds, peak and kept memory
  workers     per-worker USS/PSS growth over two epochs with 4 workers (goal < 50 MB)
  eval        CocoMetric at COCO-val size, 104k detections, rescoring + OKS-NMS: seconds, peak
              memory, the ten stats' largest difference (goal >= 3x, equal to 1e-6); and
              gathered from 2 gloo processes: each rank's peak
  flip        ``test`` of res50 256x192 with flip on 64 people: whole-process peak memory
  workers_auto  training pipeline samples/s at num_workers 0, 2 and 'auto' (mlpose)
  checkpoint  logging a 408 MB checkpoint: hard link into the local store vs MLflow's copy
  tracking    500k iterations of metrics at interval 50, then resume / compare / runs reads,
              and the same at 50k (cost per point: linear, not quadratic)
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MLPOSE_PY = sys.executable
FIGURES = ("startup", "workers", "eval", "flip", "workers_auto", "checkpoint", "tracking")


def job(python: str, name: str, args: dict, env: dict | None = None) -> dict:
    """Run one ``scale_jobs.py`` job in a fresh process; its RESULT line as a dict."""
    proc = subprocess.run([python, "-W", "ignore", str(HERE / "scale_jobs.py"), name, json.dumps(args)],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def interleaved(name: str, args: dict, mmpose: str | None, key: str) -> tuple[list[dict], list[dict]]:
    """mlpose, MMPose, MMPose, mlpose (MMPose left out when not installed)."""
    order = ["mlpose", "mmpose", "mmpose", "mlpose"] if mmpose else ["mlpose", "mlpose"]
    runs = {"mlpose": [], "mmpose": []}
    for tool in order:
        python = MLPOSE_PY if tool == "mlpose" else mmpose
        runs[tool].append(job(python, name.format(tool=tool), {**args, "tool": tool}))
        print(f"    {tool:7s} {key} {runs[tool][-1][key]:.3f}", flush=True)
    return runs["mlpose"], runs["mmpose"]


def row(label: str, ours: list[float], theirs: list[float], unit: str, higher_better: bool = False) -> None:
    a = statistics.mean(ours)
    if theirs:
        b = statistics.mean(theirs)
        ratio = (a / b if higher_better else b / a) if a and b else float("nan")
        print(f"  {label:52s} mlpose {a:9.2f} {unit:6s} MMPose {b:9.2f} {unit:6s} ratio {ratio:5.2f}x")
    else:
        print(f"  {label:52s} mlpose {a:9.2f} {unit}")


def ensure_data(root: Path) -> None:
    if (root / "annotations" / "person_keypoints_train2017.json").is_file():
        return
    print(f"generating the COCO-size set in {root} (once)", flush=True)
    subprocess.run([MLPOSE_PY, "-m", "mlpose.cli", "data", "synth", str(root), "--coco-size", "--num-train", "300",
                    "--num-val", "100", "--image-size", "640x480"], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})


def make_predictions(root: Path, out: Path, seed: int = 0, aspect: float = 192 / 256) -> None:
    """One prediction per detection of the val detection file: keypoints near the person the box
    covers (IoU >= 0.5 with a labelled one; noise 1-8% of its size), else anywhere in the box with
    low scores; the padded box of MMPose's 256x192 crop as ``scale``. The same for both tools."""
    rng = np.random.default_rng(seed)
    gt = json.loads((root / "annotations/person_keypoints_val2017.json").read_text())
    dets = json.loads((root / "person_detection_results/COCO_val2017_detections_AP_H_56_person.json").read_text())
    people: dict[int, list[dict]] = {}
    for a in gt["annotations"]:
        if not a["iscrowd"]:
            people.setdefault(a["image_id"], []).append(a)
    n, k = len(dets), 17
    box = np.array([d["bbox"] for d in dets], np.float64)
    kpts, scores = np.zeros((n, k, 2), np.float32), np.zeros((n, k), np.float32)
    for i, d in enumerate(dets):
        x, y, w, h = box[i]
        cands = people.get(d["image_id"], [])
        g = np.array([a["bbox"] for a in cands]).reshape(-1, 4)
        iw = np.clip(np.minimum(x + w, g[:, 0] + g[:, 2]) - np.maximum(x, g[:, 0]), 0, None)
        ih = np.clip(np.minimum(y + h, g[:, 1] + g[:, 3]) - np.maximum(y, g[:, 1]), 0, None)
        iou = iw * ih / (w * h + g[:, 2] * g[:, 3] - iw * ih + 1e-9)
        best = int(np.argmax(iou)) if len(cands) else -1
        if best >= 0 and iou[best] >= 0.5 and cands[best]["num_keypoints"] > 0:
            ref = np.asarray(cands[best]["keypoints"], np.float64).reshape(-1, 3)
            xy = ref[:, :2] + rng.normal(0, rng.uniform(0.01, 0.08) * np.sqrt(g[best, 2] * g[best, 3]), (k, 2))
            hidden = ref[:, 2] == 0
            xy[hidden] = rng.uniform([x, y], [x + w, y + h], (int(hidden.sum()), 2))
            s = np.where(hidden, rng.uniform(0, 0.5, k), rng.uniform(0.3, 1.0, k))
        else:
            xy, s = rng.uniform([x, y], [x + w, y + h], (k, 2)), rng.uniform(0, 0.4, k)
        kpts[i], scores[i] = xy, s
    w, h = box[:, 2] * 1.25, box[:, 3] * 1.25  # GetBBoxCenterScale, then the 192/256 aspect
    wide = w > h * aspect
    w, h = np.where(wide, w, h * aspect), np.where(wide, w / aspect, h)
    np.savez(out, id=np.arange(n), img_id=np.array([d["image_id"] for d in dets]), keypoints=kpts,
             keypoint_scores=scores, bbox=np.c_[box[:, :2], box[:, :2] + box[:, 2:]].astype(np.float32),
             bbox_score=np.array([d["score"] for d in dets], np.float32), scale=np.c_[w, h].astype(np.float32))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eval_two_processes(args: dict) -> list[dict]:
    """The mlpose evaluation split over 2 gloo processes (strided, padded, as the sampler)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()))
    procs = [subprocess.Popen([MLPOSE_PY, "-W", "ignore", str(HERE / "scale_jobs.py"), "eval-mlpose", json.dumps(args)],
                              cwd=ROOT, env={**env, "RANK": str(r)}, stdout=subprocess.PIPE, text=True) for r in (0, 1)]
    out = [p.communicate()[0] for p in procs]
    line = next(ln for ln in out[0].splitlines() if ln.startswith("RESULT "))
    return json.loads(line[7:])["ranks"]


def figure_eval(root: Path, tmp: Path, mmpose: str | None) -> None:
    preds = tmp / "preds.npz"
    make_predictions(root, preds)
    args = {"ann": str(root / "annotations/person_keypoints_val2017.json"), "preds": str(preds)}
    ours, theirs = interleaved("eval-{tool}", args, mmpose, "seconds")
    print(f"  eval: {len(np.load(preds)['id'])} predictions")
    row("CocoMetric process + compute (rescore, OKS-NMS)", [r["seconds"] for r in ours],
        [r["seconds"] for r in theirs], "s")
    row("  peak memory above the start", [r["peak_mib"] for r in ours], [r["peak_mib"] for r in theirs], "MiB")
    if theirs:
        diff = max(abs(ours[0]["stats"][k] - theirs[0]["stats"][k]) for k in theirs[0]["stats"])
        print(f"  {'  largest difference of the ten stats':52s} {diff:.2e}  (AP {ours[0]['stats']['AP']:.6f},"
              f" AP (M) {ours[0]['stats']['AP (M)']:.6f}, AP (L) {ours[0]['stats']['AP (L)']:.6f})")
    ranks = eval_two_processes(args)
    same = all(ranks[0]["stats"][k] == ours[0]["stats"][k] for k in ours[0]["stats"])
    print(f"  {'  2 gloo processes: seconds / rank 0 / rank 1 peak':52s} {ranks[0]['seconds']:.2f} s  "
          f"{ranks[0]['peak_mib']:.0f} MiB / {ranks[1]['peak_mib']:.0f} MiB (one process: "
          f"{statistics.mean(r['peak_mib'] for r in ours):.0f}); stats identical: {same}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="/tmp/mlpose-scale")
    parser.add_argument("--only", default=",".join(FIGURES))
    parser.add_argument("--mmpose", default="/tmp/mmpose-venv/bin/python")
    args = parser.parse_args()
    mmpose = args.mmpose if Path(args.mmpose).exists() else None
    root = Path(args.data).resolve()
    only = args.only.split(",")
    ensure_data(root)
    print(f"data {root}; MMPose: {mmpose or 'not installed (mlpose only)'}")
    with tempfile.TemporaryDirectory(prefix="mlpose-scale-") as tmp_dir:
        tmp = Path(tmp_dir)
        if "startup" in only:
            ours, theirs = interleaved("startup", {"root": str(root)}, mmpose, "seconds")
            print(f"  startup: {ours[0]['instances']} instances")
            row("train dataset start-up", [r["seconds"] for r in ours], [r["seconds"] for r in theirs], "s")
            row("  peak memory", [r["peak_mib"] for r in ours], [r["peak_mib"] for r in theirs], "MiB")
            row("  memory kept after", [r["kept_mib"] for r in ours], [r["kept_mib"] for r in theirs], "MiB")
        if "workers" in only:
            ours, theirs = interleaved("workers", {"root": str(root)}, mmpose, "uss_growth_mib")
            row("per-worker USS growth, 2 epochs, 4 workers", [r["uss_growth_mib"] for r in ours],
                [r["uss_growth_mib"] for r in theirs], "MiB")
            row("  per-worker PSS growth", [r["pss_growth_mib"] for r in ours],
                [r["pss_growth_mib"] for r in theirs], "MiB")
        if "eval" in only:
            figure_eval(root, tmp, mmpose)
        if "flip" in only:
            work = tmp / "flip"
            work.mkdir()
            ours, theirs = interleaved("test-{tool}", {"root": str(root), "num": 64, "work": str(work)}, mmpose, "peak_mib")
            row("test res50 256x192, flip, 64 people: peak RSS", [r["peak_mib"] for r in ours],
                [r["peak_mib"] for r in theirs], "MiB")
            row("  wall time", [r["seconds"] for r in ours], [r["seconds"] for r in theirs], "s")
        if "workers_auto" in only:
            speed = {0: [], 2: [], "auto": []}
            for w in (0, 2, "auto", "auto", 2, 0):
                speed[w].append(job(MLPOSE_PY, "loader", {"root": str(root), "workers": w, "batches": 40}))
            auto = speed["auto"][0]["workers"]
            for w, runs in speed.items():
                row(f"train pipeline, num_workers={w}" + (f" (= {auto})" if w == "auto" else ""),
                    [r["samples_per_s"] for r in runs], [], "samples/s")
        if "checkpoint" in only:
            work = tmp / "ckpt"
            work.mkdir()
            r = job(MLPOSE_PY, "checkpoint", {"work": str(work), "mb": 390})
            print(f"  {'log a %.0f MB checkpoint: hard link / MLflow copy' % r['file_mb']:52s} {r['link_s']:.2f} s / "
                  f"{r['copy_s']:.2f} s ({r['copy_s'] / r['link_s']:.0f}x); extra disk 0 / {r['file_mb']:.0f} MB")
        if "tracking" in only:
            for iters in (50_000, 500_000):
                work = tmp / f"track{iters}"
                work.mkdir()
                r = job(MLPOSE_PY, "tracking", {"work": str(work), "iterations": iters, "val_every": 23_400})
                print(f"  tracking {iters} iterations ({r['points']} points, {r['log_calls']} log calls): "
                      f"log {r['log_s']:.2f} s, store all {r['finish_s']:.1f} s "
                      f"({1e6 * r['finish_s'] / r['points']:.0f} us/point); resume {r['resume_s']:.2f} s, "
                      f"compare {r['compare_s']:.2f} s, runs {r['runs_s']:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
