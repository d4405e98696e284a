"""Proof that checkpoints MMPose itself saves load in mlpose and give MMPose's results (never in CI).

    .venv/bin/python benchmarks/zoo_checkpoints.py [--mmpose-python /tmp/mmpose-venv/bin/python]
                                                   [--work /tmp/zoo-proof] [--num-val 16]

With MMPose 1.3.2 in its own venv (``/work/shared/anchors/mmpose/install.sh``), on images made by
``mlpose data synth``:

1. MMPose trains its unchanged ``td-hm_res50_8xb64-210e_coco-256x192.py`` (through a derived file
   that sets the data paths, two iterations, no ImageNet weights: there is no network here; the head
   initialised at the Kaiming scale so the random model's heatmaps have clear peaks; an ``EMAHook``
   so the file holds ``ema_state_dict``) with its own ``tools/train.py``: a full
   MMEngine training checkpoint (``meta``, ``state_dict``, ``message_hub``, ``optimizer``,
   ``param_schedulers``, ``ema_state_dict``). Its ``tools/misc/publish_model.py`` turns that into
   a published file (``meta`` + ``state_dict``, legacy serialization).
2. For each file: MMPose's ``tools/test.py`` and ``mlpose test`` of the same config file (MMPose's
   recipe with only the data paths set; its ``init_cfg=torchvision://resnet50`` stays, as neither
   tool fetches it for a test) on the generated validation set (ground-truth boxes, flip test):
   coco/AP of both, and the largest keypoint difference over every predicted person (both tools'
   prediction dumps, by annotation id).
   Results already in ``--work`` are reused (delete the folder to redo everything).
3. For each file: heatmaps of the same crops (mlpose's test pipeline, 8 people) from MMPose's
   ``init_model(config, file)`` and from mlpose's ``PosePredictor.from_checkpoint(file, config)``:
   the largest absolute difference.

MMPose runs through its own Python as a subprocess (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``: its
tools call ``torch.load`` on its own files, which torch 2.6+ refuses otherwise); mlpose reads the
same files with its restricted loader. Prints one table (markdown).
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

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
MMPOSE_CONFIG = "body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py"

# MMPose's side of step 3: heatmaps of the crops in CROPS.npy (uint8 BGR (N, 3, H, W)) -> OUT.npy
HEATMAPS = """
import sys, numpy as np, torch
from mmpose.apis import init_model
from mmpose.structures import PoseDataSample
config, checkpoint, crops, out = sys.argv[1:5]
model = init_model(config, checkpoint, device='cpu')
inputs = list(torch.from_numpy(np.load(crops)))
with torch.no_grad():
    data = model.data_preprocessor({'inputs': inputs, 'data_samples': [PoseDataSample() for _ in inputs]}, False)
    np.save(out, model.head.forward(model.extract_feat(data['inputs'])).numpy())
"""
# MMPose's prediction dump (pickled data samples) -> {annotation id: keypoints} as JSON
DUMP = """
import json, sys, pickle
samples = pickle.load(open(sys.argv[1], 'rb'))
json.dump({str(s['id']): s['pred_instances']['keypoints'][0].tolist() for s in samples}, open(sys.argv[2], 'w'))
"""


def derived_configs(folder: Path, zoo: Path, data: Path) -> tuple[Path, Path]:
    """``(train, test)`` config files: MMPose's unchanged recipe as ``_base_`` plus the data paths."""
    loader = ("dict(batch_size={bs}, num_workers=0, persistent_workers=False, "
              "dataset=dict(data_root='" + f"{data}/" + "', ann_file='annotations/person_keypoints_{split}.json', "
              "data_prefix=dict(img='images/{split}/'){extra}))")
    test = folder / "test_res50_synth.py"
    test.write_text(f"_base_ = ['{zoo / MMPOSE_CONFIG}']\n"  # init_cfg (torchvision://resnet50) kept: unused by tests
                    + f"val_dataloader = {loader.format(bs=8, split='val', extra=', bbox_file=None')}\n"
                    + "test_dataloader = val_dataloader\n"
                    + f"val_evaluator = dict(ann_file='{data}/annotations/person_keypoints_val.json')\n"
                    + "test_evaluator = val_evaluator\n")
    train = folder / "train_res50_synth.py"
    train.write_text(f"_base_ = ['{test}']\n"
                     # no ImageNet weights (no network here); a head initialised at the Kaiming scale instead of
                     # std 0.001, so the random heatmaps have clear peaks and keypoints can be compared
                     + "model = dict(backbone=dict(init_cfg=None), head=dict(init_cfg=dict(type='Kaiming', "
                       "layer=['Conv2d', 'ConvTranspose2d'])))\n"
                     + f"train_dataloader = {loader.format(bs=2, split='train', extra=', indices=4')}\n"
                     + "train_cfg = dict(max_epochs=1, val_interval=1000)\n"
                     # two iterations at the full learning rate and a fast average: the file's averaged
                     # (state_dict) and raw (ema_state_dict) weights differ visibly
                     + "param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=2)]\n"
                     + "custom_hooks = [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.5, "
                       "update_buffers=True, priority=49)]\n"
                     + "default_hooks = dict(logger=dict(interval=1))\nrandomness = dict(seed=0)\n")
    return train, test


def mmpose(python: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1", "PYTHONWARNINGS": "ignore"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([python, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"MMPose {' '.join(map(str, args[:2]))} failed:\n{proc.stderr[-3000:]}")
    return proc


def mlpose_test(config: Path, checkpoint: Path, folder: Path) -> tuple[dict, dict]:
    """``mlpose test``'s metrics and ``{annotation id: keypoints}``."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "PYTHONPATH": str(REPO)}
    if not (folder / "dump.json").is_file():  # a result in --work is reused
        proc = subprocess.run([sys.executable, "-m", "mlpose.cli", "test", str(config), str(checkpoint),
                               "--work-dir", str(folder / "work"), "--out", str(folder / "metrics.json"),
                               "--dump", str(folder / "dump.json")], cwd=folder, env=env, capture_output=True,
                              text=True)
        if proc.returncode:
            raise SystemExit(f"mlpose test {checkpoint.name} failed:\n{proc.stderr[-3000:]}")
    preds = json.loads((folder / "dump.json").read_text())["predictions"]
    return (json.loads((folder / "metrics.json").read_text()),
            {str(p["id"]): p["keypoints"] for p in preds})


def mmpose_test(python: str, tools: Path, config: Path, checkpoint: Path, folder: Path) -> tuple[dict, dict]:
    """MMPose ``tools/test.py``'s metrics and ``{annotation id: keypoints}``."""
    if not (folder / "mm-dump.json").is_file():  # a result in --work is reused
        mmpose(python, str(tools / "test.py"), str(config), str(checkpoint), "--work-dir", str(folder / "mm-work"),
               "--out", str(folder / "mm-metrics.json"), "--dump", str(folder / "mm-dump.pkl"), cwd=folder)
        mmpose(python, "-c", DUMP, str(folder / "mm-dump.pkl"), str(folder / "mm-dump.json"), cwd=folder)
    return (json.loads((folder / "mm-metrics.json").read_text()),
            json.loads((folder / "mm-dump.json").read_text()))


def heatmap_diff(python: str, config: Path, checkpoint: Path, data: Path, folder: Path) -> tuple[float, float]:
    """Largest |heatmap difference| of MMPose and mlpose on the same 8 crops of the validation images,
    and the largest |heatmap value| (the scale the difference compares with)."""
    from mlpose.inference import ImageTask, PosePredictor

    predictor = PosePredictor.from_checkpoint(str(checkpoint), config=str(config), device="cpu")
    coco = json.loads((data / "annotations" / "person_keypoints_val.json").read_text())
    files = {img["id"]: img["file_name"] for img in coco["images"]}
    items = []
    import cv2

    for ann in [a for a in coco["annotations"] if a["num_keypoints"] > 0][:8]:
        image = cv2.imread(str(data / "images" / "val" / files[ann["image_id"]]))
        items.append(predictor.crop(ImageTask(ann["id"], image), np.array(ann["bbox"]), 1.0, len(items)))
    crops = torch.stack([item["inputs"] for item in items])
    np.save(folder / "crops.npy", crops.numpy())
    with torch.no_grad():
        ours = predictor.model(crops).float().numpy()
    if not (folder / "mm-heatmaps.npy").is_file():  # a result in --work is reused (the crops are the same)
        mmpose(python, "-c", HEATMAPS, str(config), str(checkpoint), str(folder / "crops.npy"),
               str(folder / "mm-heatmaps.npy"), cwd=folder)
    theirs = np.load(folder / "mm-heatmaps.npy")
    return float(np.abs(ours - theirs).max()), float(np.abs(theirs).max())


def keypoint_diff(a: dict, b: dict) -> tuple[int, float, float]:
    """``(people in both, share of keypoints within 0.01 px, largest |keypoint difference| in px)``; the
    two must hold the same people. (A random model's heatmaps have shallow peaks: float rounding of
    another kernel order can move a near-tie peak to another pixel, as the heatmap column shows.)"""
    if set(a) != set(b):
        raise SystemExit(f"the tools predicted different people: {sorted(set(a) ^ set(b))[:5]}")
    diff = np.array([np.abs(np.asarray(a[k])[..., :2] - np.asarray(b[k])[..., :2]).max(-1) for k in sorted(a)])
    return len(a), float((diff <= 0.01).mean()), float(diff.max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mmpose-python", default="/tmp/mmpose-venv/bin/python")
    parser.add_argument("--work", default="/tmp/zoo-proof")
    parser.add_argument("--num-val", type=int, default=16, help="generated validation images")
    args = parser.parse_args()
    site = subprocess.run([args.mmpose_python, "-c", "import mmpose, os; print(os.path.dirname(mmpose.__file__))"],
                          capture_output=True, text=True, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    mim = Path(site.stdout.strip().splitlines()[-1]) / ".mim"
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    if not data.exists():
        from mlpose.datasets.synth import generate

        generate(data, num_train=8, num_val=args.num_val, seed=0, image_size=(256, 256), progress=False)
    train_cfg, test_cfg = derived_configs(work, mim / "configs", data)
    trained = work / "mm-train" / "epoch_1.pth"
    if not trained.exists():
        mmpose(args.mmpose_python, str(mim / "tools" / "train.py"), str(train_cfg), "--work-dir",
               str(trained.parent), cwd=work)
    published = sorted(work.glob("published-*.pth"))
    if not published:
        mmpose(args.mmpose_python, str(mim / "tools" / "misc" / "publish_model.py"), str(trained),
               str(work / "published.pth"), cwd=work)
        for _ in range(50):  # publish_model renames the file in a background `mv`
            if published := sorted(work.glob("published-*.pth")):
                break
            time.sleep(0.1)
    rows = []
    for label, ckpt in (("MMEngine training checkpoint (EMA)", trained), ("published (legacy format)", published[0])):
        folder = work / re.sub(r"\W+", "-", label)
        folder.mkdir(exist_ok=True)
        ours, our_kpts = mlpose_test(test_cfg, ckpt, folder)
        theirs, their_kpts = mmpose_test(args.mmpose_python, mim / "tools", test_cfg, ckpt, folder)
        people, same, kpt = keypoint_diff(our_kpts, their_kpts)
        heat, scale = heatmap_diff(args.mmpose_python, test_cfg, ckpt, data, folder)
        rows.append((label, ckpt.name, ours["coco/AP"], theirs["coco/AP"], people, same, kpt, heat, scale))
    print("| file | name | mlpose coco/AP | MMPose coco/AP | people | keypoints within 0.01 px | "
          "max keypoint diff (px) | max heatmap diff | max heatmap |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, name, a, b, n, same, k, h, m in rows:
        print(f"| {label} | {name} | {a:.4f} | {b:.4f} | {n} | {same:.1%} | {k:.2g} | {h:.2e} | {m:.2e} |")
    print(f"\nthe training checkpoint's averaged vs raw weights differ by up to {ema_gap(trained):.2e}; "
          "mlpose loads the averaged ones (state_dict), as MMPose does")


def ema_gap(path: Path) -> float:
    """Largest |averaged - raw| float weight of an MMEngine checkpoint with ``ema_state_dict``."""
    from mlpose.runtime.checkpoint_io import load_checkpoint
    from mlpose.runtime.foreign import model_weights

    ckpt = load_checkpoint(path)
    averaged, raw = model_weights(ckpt), model_weights(ckpt, ema=False)
    return max(float((averaged[k] - raw[k]).abs().max()) for k in averaged if averaged[k].is_floating_point())


if __name__ == "__main__":
    main()
