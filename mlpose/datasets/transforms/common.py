"""Small helpers shared by several transforms."""
from __future__ import annotations

import numpy as np

from mlpose.errors import ConfigError


def keep_raw_annotations(results: dict) -> None:
    """Store an untouched copy of the GT keypoints once, before any geometric transform.

    ``PackPoseInputs`` reports these image-pixel keypoints in ``meta`` for evaluation.

    Added keys (when ``keypoints`` is present and they are not set yet):
    raw_keypoints ``(N, K, 2)``, raw_keypoints_visible ``(N, K)``.
    """
    if "raw_keypoints" in results or results.get("keypoints") is None:
        return
    results["raw_keypoints"] = np.array(results["keypoints"], copy=True)
    vis = results.get("keypoints_visible")
    results["raw_keypoints_visible"] = None if vis is None else np.array(vis, copy=True)


def check_prob(value, key: str) -> float:
    """Return ``value`` as a probability or raise a ConfigError naming ``key``."""
    try:
        prob = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a probability in [0, 1], got {value!r}") from None
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"{key}: expected a probability in [0, 1], got {value!r}")
    return prob


def truncated_normal(size: int) -> np.ndarray:
    """``size`` float64 samples of a standard normal truncated to ``[-1, 1]``.

    Rejection sampling from ``np.random`` (about 68% acceptance), the same distribution as
    ``scipy.stats.truncnorm(-1, 1)`` at a fraction of its per-call cost.
    """
    out = np.empty(0)
    while out.size < size:
        draw = np.random.standard_normal(2 * size + 4)
        out = np.concatenate([out, draw[np.abs(draw) <= 1.0]])
    return out[:size]
