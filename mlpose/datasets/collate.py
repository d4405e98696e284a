"""Batch collation for packed pose samples (see docs/architecture.md, "Data contract")."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

# Keys holding per-sample tensors of equal shape across a batch.
STACKED_KEYS = ("inputs", "heatmaps", "keypoint_weights")


def pose_collate(items: Sequence[dict]) -> dict:
    """Collate the outputs of ``PackPoseInputs`` into a batch.

    Args:
        items: dicts with ``inputs`` uint8 (3, H, W), optionally ``heatmaps`` float32
            (K, h, w) and ``keypoint_weights`` float32 (K,) (training), and ``meta`` (dict).

    Returns:
        dict with ``inputs`` (B, 3, H, W), ``heatmaps`` (B, K, h, w) and
        ``keypoint_weights`` (B, K) when the items have them, and ``meta`` (list of B dicts).

    Raises:
        ValueError: for an empty batch, or a key present in some items but not in others.
    """
    if not items:
        raise ValueError("pose_collate got an empty batch")
    batch: dict = {}
    for key in STACKED_KEYS:
        have = [key in item for item in items]
        if not any(have):
            continue
        if not all(have):
            raise ValueError(f"pose_collate: {key!r} is missing from some items of the batch")
        batch[key] = torch.stack([_as_tensor(item[key]) for item in items])
    batch["meta"] = [item.get("meta", {}) for item in items]
    return batch


def _as_tensor(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))
