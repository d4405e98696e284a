"""Same weights, same answer: MMPose and mlpose build one unchanged MMPose config file each; the
weights of either, saved as that tool saves them, load into the other's model with no renaming,
and both give the same outputs on the same crops (never in CI: it needs MMPose's venv).

    python benchmarks/zoo_weights.py [CONFIG ...] [--crops 4] [--mmpose-python /tmp/mmpose-venv/bin/python]

A CONFIG is a path or a file name under MMPose's installed ``configs/`` (default: HRNet-W32,
HRNet-W48, ResNetV1d-50, ResNeXt-50, SEResNet-50 at 256x192). Per config, in eval mode and fp32:

- **MMPose -> mlpose**: ``benchmarks/mmpose_zoo_worker.py save`` builds MMPose's model, gives it
  random weights (unit-scale convs, random BN affine parameters and statistics: MMPose's own init
  zeroes every residual branch), writes them with MMEngine's ``save_checkpoint`` and its head
  outputs on the crops; mlpose loads that file through ``load_from``'s loader (strict).
- **mlpose -> MMPose**: mlpose's model gets random weights the same way, its ``state_dict`` is
  saved under ``state_dict`` (an mlpose training checkpoint keeps it under ``model``), and MMPose's
  ``load_checkpoint(strict=True)`` loads it in the worker.

The crops are random uint8 BGR images at the codec's input size. The table gives the largest
absolute output difference each way (goal <= 1e-4) next to the largest output magnitude. Keys that
mlpose cannot take yet are stripped and named in the ``stripped`` column: URL ``init_cfg``s
(nothing is downloaded here; the weights come from the other tool anyway).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mlpose.config import ConfigError, load_config
from mlpose.config.loader import read_file
from mlpose.engine.checkpointer import load_weights
from mlpose.registry import MODELS, build

MMPOSE_PYTHON = "/tmp/mmpose-venv/bin/python"
WORKER = Path(__file__).with_name("mmpose_zoo_worker.py")
DEFAULT_CONFIGS = (
    "td-hm_hrnet-w32_8xb64-210e_coco-256x192.py",
    "td-hm_hrnet-w48_8xb32-210e_coco-256x192.py",
    "td-hm_resnetv1d50_8xb64-210e_coco-256x192.py",
    "td-hm_resnext50_8xb64-210e_coco-256x192.py",
    "td-hm_seresnet50_8xb64-210e_coco-256x192.py",
)
GOAL = 1e-4


def find_config(name: str, mmpose_python: str) -> Path:
    """``name`` as a path, else the file of that name under MMPose's installed ``configs/``."""
    if Path(name).is_file():
        return Path(name)
    root = subprocess.run([mmpose_python, "-c", "import mmpose, os; print(os.path.dirname(mmpose.__file__))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    found = sorted((Path(root) / ".mim" / "configs").rglob(name))
    if not found:
        raise SystemExit(f"{name}: no such file, nor under {root}/.mim/configs")
    return found[0]


def model_config(path: Path) -> tuple[dict, list[str]]:
    """The ``model`` section as mlpose reads the file, and the keys stripped to build it."""
    notes = []
    try:
        cfg = load_config(path)
    except ConfigError as exc:  # runtime keys mlpose does not read yet: take the model section alone
        notes.append(f"config unchecked ({str(exc)[:60]})")
        cfg = read_file(path)
    model = dict(cfg["model"])
    for part in ("backbone", "neck", "head"):
        if isinstance(model.get(part), dict) and model[part].get("init_cfg") is not None:
            model[part] = {k: v for k, v in model[part].items() if k != "init_cfg"}
            notes.append(f"model.{part}.init_cfg")
    return model, notes


def randomize(model: torch.nn.Module, crops: torch.Tensor, seed: int = 1) -> None:
    """The worker's :func:`randomize` for mlpose's model: unit-scale convs, random BN, statistics
    from one train-mode pass over the crops, then eval mode."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            fan_in = m.weight[0].numel() if not isinstance(m, torch.nn.ConvTranspose2d) else m.weight.shape[0]
            m.weight.data = torch.randn(m.weight.shape, generator=gen) / fan_in**0.5
            if m.bias is not None:
                m.bias.data = 0.1 * torch.randn(m.bias.shape, generator=gen)
        elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.weight.data = 0.5 + torch.rand(m.weight.shape, generator=gen)
            m.bias.data = 0.2 * torch.randn(m.bias.shape, generator=gen)
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(crops)
    model.eval()


def outputs(model: torch.nn.Module, crops: torch.Tensor) -> list[np.ndarray]:
    with torch.no_grad():
        out = model(crops)
    return [o.float().numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]


def worker(mmpose_python: str, *args) -> None:
    done = subprocess.run([mmpose_python, str(WORKER), *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"MMPose worker failed: {done.stderr.strip().splitlines()[-1]}")


def max_diff(ours: list[np.ndarray], npz: Path) -> float:
    theirs = np.load(npz)
    if len(theirs.files) != len(ours):
        raise RuntimeError(f"{len(ours)} outputs in mlpose vs {len(theirs.files)} in MMPose")
    return max(float(np.abs(o - theirs[f"out_{i}"]).max()) for i, o in enumerate(ours))


def compare(path: Path, num_crops: int, mmpose_python: str, work: Path) -> dict:
    """One config both ways; a dict of the table's columns."""
    model_cfg, notes = model_config(path)
    model = build(model_cfg, MODELS, "model").eval()
    w, h = model.head.decoder.input_size
    crops = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (num_crops, 3, h, w), dtype=np.uint8))
    np.save(work / "crops.npy", crops.numpy())
    row = dict(config=path.name, backbone=model_cfg["backbone"]["type"],
               params=f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M", stripped=", ".join(notes) or "-")

    worker(mmpose_python, "save", path, work / "crops.npy", work)
    load_weights(model, str(work / "mmpose.pth"))  # what load_from does: strict, names what does not fit
    model.eval()
    ours = outputs(model, crops)
    row["mmpose->mlpose"] = max_diff(ours, work / "mmpose_out.npz")
    row["max |out|"] = max(float(np.abs(o).max()) for o in ours)

    randomize(model, crops)
    torch.save({"state_dict": model.state_dict()}, work / "mlpose.pth")
    ours = outputs(model, crops)
    worker(mmpose_python, "load", path, work / "crops.npy", work / "mlpose.pth", work)
    row["mlpose->mmpose"] = max_diff(ours, work / "mmpose_out.npz")
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", default=list(DEFAULT_CONFIGS))
    parser.add_argument("--crops", type=int, default=4, help="random crops per config")
    parser.add_argument("--mmpose-python", default=MMPOSE_PYTHON)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for name in args.configs:
        path = find_config(name, args.mmpose_python)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                row = compare(path, args.crops, args.mmpose_python, Path(tmp))
            except Exception as exc:  # one config's failure is a row, not the end of the table
                row = dict(config=path.name, error=f"{type(exc).__name__}: {str(exc)[:200]}")
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    print("| config | backbone | params | MMPose -> mlpose max abs diff | mlpose -> MMPose max abs diff "
          "| max abs output | within 1e-4 | stripped keys | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['config']} | error: {r['error']} | | | | | no | | {r['seconds']} |")
            continue
        ok = "yes" if max(r["mmpose->mlpose"], r["mlpose->mmpose"]) <= GOAL else "no"
        print(f"| {r['config']} | {r['backbone']} | {r['params']} | {r['mmpose->mlpose']:.2e} | "
              f"{r['mlpose->mmpose']:.2e} | {r['max |out|']:.3g} | {ok} | {r['stripped']} | {r['seconds']} |")


if __name__ == "__main__":
    main()
