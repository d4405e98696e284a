"""Same recipe, same learning: mlpose and MMPose train one MMPose config, seeds 0 and 1 (never in CI).

    .venv/bin/python benchmarks/zoo_recipe.py [--families rtmpose-t hrnet-w32 vitpose-s]
        [--mmpose-python /tmp/mmpose-venv/bin/python] [--out /tmp/recipe] [--seeds 0 1]
        [--epochs N] [--train-images N] [--threads 1]

Issues 22 and 23. Generates small images with ``mlpose data synth --difficulty simple`` (so a short
training learns), then writes for each family a DERIVED config whose ``_base_`` is MMPose's own,
unchanged file from its installed ``configs/`` and which overrides only what the reduced recipe needs:
data paths, epochs and the schedule lengths that follow from them, batch size, a smaller input size
(codec, head and pipelines together), no pretrained ``init_cfg`` (no network here). RTMPose-t also
gets ``EMAHook`` (``ExpMomentumEMA``, the values of MMPose's RTMPose-s/m/l files) beside its
``mmdet.PipelineSwitchHook``, the switch moved inside the short run. The SAME file goes to MMPose's
``tools/train.py`` and to ``mlpose train``, the seed as ``--cfg-options randomness.seed=N``, both
fp32 on CPU with no loader workers, validated every ``val_interval`` epochs (GT boxes, flip test as
the file says).

Runs are interleaved per seed (mlpose, MMPose, then MMPose, mlpose); ``--parallel`` starts all of a
family's runs at once. Per family: final coco/AP of each run, the AP curve, the epoch-mean training
losses (both tools average the same iterations), and |mean mlpose - mean MMPose| against the seed
noise (the range of each tool's final APs) and in standard errors of the difference.

MMPose's ``Albumentation`` transform needs ``albumentations``, which the MMPose venv lacks and this
machine cannot download: ``--extra-path`` (default: a folder of links to mlpose's venv copies, made
here) is put on MMPose's ``PYTHONPATH``. Nothing of MMPose is imported here.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIND_MIM = ("import importlib.util, pathlib; spec = importlib.util.find_spec('mmpose'); "
            "print(pathlib.Path(list(spec.submodule_search_locations)[0]) / '.mim')")
LOG_INTERVAL = 10  # default_hooks.logger.interval of the derived configs
#: what MMPose's Albumentation needs that its venv lacks (linked from mlpose's venv)
ALBU_PACKAGES = ("albucore", "albumentations", "annotated_types", "pydantic", "pydantic_core",
                 "typing_inspection", "simsimd", "simsimd.libs", "simsimd.cpython-311-x86_64-linux-gnu.so",
                 "stringzilla.cpython-311-x86_64-linux-gnu.so")

DATA = """
data_root = '{data}/'
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/person_keypoints_train.json',
                 data_prefix=dict(img='images/train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file='annotations/person_keypoints_val.json',
                 bbox_file=None, data_prefix=dict(img='images/val/'), pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator
randomness = dict(seed=0)  # set per run with --cfg-options (mlpose only overrides keys the file has)
default_hooks = dict(logger=dict(interval={log_interval}),
                     checkpoint=dict(interval=1000, save_best=None, save_last=True))
# MMPose's default_runtime averages the logged loss over the last 50 iterations (across epochs), mlpose
# over the log interval: one window for both, so the epoch losses compare like with like
log_processor = dict(window_size={log_interval})
"""

# RTMPose-t: input 96x128 (w, h), half of 192x256: SimCC bins = input x split ratio 2, sigma halved
# with it (in bins), the head's feature map input / 32. Epochs and the switch scaled from 420 / 30.
RTMPOSE_T = """
_base_ = ['{mim}/configs/body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py']

max_epochs = {epochs}
stage2_num_epochs = {stage2}
base_lr = 4e-3
train_cfg = dict(max_epochs=max_epochs, val_interval={val_interval})

param_scheduler = [
    dict(type='LinearLR', start_factor=1.0e-5, by_epoch=False, begin=0, end={warmup}),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=max_epochs // 2, end=max_epochs,
         T_max=max_epochs // 2, by_epoch=True, convert_to_iter_based=True),
]

codec = dict(type='SimCCLabel', input_size=(96, 128), sigma=(2.45, 2.83), simcc_split_ratio=2.0,
             normalize=False, use_dark=False)
model = dict(
    backbone=dict(init_cfg=None),
    head=dict(input_size=codec['input_size'],
              in_featuremap_size=tuple([s // 32 for s in codec['input_size']]), decoder=codec))

backend_args = dict(backend='local')
train_pipeline = [
    dict(type='LoadImage', backend_args=backend_args),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform', scale_factor=[0.6, 1.4], rotate_factor=80),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='mmdet.YOLOXHSVRandomAug'),
    dict(type='Albumentation', transforms=[
        dict(type='Blur', p=0.1),
        dict(type='MedianBlur', p=0.1),
        dict(type='CoarseDropout', max_holes=1, max_height=0.4, max_width=0.4, min_holes=1,
             min_height=0.2, min_width=0.2, p=1.)]),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage', backend_args=backend_args),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_pipeline_stage2 = [
    dict(type='LoadImage', backend_args=backend_args),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform', shift_factor=0., scale_factor=[0.75, 1.25], rotate_factor=60),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='mmdet.YOLOXHSVRandomAug'),
    dict(type='Albumentation', transforms=[
        dict(type='Blur', p=0.1),
        dict(type='MedianBlur', p=0.1),
        dict(type='CoarseDropout', max_holes=1, max_height=0.4, max_width=0.4, min_holes=1,
             min_height=0.2, min_width=0.2, p=0.5)]),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True, priority=49),
    dict(type='mmdet.PipelineSwitchHook', switch_epoch=max_epochs - stage2_num_epochs,
         switch_pipeline=train_pipeline_stage2),
]
"""

# The heatmap recipes' shared parts: the files' LinearLR warm-up and MultiStepLR steps, scaled to the
# run, and the files' own pipelines at the codec's input size (USE_UDP: the codec's TopdownAffine).
HEATMAP_SCHEDULE = """
train_cfg = dict(max_epochs={epochs}, val_interval={val_interval})
param_scheduler = [
    dict(type='LinearLR', begin=0, end={warmup}, start_factor=0.001, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end={epochs}, milestones={milestones}, gamma=0.1, by_epoch=True),
]
"""
HEATMAP_PIPELINES = """
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=USE_UDP),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=USE_UDP),
    dict(type='PackPoseInputs'),
]
"""

# HRNet-W32 (same model, full width): input 64x96 (w x h; HRNet's fuse layers upsample by fixed
# factors, so both sides must divide by 32: 48x64 fails in both tools), heatmap 16x24 (input / 4),
# sigma 2 as the file.
# Warm-up 500 iterations in the file; epochs and the 170/200 steps scaled from 210.
HRNET_W32 = """
_base_ = ['{mim}/configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py']
""" + HEATMAP_SCHEDULE + """
codec = dict(type='MSRAHeatmap', input_size=(64, 96), heatmap_size=(16, 24), sigma=2)
# HRNet's own initialisation (the class default), in place of the file's pretrained URL: init_cfg=None
# would leave MMPose with PyTorch's default init while mlpose's HRNet always starts from this one
model = dict(backbone=dict(init_cfg=[dict(type='Normal', std=0.001, layer=['Conv2d']),
                                     dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]),
             head=dict(decoder=codec))
""" + HEATMAP_PIPELINES.replace("USE_UDP", "False")

# ViTPose-S (classic decoder, UDP): input 64x96, so the 16-pixel patches give a 4x6 token grid and
# the two 4x deconvolutions a 16x24 heatmap; the layer-decay AdamW, warm-up and steps of the file.
VITPOSE_S = """
_base_ = ['{mim}/configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_ViTPose-small_8xb64-210e_coco-256x192.py']
""" + HEATMAP_SCHEDULE + """
codec = dict(type='UDPHeatmap', input_size=(64, 96), heatmap_size=(16, 24), sigma=2)
model = dict(backbone=dict(img_size=(96, 64), init_cfg=None), head=dict(decoder=codec))
""" + HEATMAP_PIPELINES.replace("USE_UDP", "True")

FAMILIES = {
    # name: (template, default epochs, batch size)
    "rtmpose-t": (RTMPOSE_T, 10, 16),
    "hrnet-w32": (HRNET_W32, 10, 16),
    "vitpose-s": (VITPOSE_S, 10, 16),
}


def derived_config(family: str, mim: Path, data: Path, epochs: int, batch_size: int, iters_per_epoch: int,
                   val_interval: int, warmup: int | None = None) -> str:
    """The text of ``family``'s derived config (``_base_`` = MMPose's unchanged file)."""
    template, _, _ = FAMILIES[family]
    total = epochs * iters_per_epoch
    fields = dict(mim=mim, data=data, epochs=epochs, batch_size=batch_size, val_interval=val_interval,
                  log_interval=LOG_INTERVAL,
                  stage2=max(1, round(epochs * 30 / 420)),  # RTMPose: last 30 of 420 epochs on stage 2
                  warmup=warmup or max(1, min(1000, total // 10)),  # the files' warm-up, at most a tenth of the run
                  milestones=[round(epochs * 170 / 210), round(epochs * 200 / 210)])
    return template.format(**fields) + DATA.format(**fields)


def ap_curve(work_dir: Path) -> list[float]:
    """coco/AP of each validation, in order: the ``vis_data/scalars.json`` lines both tools write.

    Their ``step`` differs (MMEngine writes the epoch, mlpose the iteration), so only the order is used.
    """
    curve = []
    for path in sorted(work_dir.rglob("scalars.json")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "coco/AP" in row:
                curve.append(float(row["coco/AP"]))
    return curve


def epoch_losses(log: str, interval: int = LOG_INTERVAL) -> list[float]:
    """Mean logged training loss of each epoch, from the ``Epoch(train) [e][i/n] ... loss: x`` lines of both.

    Only the lines at multiples of ``interval``: MMEngine skips the epoch's last, shorter window
    (``ignore_last``), mlpose logs it; with ``log_processor.window_size`` = interval both average the
    same iterations.
    """
    per_epoch: dict[int, list[float]] = {}
    for epoch, i, loss in re.findall(r"Epoch\(train\)\s*\[(\d+)\]\[\s*(\d+)/\d+\].*? loss: ([0-9.]+)", log):
        if int(i) % interval == 0:
            per_epoch.setdefault(int(epoch), []).append(float(loss))
    return [sum(v) / len(v) for _, v in sorted(per_epoch.items())]


def val_epochs(max_epochs: int, val_interval: int) -> list[int]:
    """The epochs MMEngine's EpochBasedTrainLoop validates at (every interval, and the last one)."""
    return sorted({*range(val_interval, max_epochs + 1, val_interval), max_epochs})


def ap_from_log(text: str) -> list[float]:
    """Every ``coco/AP: x`` in a training log (when no scalars file is found)."""
    return [float(x) for x in re.findall(r"coco/AP: ([0-9.]+)", text)]


def start_run(tool: str, config: Path, seed: int, work_dir: Path, args) -> dict:
    """Start training ``config`` with ``tool`` and ``seed`` (a process writing ``work_dir/run.log``)."""
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               NO_ALBUMENTATIONS_UPDATE="1")
    seed_opt = f"randomness.seed={seed}"
    if tool == "mlpose":
        env["PYTHONPATH"] = str(ROOT)
        cmd = [sys.executable, "-m", "mlpose.cli", "train", str(config), "--work-dir", str(work_dir),
               "--cfg-options", seed_opt, "+tracking.enabled=False"]  # mlpose's own key: no MLflow run
    else:
        env["PYTHONPATH"] = str(args.extra_path)
        env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
        cmd = [args.mmpose_python, str(args.mim / "tools" / "train.py"), str(config), "--work-dir",
               str(work_dir), "--cfg-options", seed_opt]
    work_dir.mkdir(parents=True, exist_ok=True)
    log = open(work_dir / "run.log", "w")
    log.write(" ".join(cmd) + "\n")
    log.flush()
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=args.out)
    return dict(tool=tool, seed=seed, work_dir=work_dir, proc=proc, log=log, start=time.perf_counter())


def finish_run(run: dict) -> dict:
    """Wait for a started run; its final AP, AP curve and wall time."""
    rc = run["proc"].wait()
    wall = run.get("end", time.perf_counter()) - run["start"]
    run["log"].close()
    curve = ap_curve(run["work_dir"])
    if not curve:
        curve = ap_from_log((run["work_dir"] / "run.log").read_text())
    result = dict(tool=run["tool"], seed=run["seed"], rc=rc, wall=wall, curve=curve,
                  ap=curve[-1] if curve else float("nan"),
                  losses=epoch_losses((run["work_dir"] / "run.log").read_text()))
    (run["work_dir"] / "result.json").write_text(json.dumps(result))
    return result


def load_run(tool: str, seed: int, work_dir: Path) -> dict:
    """A finished run's row from its ``result.json``, else from its scalars and log (wall unknown)."""
    if (work_dir / "result.json").exists():
        result = json.loads((work_dir / "result.json").read_text())
        if "losses" not in result:
            result["losses"] = epoch_losses((work_dir / "run.log").read_text())
        return result
    log = (work_dir / "run.log").read_text() if (work_dir / "run.log").exists() else ""
    curve = ap_curve(work_dir) or ap_from_log(log)
    return dict(tool=tool, seed=seed, rc=None, wall=float("nan"), curve=curve,
                ap=curve[-1] if curve else float("nan"), losses=epoch_losses(log))


def make_data(args) -> None:
    if (args.data / "annotations" / "person_keypoints_val.json").exists():
        return
    subprocess.run([sys.executable, "-m", "mlpose.cli", "data", "synth", str(args.data),
                    "--num-train", str(args.train_images), "--num-val", str(args.val_images),
                    "--image-size", args.image_size, "--difficulty", "simple", "--seed", "0"],
                   env=dict(os.environ, PYTHONPATH=str(ROOT)), check=True, stdout=subprocess.DEVNULL)


def link_albumentations(args) -> None:
    """A folder of links to mlpose's venv copies of what MMPose's ``Albumentation`` imports."""
    if args.extra_path.exists():
        return
    import albumentations
    site = Path(albumentations.__file__).resolve().parents[1]
    args.extra_path.mkdir(parents=True)
    for name in ALBU_PACKAGES:
        if (site / name).exists():
            (args.extra_path / name).symlink_to(site / name)


def num_instances(data: Path) -> int:
    """Training people both tools keep: not crowd, at least one labelled keypoint."""
    annotations = json.loads((data / "annotations" / "person_keypoints_train.json").read_text())["annotations"]
    return sum(1 for a in annotations if not a.get("iscrowd") and max(a["keypoints"][2::3]) > 0)


def fmt(x: float) -> str:
    return f"{x:.3f}"


def family_summary(family: str, rows: list[dict]) -> str:
    """|mean mlpose - mean MMPose| against each tool's seed noise (the range of its final APs), and the
    gap in standard errors of the difference of the means (sample standard deviations)."""
    by_tool = {t: [r["ap"] for r in rows if r["tool"] == t] for t in ("mlpose", "MMPose")}
    if any(len(aps) < 2 or any(ap != ap for ap in aps) for aps in by_tool.values()):  # ap != ap: NaN
        return f"| {family} | (incomplete: {', '.join(f'{t} {len(v)} runs' for t, v in by_tool.items())}) | | | | | |"
    mean = {t: sum(v) / len(v) for t, v in by_tool.items()}
    noise = {t: max(v) - min(v) for t, v in by_tool.items()}
    var = {t: sum((x - mean[t]) ** 2 for x in v) / (len(v) - 1) for t, v in by_tool.items()}
    gap = abs(mean["mlpose"] - mean["MMPose"])
    se = sum(var[t] / len(by_tool[t]) for t in by_tool) ** 0.5
    ratio = gap / max(noise.values()) if max(noise.values()) > 0 else float("inf")
    within = gap <= max(noise.values())
    return (f"| {family} | {fmt(mean['mlpose'])} | {fmt(mean['MMPose'])} | {fmt(gap)} | "
            f"{fmt(noise['mlpose'])} | {fmt(noise['MMPose'])} | {ratio:.2f} | {gap / se if se else float('inf'):.2f} | "
            f"{'yes' if within else 'NO'} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--mmpose-python", default="/tmp/mmpose-venv/bin/python")
    p.add_argument("--out", type=Path, default=Path("/tmp/recipe"))
    p.add_argument("--data", type=Path, help="a `mlpose data synth` folder (default: OUT/data, made here)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=int, help="epochs of every family (default: the family's)")
    p.add_argument("--batch-size", type=int, help="default: the family's")
    p.add_argument("--val-interval", type=int, default=2)
    p.add_argument("--warmup", type=int, help="LinearLR warm-up iterations (default: a tenth of the run, <= 1000)")
    p.add_argument("--train-images", type=int, default=320)
    p.add_argument("--val-images", type=int, default=64)
    p.add_argument("--image-size", default="128x128")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--parallel", action="store_true", help="start all runs of a family at once (each on --threads)")
    p.add_argument("--tools", nargs="+", default=["mlpose", "MMPose"])
    p.add_argument("--summarize", action="store_true", help="print the tables of the runs in OUT/work, run nothing")
    p.add_argument("--extra-path", type=Path, default=Path("/tmp/recipe-albu"))
    args = p.parse_args()
    args.out = args.out.resolve()
    args.data = (args.data or args.out / "data").resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    args.mim = Path(subprocess.run([args.mmpose_python, "-c", FIND_MIM], capture_output=True, text=True,
                                   check=True).stdout.strip())
    make_data(args)
    link_albumentations(args)
    instances = num_instances(args.data)

    results: dict[str, list[dict]] = {}
    for family in args.families:
        _, epochs, batch_size = FAMILIES[family]
        epochs, batch_size = args.epochs or epochs, args.batch_size or batch_size
        iters = -(-instances // batch_size)
        config = args.out / f"{family}_recipe.py"
        if not args.summarize:
            config.write_text(derived_config(family, args.mim, args.data, epochs, batch_size, iters, args.val_interval,
                                             args.warmup))
        print(f"\n## {family}: {config} ({instances} train people, bs {batch_size}, {iters} iters/epoch, "
              f"{epochs} epochs)\n", flush=True)
        print("| family | tool | seed | final AP | AP per val (epoch:AP) | wall s | rc |\n|---|---|---|---|---|---|---|",
              flush=True)
        work = args.out / "work" / family
        order = [(seed, tool) for i, seed in enumerate(args.seeds)  # interleaved: mlpose, MMPose, MMPose, mlpose
                 for tool in (args.tools if i % 2 == 0 else reversed(args.tools))]
        rows = results[family] = []
        for group in ([order] if args.parallel or args.summarize else [[run] for run in order]):
            if args.summarize:  # the runs already in OUT/work (result.json, else the logs)
                done = [load_run(tool, seed, work / f"{tool}-s{seed}") for seed, tool in group]
            else:  # --parallel: all at once; a row prints as each group ends, so a cut-off run leaves its table
                runs = [start_run(tool, config, seed, work / f"{tool}-s{seed}", args) for seed, tool in group]
                while any("end" not in r for r in runs):  # each run's own end, for its wall time
                    for r in runs:
                        if "end" not in r and r["proc"].poll() is not None:
                            r["end"] = time.perf_counter()
                    time.sleep(0.5)
                done = [finish_run(r) for r in runs]
            rows.extend(done)
            for r in done:
                curve = " ".join(f"{e}:{ap:.3f}" for e, ap in zip(val_epochs(epochs, args.val_interval), r["curve"]))
                print(f"| {family} | {r['tool']} | {r['seed']} | {fmt(r['ap'])} | {curve} | {r['wall']:.0f} | "
                      f"{r['rc']} |", flush=True)
        print("\n| family | tool | seed | mean training loss per epoch (1, 2, ...) |\n|---|---|---|---|")
        for r in sorted(rows, key=lambda r: (r["seed"], r["tool"])):
            print(f"| {family} | {r['tool']} | {r['seed']} | {' '.join(f'{x:.4f}' for x in r['losses'])} |")
        print("\n| family | mean mlpose | mean MMPose | abs gap | mlpose seed range | MMPose seed range "
              "| gap / max range | gap / s.e. | within range |\n|---|---|---|---|---|---|---|---|---|", flush=True)
        print(family_summary(family, rows), flush=True)


if __name__ == "__main__":
    main()
