"""Parameters and GFLOPs of a config's model, counted as MMPose's model-zoo tables count them.

MMPose's "GFLOPs" (``tools/analysis_tools/get_flops.py``, mmengine's complexity counter) are
multiply-accumulates: one multiply-add of a convolution or matrix product is one "FLOP". torch's
:class:`~torch.utils.flop_counter.FlopCounterMode` counts it as two, so the count here is its
total / 2, from one forward pass at batch 1 and the recipe's input size. Against MMPose 1.3.2's
own counter on its models at 256x192: ResNet-50 5.43 vs 5.45, HRNet-W32 7.65 vs 7.69, RTMPose-m
1.92 vs 1.93 (mmengine adds one per element for normalisation and resampling layers, ~0.5%);
ViTPose-B 18.52 vs 17.86: attention's matrix products (``scaled_dot_product_attention``, 0.68)
are counted here, mmengine's counter skips that operator.

The model is built and run on torch's meta device (shapes only: no memory, no arithmetic, ViT-L
in a fraction of a second); a model whose forward cannot run there is measured on the CPU.
Results are kept in a small JSON cache (``$XDG_CACHE_HOME/mlpose/zoo-measures.json``) keyed by
the model section, input size and versions.
"""
from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import os
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from mlpose import __version__
from mlpose.config import config_text
from mlpose.registry import MODELS, build

from .facts import input_size


@dataclasses.dataclass
class Measure:
    """``params``: trainable and frozen parameters; ``gflops``: billions of multiply-adds per crop."""

    params: int
    gflops: float


def cache_file() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlpose" / "zoo-measures.json"


def measure_model(model: torch.nn.Module, size: tuple[int, int], device: str = "cpu") -> Measure:
    """Count ``model``'s parameters and the multiply-adds of one forward pass of a uint8 BGR crop
    of ``size`` = ``(w, h)`` pixels (batch 1, on ``device``: the model's), in eval mode and
    without gradients."""
    was_training = model.training
    model.eval()
    crop = torch.zeros(1, 3, size[1], size[0], dtype=torch.uint8, device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(crop)
    model.train(was_training)
    return Measure(sum(p.numel() for p in model.parameters()), counter.get_total_flops() / 2 / 1e9)


def measure_config(cfg: dict, cache: dict | None = None) -> Measure | None:
    """Build ``cfg.model`` and measure it at the config's input size (None when the config names
    no input size); ``cache`` (a dict, see :func:`load_cache`) answers what was measured before."""
    size = input_size(cfg)
    if size is None:
        return None
    key = _key(cfg, size)
    if cache is not None and key in cache:
        return Measure(**cache[key])
    try:
        with torch.device("meta"):
            result = measure_model(build(cfg["model"], MODELS, "model"), size, "meta")
    except Exception:  # noqa: BLE001 -- a forward that needs real values (host syncs, numpy): measure for real
        model = build(cfg["model"], MODELS, "model")
        try:
            result = measure_model(model, size)
        finally:
            del model
            gc.collect()  # big models one after another: give each one's memory back first
    if cache is not None:
        cache[key] = dataclasses.asdict(result)
    return result


def load_cache() -> dict:
    try:
        data = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_cache(cache: dict) -> None:
    """Write the cache atomically; a cache that cannot be written only costs time next run."""
    path = cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass


def _key(cfg: dict, size: tuple[int, int]) -> str:
    text = f"{__version__} {torch.__version__} {size} {config_text({'model': cfg['model']})}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]
