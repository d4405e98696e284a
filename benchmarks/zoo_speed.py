"""Speed and memory of mlpose against MMPose 1.3.2, per model family, from MMPose's own config files
(never in CI; MMPose installed beside mlpose, ``/work/shared/anchors/mmpose/install.sh``).

    .venv/bin/python benchmarks/zoo_speed.py [--families res50,rtmpose-m] [--sections train,test,infer]
        [--iters 6] [--warmup 2] [--amp-iters 3] [--amp-families res50,...] [--batch N] [--val-images 32]
        [--infer-families rtmpose-m] [--profile vitpose-b] [--profile-batch 2]
        [--mmpose-python /tmp/mmpose-venv/bin/python] [--work DIR]

For each family (HRNet-W32, ResNet-50, ViTPose-B: ``td-hm_*_8xb64-210e_coco-256x192.py``; RTMPose-t/s/m:
``rtmpose-*_8xb256-420e_coco-256x192.py``), one derived config file ``_base_``s MMPose's unchanged file
and sets only what a side-by-side run needs: the data paths of a ``mlpose data synth`` folder, the batch
size (8 for the heatmap nets, 32 for RTMPose), ``warmup + iters`` iterations (dataset ``indices``), two
loader workers, no validation during training (``val_begin``), a log line per iteration
(``window_size=1``) and no pretrained ``init_cfg`` (no network here). Both tools run that one file:

1. **train**: MMPose's ``tools/train.py`` (fp32: MMPose refuses AMP on a CPU), ``mlpose train`` (fp32)
   and ``mlpose train --amp`` (bf16 autocast), in the order mlpose fp32, MMPose, mlpose amp, MMPose,
   mlpose fp32, so that drift of the shared machine shifts both sides alike (the amp run, one, with
   ``--amp-iters`` timed iterations: bf16 is slow on CPUs without native bf16, see ``--profile``).
   s/iter is the median of the per-iteration ``time`` both write to ``vis_data/scalars.json``, after
   ``--warmup`` iterations; ``data_time`` (waiting for the loader) likewise, to tell where the time goes.
2. **test**: ``mlpose test`` and MMPose's ``tools/test.py`` of the checkpoint MMPose's first training
   run saved (``epoch_1.pth``, random weights) on ``--val-images`` generated images (ground-truth
   boxes, the recipe's flip test), interleaved mlpose, MMPose, MMPose, mlpose: wall seconds of the
   whole process (start-up included) and peak memory of its process tree (loader workers included),
   polled with psutil: the sum of RSS, and of PSS (shared pages counted once).
3. **infer** (RTMPose-m, or the families given): crops/s of mlpose's predictor (fp32, and bf16 ``--amp``) and of MMPose's
   ``inference_topdown`` (``benchmarks/mmpose_topdown_worker.py``) on the same images, boxes and
   weights, one call per image (2 people, flip test); crops/s of the ``mlpose infer`` job over the
   same images; then the network alone (no flip test, no decoding) at batch 32: torch eager and the
   ``mlpose export --format onnx`` file in onnxruntime.
4. **profile** (``--profile FAMILIES``): torch.profiler's top operators of mlpose's forward+backward,
   fp32 and bf16 autocast: where the time goes.

MMPose's RTMPose pipeline needs ``albumentations``, which its venv lacks (no network to install it):
the MMPose processes get a ``PYTHONPATH`` folder of links to mlpose's venv's copy (and its pure
dependencies), made under ``--work``; nothing is installed into either venv. Timings on a shared
2-core machine drift: compare the ratios, and rerun on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations would ask the network for a newer version
TOPDOWN = "body_2d_keypoint/topdown_heatmap/coco/"
RTMPOSE = "body_2d_keypoint/rtmpose/coco/"
#: family -> (MMPose config under configs/, training batch size)
FAMILIES = {
    "hrnet-w32": (TOPDOWN + "td-hm_hrnet-w32_8xb64-210e_coco-256x192.py", 8),
    "res50": (TOPDOWN + "td-hm_res50_8xb64-210e_coco-256x192.py", 8),
    "vitpose-b": (TOPDOWN + "td-hm_ViTPose-base_8xb64-210e_coco-256x192.py", 8),
    "rtmpose-t": (RTMPOSE + "rtmpose-t_8xb256-420e_coco-256x192.py", 32),
    "rtmpose-s": (RTMPOSE + "rtmpose-s_8xb256-420e_coco-256x192.py", 32),
    "rtmpose-m": (RTMPOSE + "rtmpose-m_8xb256-420e_coco-256x192.py", 32),
}
SECTIONS = ("train", "test", "infer")
#: what albumentations (MMPose's RTMPose pipeline) imports that MMPose's venv lacks
ALBU_PARTS = ("albumentations", "albumentations-*.dist-info", "albucore", "pydantic", "pydantic_core",
              "annotated_types", "typing_inspection", "stringzilla*.so", "simsimd*.so", "simsimd.libs")
FIND_MIM = ("import importlib.util, pathlib; spec = importlib.util.find_spec('mmpose'); "
            "print(pathlib.Path(list(spec.submodule_search_locations)[0]) / '.mim')")


# --------------------------------------------------------------------------------------------- set-up

def derived_config(folder: Path, base: Path, data: Path, batch: int, samples: int) -> Path:
    """The one file both tools run: MMPose's ``base`` plus data paths and the run length (see above)."""
    def loader(split: str, bs: str, extra: str) -> str:
        return (f"dict({bs}num_workers=2, persistent_workers=False, dataset=dict(data_root='{data}/', "
                f"ann_file='annotations/person_keypoints_{split}.json', "
                f"data_prefix=dict(img='images/{split}/'){extra}))")

    path = folder / f"speed_{base.stem}.py"
    path.write_text(
        f"_base_ = ['{base}']\n"
        "model = dict(backbone=dict(init_cfg=None))  # no pretrained weights: no network here\n"
        "train_cfg = dict(max_epochs=1, val_begin=1000, val_interval=1000)  # no validation while training\n"
        f"train_dataloader = {loader('train', f'batch_size={batch}, ', f', indices={samples}')}\n"
        f"val_dataloader = {loader('val', '', ', bbox_file=None')}\n"  # the recipe's batch size
        "test_dataloader = val_dataloader\n"
        f"val_evaluator = dict(ann_file='{data}/annotations/person_keypoints_val.json')\n"
        "test_evaluator = val_evaluator\n"
        "default_hooks = dict(logger=dict(interval=1))\n"
        "log_processor = dict(window_size=1)  # each logged time is one iteration's\n"
        "randomness = dict(seed=0)\n")
    return path


def albumentations_shim(folder: Path) -> Path:
    """A folder of links to mlpose's venv's albumentations and its dependencies (see above)."""
    import albumentations

    site = Path(albumentations.__file__).parents[1]
    folder.mkdir(parents=True, exist_ok=True)
    for pattern in ALBU_PARTS:
        for src in site.glob(pattern):
            if not (folder / src.name).exists():
                (folder / src.name).symlink_to(src)
    return folder


class Setup:
    """Paths and environments shared by the sections."""

    def __init__(self, args):
        self.args = args
        self.work = Path(args.work or tempfile.mkdtemp(prefix="speed-"))
        self.work.mkdir(parents=True, exist_ok=True)
        out = subprocess.run([args.mmpose_python, "-c", FIND_MIM], capture_output=True, text=True, check=True)
        self.mim = Path(out.stdout.strip().splitlines()[-1])
        self.data = self.work / "data"
        self.samples = (args.warmup + args.iters) * max(args.batch or FAMILIES[f][1] for f in args.families)
        if not (self.data / "annotations" / "person_keypoints_val.json").exists():
            from mlpose.datasets.synth import generate

            # ~3 people per image of the normal difficulty: more than enough training samples
            generate(self.data, num_train=max(8, self.samples // 2), num_val=args.val_images, seed=0,
                     image_size=(256, 256), progress=False)
        shim = albumentations_shim(self.work / "albu-shim")
        base_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.mm_env = {**base_env, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONWARNINGS": "ignore",
                       "NO_ALBUMENTATIONS_UPDATE": "1", "PYTHONPATH": str(shim)}
        self.ml_env = {**base_env, "PYTHONPATH": str(REPO), "NO_ALBUMENTATIONS_UPDATE": "1",
                       "MLFLOW_TRACKING_URI": f"sqlite:///{self.work / 'mlflow.db'}"}

    def batch(self, family: str) -> int:
        return self.args.batch or FAMILIES[family][1]

    def config(self, family: str) -> Path:
        rel, batch = FAMILIES[family][0], self.batch(family)
        return derived_config(self.work, self.mim / "configs" / rel, self.data, batch,
                              (self.args.warmup + self.args.iters) * batch)

    def mlpose(self, *args) -> list[str]:
        return [sys.executable, "-m", "mlpose.cli", *map(str, args)]

    def mmpose(self, tool: str, *args) -> list[str]:
        return [self.args.mmpose_python, str(self.mim / "tools" / tool), *map(str, args)]


def run_logged(cmd: list[str], env: dict, log: Path, cwd: Path) -> None:
    """Run ``cmd`` with its output in ``log``; a failure ends the benchmark with the log's tail."""
    with open(log, "w") as f:
        proc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=cwd)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{log.read_text()[-3000:]}")


def measured_run(cmd: list[str], env: dict, log: Path, cwd: Path, poll_s: float = 0.1) -> dict:
    """Run ``cmd`` polling its process tree: wall seconds and peak MiB of summed RSS and PSS."""
    import psutil

    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=cwd)
        root = psutil.Process(proc.pid)
        peak_rss = peak_pss = 0
        while proc.poll() is None:
            rss = pss = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    mem = p.memory_full_info()
                    rss, pss = rss + mem.rss, pss + mem.pss
            except psutil.Error:  # a worker that ended between the listing and the reading
                pass
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(poll_s)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{log.read_text()[-3000:]}")
    return {"wall": wall, "rss": peak_rss / 2**20, "pss": peak_pss / 2**20}


# --------------------------------------------------------------------------------------------- train

def iteration_times(work: Path, warmup: int) -> tuple[float, float]:
    """Median ``time`` and ``data_time`` (s) of the iterations after ``warmup``, from the run's
    ``vis_data/scalars.json`` (MMEngine's file; mlpose writes the same)."""
    rows = [json.loads(line) for p in work.glob("*/vis_data/scalars.json") for line in p.read_text().splitlines()]
    rows = sorted((r for r in rows if "time" in r and "step" in r), key=lambda r: r["step"])[warmup:]
    if not rows:
        raise SystemExit(f"no per-iteration times after {warmup} warm-up iterations in {work}")
    return statistics.median(r["time"] for r in rows), statistics.median(r["data_time"] for r in rows)


def train_family(s: Setup, family: str) -> dict:
    cfg = s.config(family)
    folder = s.work / family
    folder.mkdir(exist_ok=True)
    runs: dict[str, list] = {"mlpose fp32": [], "mlpose amp": [], "MMPose fp32": []}
    # symmetric in time: each tool's mean sits at the middle run, the bf16 one
    order = [("mlpose fp32", 0), ("MMPose fp32", 0), ("mlpose amp", 0), ("MMPose fp32", 1), ("mlpose fp32", 1)]
    if family not in s.args.amp_families:
        order.remove(("mlpose amp", 0))
    for tool, i in order:
        work = folder / f"train-{tool.replace(' ', '-')}-{i}"
        warmup = s.args.warmup
        if tool.startswith("MMPose"):
            run_logged(s.mmpose("train.py", cfg, "--work-dir", work), s.mm_env, folder / f"{work.name}.log", folder)
        elif tool.endswith("amp"):  # fewer iterations: without native bf16 (AVX2 only) an iteration is slow
            warmup = min(warmup, 1)
            n = (warmup + s.args.amp_iters) * s.batch(family)
            run_logged(s.mlpose("train", cfg, "--work-dir", work, "--amp", "--cfg-options",
                                f"train_dataloader.dataset.indices={n}"), s.ml_env, folder / f"{work.name}.log", folder)
        else:
            run_logged(s.mlpose("train", cfg, "--work-dir", work), s.ml_env, folder / f"{work.name}.log", folder)
        runs[tool].append(iteration_times(work, warmup))
        print(f"  {family} train {tool} #{i}: {runs[tool][-1][0]:.3f} s/iter (data wait {runs[tool][-1][1]:.3f})",
              flush=True)
    return {tool: (statistics.mean(t for t, _ in r), statistics.mean(d for _, d in r), r)
            for tool, r in runs.items() if r}


def checkpoint_of(s: Setup, family: str) -> Path:
    """MMPose's saved training checkpoint of ``family`` (a one-iteration MMPose run when the train
    section did not run)."""
    folder = s.work / family
    ckpt = folder / "train-MMPose-fp32-0" / "epoch_1.pth"
    if not ckpt.exists():
        folder.mkdir(exist_ok=True)
        run_logged(s.mmpose("train.py", s.config(family), "--work-dir", ckpt.parent, "--cfg-options",
                            f"train_dataloader.dataset.indices={s.batch(family)}"), s.mm_env, folder / "ckpt.log",
                   folder)
    return ckpt


# --------------------------------------------------------------------------------------------- test

def test_family(s: Setup, family: str) -> dict:
    cfg, ckpt = s.config(family), checkpoint_of(s, family)
    folder = s.work / family
    runs: dict[str, list] = {"mlpose": [], "MMPose": []}
    for i, tool in enumerate(("mlpose", "MMPose", "MMPose", "mlpose")):
        work = folder / f"test-{tool}-{i}"
        if tool == "MMPose":
            cmd, env = s.mmpose("test.py", cfg, ckpt, "--work-dir", work, "--out", work / "metrics.json"), s.mm_env
        else:
            cmd, env = s.mlpose("test", cfg, ckpt, "--work-dir", work, "--out", work / "metrics.json"), s.ml_env
        work.mkdir(exist_ok=True)
        runs[tool].append(measured_run(cmd, env, folder / f"{work.name}.log", folder))
        r = runs[tool][-1]
        print(f"  {family} test {tool} #{i}: {r['wall']:.1f} s, peak RSS {r['rss']:.0f} MiB, PSS {r['pss']:.0f} MiB",
              flush=True)
    ap = {}
    for tool in runs:
        m = json.loads((folder / f"test-{tool}-{1 if tool == 'MMPose' else 0}" / "metrics.json").read_text())
        ap[tool] = m.get("coco/AP", m.get("metric", {}).get("coco/AP") if isinstance(m.get("metric"), dict) else None)
    return {tool: {k: statistics.mean(r[k] for r in rs) for k in ("wall", "rss", "pss")} | {"AP": ap[tool]}
            for tool, rs in runs.items()}


# --------------------------------------------------------------------------------------------- infer

def infer_family(s: Setup, family: str, images_n: int = 16) -> dict:
    import cv2
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from infer import (TopdownWorker, keypoint_gap, per_image_rate,  # benchmarks/infer.py: the same images,
                       tasks_of, two_person_images)  # boxes and timing

    from mlpose.engine.predict import InferOptions, infer
    from mlpose.inference import PosePredictor

    cfg, ckpt = s.config(family), checkpoint_of(s, family)
    folder = s.work / family / "infer"
    if not (folder / "dets.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "data").exists() and __import__("shutil").rmtree(folder / "data")
        images, dets = two_person_images(folder / "data", images_n)
    else:
        images, dets = sorted((folder / "data" / "two").iterdir()), folder / "dets.json"
    tasks = tasks_of(images, dets)
    from mlpose.runtime.checkpoint_io import load_checkpoint
    from mlpose.runtime.foreign import model_weights

    weights = folder / "weights.pth"  # the averaged weights MMPose's file holds (what both tools load)
    torch.save(model_weights(load_checkpoint(ckpt)), weights)
    worker = TopdownWorker(s.args.mmpose_python, cfg, weights, images, tasks, folder, s.mm_env)
    predictor = PosePredictor.from_checkpoint(str(ckpt), config=str(cfg), device="cpu")
    bf16 = PosePredictor.from_checkpoint(str(ckpt), config=str(cfg), device="cpu", amp=True)

    def job() -> float:
        done = infer([str(p) for p in images], str(ckpt), InferOptions(boxes=str(dets), config=str(cfg),
                                                                      out=str(folder / "infer.json")))
        return done["people"] / done["seconds"]

    per_image_rate(predictor, tasks), worker.rate(), job(), per_image_rate(bf16, tasks)  # warm-up
    ours, theirs = [per_image_rate(predictor, tasks)], [worker.rate()]
    jobs_rate, amp = [job()], [per_image_rate(bf16, tasks)]
    theirs.append(worker.rate())
    amp.append(per_image_rate(bf16, tasks))
    jobs_rate.append(job())
    ours.append(per_image_rate(predictor, tasks))
    theirs_kpts = worker.keypoints()
    gap, amp_gap = keypoint_gap(predictor, tasks[0], theirs_kpts), keypoint_gap(bf16, tasks[0], theirs_kpts)

    # the network alone at batch 32: torch eager and the exported ONNX file in onnxruntime
    onnx_file = folder / f"{family}.onnx"
    if not onnx_file.exists():
        run_logged(s.mlpose("export", ckpt, "--config", cfg, "--format", "onnx", "--out", onnx_file), s.ml_env,
                   folder / "export.log", folder)
    items = [predictor.crop(t, b, 1.0, i) for t in tasks for i, b in enumerate(t.boxes)]
    crops = torch.stack([it["inputs"] for it in (items * (1 + 32 // len(items)))[:32]])
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: crops.numpy()}

    def rate(fn, min_s: float = 3.0) -> float:
        fn()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < min_s or n < 2:
            fn()
            n += 1
        return n * len(crops) / (time.perf_counter() - start)

    with torch.no_grad():
        eager = [rate(lambda: predictor.model(crops))]
        onnx = [rate(lambda: session.run(None, feed)), rate(lambda: session.run(None, feed))]
        eager.append(rate(lambda: predictor.model(crops)))
    del cv2
    return {"mlpose": statistics.mean(ours), "MMPose": statistics.mean(theirs), "job": statistics.mean(jobs_rate),
            "amp": statistics.mean(amp), "gap": gap, "amp_gap": amp_gap, "crops": sum(len(t.boxes) for t in tasks), "eager": statistics.mean(eager),
            "onnx": statistics.mean(onnx)}


# --------------------------------------------------------------------------------------------- profile

def profile_family(s: Setup, family: str, batch: int, steps: int = 1, top: int = 8) -> None:
    """Where mlpose's training step spends its time: torch.profiler over ``steps`` forward+backward
    passes of the family's model (channels_last, as the trainer runs it on a CPU) on random uint8
    crops, fp32 and bf16 autocast; prints the ``top`` operators by self CPU time for each."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from mlpose.config import load_config
    from mlpose.registry import MODELS, build

    cfg = load_config(str(s.config(family)))
    model = build(cfg.model, MODELS, "model").train().to(memory_format=torch.channels_last)
    w, h = cfg.codec["input_size"] if isinstance(cfg.codec, dict) else cfg.codec[0]["input_size"]
    inputs = torch.randint(0, 255, (batch, 3, h, w), dtype=torch.uint8)

    def step(amp: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            outputs = model(inputs)
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        sum(o.float().sum() for o in outputs).backward()
        model.zero_grad(set_to_none=True)

    for amp in (False, True):
        step(amp)  # warm-up: oneDNN primitive caches
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step(amp)
        took = (time.perf_counter() - start) / steps
        print(f"\n{family} forward+backward, batch {batch}, {'bf16 autocast' if amp else 'fp32'}: {took:.3f} s/step "
              f"(profiled); top operators by self CPU time:\n")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=40))


# --------------------------------------------------------------------------------------------- report

def native_bf16() -> bool:
    """Whether oneDNN has bfloat16 kernels on this CPU (AVX512-BF16 or AMX); without them, bf16
    autocast runs convolutions through ATen's reference ``_slow_conv2d`` kernels."""
    import torch

    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def report(s: Setup, trains: dict, tests: dict, infers: dict) -> None:
    """The markdown tables of what has been measured."""
    args = s.args
    if trains:
        print(f"\n### train s/iter (median after {args.warmup} warm-up iterations of {args.warmup + args.iters}; "
              f"mean of 2 interleaved runs (amp: one run in the middle, {args.amp_iters} timed iterations); "
              f"data = median wait for the loader; native bf16 on this CPU: {native_bf16()})\n")
        rows = []
        for f, r in trains.items():
            (ml, mld, _), (mm, mmd, _) = r["mlpose fp32"], r["MMPose fp32"]
            amp, ampd, _ = r.get("mlpose amp", (None, None, None))
            rows.append([f, str(s.batch(f)), f"{mm:.3f} ({mmd:.3f})", f"{ml:.3f} ({mld:.3f})",
                         f"{amp:.3f} ({ampd:.3f})" if amp else "not run", f"**{mm / ml:.2f}x**",
                         f"**{mm / amp:.2f}x**" if amp else "-"])
        print(table(["family", "batch", "MMPose fp32 (data)", "mlpose fp32 (data)", "mlpose amp bf16 (data)",
                     "MMPose/mlpose fp32 (goal >= 1.2x)", "MMPose fp32/mlpose amp (goal >= 2x)"], rows))
        print("\nper run (s/iter): " + "; ".join(
            f"{f} " + ", ".join(f"{tool} " + "/".join(f"{t:.3f}" for t, _ in r[tool][2]) for tool in r)
            for f, r in trains.items()))
    if tests:
        print(f"\n### test of {args.val_images} images (ground-truth boxes, flip test): whole process, mean of 2 "
              "interleaved runs\n")
        rows = []
        for f, r in tests.items():
            ml, mm = r["mlpose"], r["MMPose"]
            rows.append([f, f"{mm['wall']:.1f}", f"{ml['wall']:.1f}", f"**{mm['wall'] / ml['wall']:.2f}x**",
                         f"{mm['rss']:.0f}", f"{ml['rss']:.0f}", f"{ml['rss'] / mm['rss']:.2f}",
                         f"{mm['pss']:.0f}", f"{ml['pss']:.0f}", f"{ml['pss'] / mm['pss']:.2f}",
                         f"{mm['AP']:.4f} / {ml['AP']:.4f}" if mm["AP"] is not None and ml["AP"] is not None else "-"])
        print(table(["family", "MMPose wall s", "mlpose wall s", "speed-up", "MMPose peak RSS MiB",
                     "mlpose peak RSS MiB", "RSS mlpose/MMPose (goal <= 1)", "MMPose peak PSS MiB",
                     "mlpose peak PSS MiB", "PSS mlpose/MMPose", "coco/AP MMPose / mlpose"], rows))
    if infers:
        print("\n### inference, crops/s (mean of 2 interleaved runs; flip test: 2 forward passes per crop)\n")
        rows = []
        for f, r in infers.items():
            rows.append([f, str(r["crops"]), f"{r['MMPose']:.1f}", f"{r['mlpose']:.1f}",
                         f"**{r['mlpose'] / r['MMPose']:.2f}x**", f"{r['amp']:.1f}", f"**{r['amp'] / r['MMPose']:.2f}x**",
                         f"{r['job']:.1f}", f"{r['job'] / r['MMPose']:.2f}x",
                         f"{r['eager']:.1f}", f"{r['onnx']:.1f}", f"{r['onnx'] / r['eager']:.2f}x", f"{r['gap']:.2g} / {r['amp_gap']:.2g}"])
        print(table(["family", "crops", "MMPose inference_topdown", "mlpose predictor, per image",
                     "speed-up (goal >= 1.4x)", "predictor --amp (bf16)", "--amp / MMPose", "`mlpose infer` job", "job / MMPose", "network only, torch, batch 32",
                     "network only, ONNX Runtime, batch 32", "ONNX / torch", "max keypoint gap px (fp32 / bf16)"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"comma-separated subset of {list(FAMILIES)}")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset of train,test,infer")
    parser.add_argument("--infer-families", default="rtmpose-m", help="families of the infer section")
    parser.add_argument("--iters", type=int, default=6, help="timed training iterations per run")
    parser.add_argument("--amp-iters", type=int, default=3, help="timed iterations of the one `mlpose train --amp` run")
    parser.add_argument("--batch", type=int, default=None,
                        help="training batch size of every family (default: 8, RTMPose 32)")
    parser.add_argument("--amp-families", default=None, help="families of the `--amp` run (default: --families)")
    parser.add_argument("--profile-batch", type=int, default=None, help="batch size of --profile (default: --batch's)")
    parser.add_argument("--warmup", type=int, default=2, help="training iterations left out of the median")
    parser.add_argument("--val-images", type=int, default=32, help="generated validation images for `test`")
    parser.add_argument("--profile", default="", help="families to profile (mlpose fwd+bwd, fp32 and bf16)")
    parser.add_argument("--mmpose-python", default="/tmp/mmpose-venv/bin/python")
    parser.add_argument("--work", default=None, help="scratch folder (default: a new temporary one)")
    args = parser.parse_args()
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    profiles = [f.strip() for f in args.profile.split(",") if f.strip()]
    args.amp_families = args.families if args.amp_families is None else [
        f.strip() for f in args.amp_families.split(",") if f.strip()]
    unknown = sorted(set(args.families + profiles + args.amp_families) - set(FAMILIES))
    unknown += sorted(set(sections) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"unknown families or sections: {unknown}")

    import torch

    start = time.perf_counter()
    s = Setup(args)
    print(f"work {s.work}; torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}", flush=True)
    trains, tests, infers = {}, {}, {}
    infer_families = [f.strip() for f in args.infer_families.split(",") if f.strip()] if "infer" in sections else []
    for family in args.families + [f for f in infer_families if f not in args.families]:
        if "train" in sections and family in args.families:
            trains[family] = train_family(s, family)
        if "test" in sections and family in args.families:
            tests[family] = test_family(s, family)
        if family in infer_families:
            infers[family] = infer_family(s, family)
        if family != args.families[-1]:  # partial tables on the way: a run cut short still reports
            print(f"\n#### so far ({time.perf_counter() - start:.0f} s)")
            report(s, trains, tests, infers)
    print(f"\n## results ({time.perf_counter() - start:.0f} s)")
    report(s, trains, tests, infers)
    for family in profiles:
        profile_family(s, family, args.profile_batch or s.batch(family))
    print(f"\ntotal {time.perf_counter() - start:.0f} s; load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
