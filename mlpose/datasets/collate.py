"""Batch collation for packed pose samples (see docs/architecture.md, "Data contract")."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def pose_collate(items: Sequence[dict]) -> dict:
    """Collate the outputs of ``PackPoseInputs`` into a batch.

    Args:
        items: dicts with ``inputs`` uint8 (3, H, W), optionally ``targets`` (training: the
            codec's ``{key: float32 tensor}``, the same keys and shapes in every item) and
            ``meta`` (dict).

    Returns:
        dict with ``inputs`` (B, 3, H, W), ``targets`` ``{key: (B, ...)}`` when the items have
        them, and ``meta`` (list of B dicts).

    Raises:
        ValueError: for an empty batch, or targets present in some items but not in others
            (or with other keys).
    """
    if not items:
        raise ValueError("pose_collate got an empty batch")
    batch: dict = {"inputs": torch.stack([_as_tensor(item["inputs"]) for item in items])}
    targets = [item.get("targets") for item in items]
    if any(t is not None for t in targets):
        keys = set(targets[0] or ())
        bad = next((i for i, t in enumerate(targets) if t is None or set(t) != keys), None)
        if bad is not None:
            raise ValueError(f"pose_collate: item {bad} of the batch has targets {sorted(targets[bad] or ())}, "
                             f"item 0 has {sorted(keys)}")
        batch["targets"] = {key: torch.stack([_as_tensor(t[key]) for t in targets]) for key in targets[0]}
    batch["meta"] = [item.get("meta", {}) for item in items]
    return batch


def _as_tensor(value) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(value))
