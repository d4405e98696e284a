"""The measured jobs of ``benchmarks/scale.py``, one per process, for mlpose or MMPose.

    python benchmarks/scale_jobs.py JOB ARGS_JSON

Runs under mlpose's venv or MMPose's (``/tmp/mmpose-venv``): only the standard library and
numpy are imported at the top, each tool inside its job. Prints one JSON line of results.
Memory comes from ``/proc`` (what psutil reads): the peak resident set (``VmHWM``, reset
through ``/proc/self/clear_refs`` where a measurement starts) and per process USS/PSS from
``/proc/PID/smaps_rollup``.
"""
from __future__ import annotations

import json
import os
import sys
import time
import warnings

import numpy as np

MIB = 2**20


def _status_kib(field: str, pid: str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> int:
    """Start a peak-memory measurement; returns the current resident set in bytes."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kib("VmRSS") * 1024


def peak_bytes() -> int:
    return _status_kib("VmHWM") * 1024


def uss_pss(pid: int) -> tuple[float, float]:
    """(USS, PSS) of a process in MiB, as psutil.memory_full_info computes them."""
    fields = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"):
                fields[parts[0][:-1]] = int(parts[1])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0) + fields.get("Private_Hugetlb", 0)
    return uss / 1024, fields.get("Pss", 0) / 1024


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (DataLoader workers)."""
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        kids.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return sorted(kids)


# ---- dataset start-up and DataLoader workers ---------------------------------------------
def _dataset(tool: str, args: dict):
    kwargs = dict(ann_file="annotations/person_keypoints_train2017.json", data_root=args["root"] + "/",
                  data_prefix=dict(img="train2017/"), pipeline=[])
    if tool == "mmpose":
        warnings.filterwarnings("ignore")
        from mmpose.datasets import CocoDataset
    else:
        from mlpose.datasets import CocoDataset
    return CocoDataset(**kwargs)


def startup(args: dict) -> dict:
    """Build the train dataset of the COCO-size file: seconds and peak memory above the start."""
    base = reset_peak()
    start = time.perf_counter()
    ds = _dataset(args["tool"], args)
    return dict(seconds=time.perf_counter() - start, peak_mib=(peak_bytes() - base) / MIB, instances=len(ds),
                kept_mib=(_status_kib("VmRSS") * 1024 - base) / MIB)


def workers(args: dict) -> dict:
    """USS/PSS of each of 4 persistent workers after the first batches and after two epochs of
    every sample (``dataset[i]`` without a pipeline: the sample list is what is read)."""
    import torch

    ds = _dataset(args["tool"], args)
    if args["tool"] == "mmpose":
        loader_cls = torch.utils.data.DataLoader  # what MMEngine's runner builds
    else:
        from mlpose.datasets.loader import ForkSharingDataLoader as loader_cls
    loader = loader_cls(ds, batch_size=256, shuffle=True, num_workers=4, persistent_workers=True, collate_fn=len)
    first, start = None, time.perf_counter()
    for _ in range(2):
        for i, _batch in enumerate(loader):
            if first is None and i == 8:
                first = {pid: uss_pss(pid) for pid in children(os.getpid())}
    last = {pid: uss_pss(pid) for pid in first}
    growth = [(last[p][0] - first[p][0], last[p][1] - first[p][1]) for p in first]
    return dict(seconds=time.perf_counter() - start, uss_growth_mib=max(g[0] for g in growth),
                pss_growth_mib=max(g[1] for g in growth), uss_end_mib=max(v[0] for v in last.values()))


def loader(args: dict) -> dict:
    """samples/s of the res50 256x192 training pipeline through mlpose's loader at ``workers``."""
    from mlpose.config import load_config
    from mlpose.datasets import pose_collate
    from mlpose.datasets.loader import build_dataloader

    cfg = load_config("res50").train_dataloader.to_dict()
    cfg["dataset"].update(data_root=args["root"] + "/", ann_file="annotations/person_keypoints_train.json",
                          data_prefix=dict(img="images/train/"))
    cfg.update(batch_size=32, num_workers=args["workers"], persistent_workers=False)
    dl = build_dataloader(cfg, "train_dataloader", seed=0, rank=0, world_size=1, train=True, collate_fn=pose_collate)
    dl.sampler.set_epoch(0)
    count, it = 0, iter(dl)
    next(it)  # workers started, first batch out
    start = time.perf_counter()
    for _ in range(min(args["batches"], len(dl) - 1)):
        count += len(next(it)["meta"])
    return dict(samples_per_s=count / (time.perf_counter() - start), workers=dl.num_workers)


def checkpoint(args: dict) -> dict:
    """Log a res50-size checkpoint (408 MB) as last.pth: linked into the local store vs copied."""
    import torch
    from mlflow import MlflowClient

    from mlpose.tracking import Tracker

    os.chdir(args["work"])
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{os.path.join(args['work'], 'mlflow.db')}"
    path = os.path.join(args["work"], "epoch_1.pth")
    torch.save({"weights": torch.zeros(args["mb"] * 2**20 // 4)}, path)
    os.sync()
    out = {}
    tracker = Tracker.start({}, config_name="checkpoint")
    start = time.perf_counter()
    tracker.log_checkpoint(path, "last.pth")
    tracker.flush(uploads=True)
    out["link_s"] = time.perf_counter() - start
    out["linked"] = tracker._linker.num_linked
    tracker.finish()
    other = Tracker.start({}, config_name="checkpoint")
    start = time.perf_counter()
    MlflowClient().log_artifact(other.run_id, path, "checkpoints")  # MLflow's own local upload: a copy
    os.sync()
    out["copy_s"] = time.perf_counter() - start
    other.finish()
    out["file_mb"] = os.path.getsize(path) / 1e6
    return out


# ---- evaluation -------------------------------------------------------------------------
def _pred_rows(path: str, rank: int = 0, world: int = 1):
    """This rank's share of the predictions file (strided like a DistributedSampler, padded)."""
    data = dict(np.load(path))
    n = len(data["id"])
    rows = np.arange(rank, -(-n // world) * world, world) % n
    return data, rows


def eval_mlpose(args: dict) -> dict:
    from mlpose.datasets.metainfo import load_metainfo
    from mlpose.evaluation import CocoMetric
    from mlpose.runtime import dist

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world > 1:
        import torch.distributed

        torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    data, rows = _pred_rows(args["preds"], rank, world)
    preds = [dict(id=int(data["id"][i]), img_id=int(data["img_id"][i]), category_id=1,
                  keypoints=data["keypoints"][i], keypoint_scores=data["keypoint_scores"][i],
                  bbox=data["bbox"][i], bbox_score=float(data["bbox_score"][i]), scale=data["scale"][i])
             for i in rows]
    metric = CocoMetric(ann_file=args["ann"], **args.get("metric", {}))
    metric.dataset_meta = load_metainfo(None, "experiments/_base_/datasets/coco.py")
    dist.barrier()
    base = reset_peak()
    start = time.perf_counter()
    for i in range(0, len(preds), 64):
        metric.process(preds[i:i + 64])
    values = metric.compute()
    seconds = time.perf_counter() - start
    out = dict(seconds=seconds, peak_mib=(peak_bytes() - base) / MIB, stats=values, rank=rank)
    parts = dist.all_gather_object(out)
    return {"ranks": parts} if world > 1 else out


def eval_mmpose(args: dict) -> dict:
    warnings.filterwarnings("ignore")
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.evaluation.metrics import CocoMetric
    import mmpose

    data, rows = _pred_rows(args["preds"])
    samples = []
    for i in rows:
        samples.append(dict(
            id=int(data["id"][i]), img_id=int(data["img_id"][i]), category_id=1,
            pred_instances=dict(keypoints=data["keypoints"][i][None], keypoint_scores=data["keypoint_scores"][i][None],
                                bboxes=data["bbox"][i][None]),
            gt_instances=dict(bbox_scores=data["bbox_score"][i][None], bbox_scales=data["scale"][i][None])))
    cfg = os.path.join(os.path.dirname(mmpose.__file__), ".mim/configs/_base_/datasets/coco.py")
    metric = CocoMetric(ann_file=args["ann"], **args.get("metric", {}))
    metric.dataset_meta = parse_pose_metainfo(dict(from_file=cfg))
    base = reset_peak()
    start = time.perf_counter()
    for i in range(0, len(samples), 64):
        metric.process([], samples[i:i + 64])
    values = metric.evaluate(len(samples))
    seconds = time.perf_counter() - start
    return dict(seconds=seconds, peak_mib=(peak_bytes() - base) / MIB,
                stats={k.split("/")[-1]: float(v) for k, v in values.items()})


# ---- test with flip: whole-process peak memory ----------------------------------------
def _test_options(root: str, num: int, extra: str, new: str = "") -> list[str]:
    """--cfg-options for the test set; ``new`` prefixes keys the config lacks (mlpose: '+')."""
    ds = "test_dataloader.dataset."
    return [f"{ds}data_root={root}/", f"{ds}ann_file=annotations/person_keypoints_val.json", f"{ds}bbox_file=None",
            f"{ds}data_prefix.img=images/val/", f"{new}{ds}indices={num}", "test_dataloader.num_workers=0", "test_dataloader.persistent_workers=False",
            f"test_dataloader.batch_size={32}", f"test_evaluator.ann_file={root}/annotations/person_keypoints_val.json",
            extra]


def test_mlpose(args: dict) -> dict:
    """``mlpose test`` of a res50 256x192 checkpoint (flip test on) on ``num`` people."""
    import torch

    from mlpose.cli import main as cli
    from mlpose.config import load_config
    from mlpose.registry import MODELS, build

    ckpt = os.path.join(args["work"], "res50_mlpose.pth")
    if not os.path.exists(ckpt):
        torch.save({"model": build(load_config("res50").model, MODELS, "model").state_dict()}, ckpt)
    start = time.perf_counter()
    try:
        cli(["test", "res50", ckpt, "--work-dir", os.path.join(args["work"], "mlpose-test"), "--cfg-options",
             *_test_options(args["root"], args["num"], "tracking.enabled=False", "+")])
    except SystemExit as exc:
        if exc.code:
            raise
    return dict(seconds=time.perf_counter() - start, peak_mib=peak_bytes() / MIB)


def test_mmpose(args: dict) -> dict:
    """MMPose's ``tools/test.py`` of its res50 256x192 recipe (flip test on), the same people."""
    import runpy

    import torch
    import mmpose

    warnings.filterwarnings("ignore")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"
    mim = os.path.join(os.path.dirname(mmpose.__file__), ".mim")
    config = os.path.join(mim, "configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py")
    ckpt = os.path.join(args["work"], "res50_mmpose.pth")
    if not os.path.exists(ckpt):
        from mmengine.config import Config
        from mmpose.apis import init_model

        cfg = Config.fromfile(config)
        cfg.model.backbone.init_cfg = None
        torch.save({"state_dict": init_model(cfg, device="cpu").state_dict()}, ckpt)
    sys.argv = ["test.py", config, ckpt, "--work-dir", os.path.join(args["work"], "mmpose-test"), "--cfg-options",
                *_test_options(args["root"], args["num"], "model.backbone.init_cfg=None")]
    start = time.perf_counter()
    try:
        runpy.run_path(os.path.join(mim, "tools/test.py"), run_name="__main__")
    except SystemExit as exc:
        if exc.code:
            raise
    return dict(seconds=time.perf_counter() - start, peak_mib=peak_bytes() / MIB)


# ---- a long run's tracking ---------------------------------------------------------------
def tracking(args: dict) -> dict:
    """500k iterations of training scalars at the default interval (50) and validation every
    ``val_every`` iterations, sent through the Tracker; then the reads of resume, compare, runs."""
    import torch

    from mlpose.config import load_config
    from mlpose.tracking import Tracker
    from mlpose.tracking.compare import compare_runs, list_runs
    from mlpose.tracking.resume import fetch_run_for_resume

    os.chdir(args["work"])
    uri = f"sqlite:///{os.path.join(args['work'], 'mlflow.db')}"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    cfg = load_config("res50")
    tracker = Tracker.start(cfg, config_file=cfg.filename, config_name=cfg.name, experiment="long-run")
    ckpt = os.path.join(args["work"], "epoch_1.pth")
    torch.save({"weights": torch.zeros(1000)}, ckpt)
    interval, iters = args.get("interval", 50), args["iterations"]
    windows, start, t = [], time.perf_counter(), time.perf_counter()
    for it in range(interval, iters + 1, interval):
        tracker.log_metrics({"base_lr": 5e-4, "lr": 5e-4, "data_time": 0.01, "time": 0.3, "memory": 9000.0,
                             "loss": 1.0 / it, "loss_kpt": 1.0 / it, "acc_pose": 0.5, "epoch": it // 2340 + 1}, it)
        if it % args["val_every"] == 0:
            tracker.log_metrics({f"coco/{n}": 0.7 for n in ("AP", "AP .5", "AP .75", "AP (M)", "AP (L)", "AR")}, it)
            tracker.log_checkpoint(ckpt, "last.pth")
        if it % (iters // 10) == 0:
            windows.append(time.perf_counter() - t)
            t = time.perf_counter()
    log_s = time.perf_counter() - start
    tracker.finish()
    total_s = time.perf_counter() - start
    out = dict(points=(iters // interval) * 9, log_calls=iters // interval, log_s=log_s, finish_s=total_s - log_s,
               first_tenth_s=windows[0], last_tenth_s=windows[-1])
    t = time.perf_counter()
    info = fetch_run_for_resume(tracker.run_id, os.path.join(args["work"], "fetch"), tracking_uri=uri)
    attached = Tracker.start(load_config(info.config_path), config_name=cfg.name, run_id=tracker.run_id)
    out["resume_s"] = time.perf_counter() - t  # download config + checkpoint, attach (last steps read)
    attached.finish()
    t = time.perf_counter()
    compare_runs([tracker.run_id], os.path.join(args["work"], "compare.png"), tracking_uri=uri)
    out["compare_s"] = time.perf_counter() - t
    t = time.perf_counter()
    list_runs(tracking_uri=uri)
    out["runs_s"] = time.perf_counter() - t
    return out


JOBS = {"tracking": tracking, "startup": startup, "workers": workers, "loader": loader, "checkpoint": checkpoint,
        "eval-mlpose": eval_mlpose, "eval-mmpose": eval_mmpose, "test-mlpose": test_mlpose,
        "test-mmpose": test_mmpose}


def main() -> None:
    job, args = sys.argv[1], json.loads(sys.argv[2])
    print("RESULT " + json.dumps(JOBS[job](args)), flush=True)


if __name__ == "__main__":
    main()
