"""KeypointConverter: re-order keypoints from one dataset's layout into another's.

Used in a sub-dataset's pipeline inside :class:`~mlpose.datasets.CombinedDataset` (as in
MMPose's mixed-dataset training) and directly by evaluation code, e.g. to put AIC ground
truth into the COCO layout.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from mlpose.errors import ConfigError
from mlpose.registry import TRANSFORMS

# (AIC index, COCO index) pairs for the 12 body joints the two layouts share. AIC's head
# top and neck have no COCO counterpart; COCO's face joints have no AIC counterpart.
AIC_TO_COCO = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9),
               (6, 12), (7, 14), (8, 16), (9, 11), (10, 13), (11, 15)]
# The same correspondence read the other way: (COCO index, AIC index).
COCO_TO_AIC = [(c, a) for a, c in AIC_TO_COCO]


@TRANSFORMS.register()
class KeypointConverter:
    """Map keypoints from a source layout to a target layout of ``num_keypoints`` joints.

    Each ``mapping`` item is ``(src, dst)`` (copy source joint ``src`` to target ``dst``) or
    ``((src_a, src_b), dst)`` (the target joint is the midpoint of two source joints, visible
    only where both are). Target joints no mapping item names get coordinates 0 and
    visibility 0, so they carry no training signal.

    As a pipeline transform it requires ``keypoints`` (..., K, 2) and ``keypoints_visible``
    (..., K) and modifies both to (..., num_keypoints, 2) / (..., num_keypoints).

    Args:
        num_keypoints: K' of the target layout.
        mapping: list of ``(src, dst)`` or ``((src_a, src_b), dst)``, indices 0-based.
    """

    def __init__(self, num_keypoints: int, mapping: Sequence):
        if int(num_keypoints) <= 0:
            raise ConfigError(f"KeypointConverter: num_keypoints must be > 0, got {num_keypoints}")
        self.num_keypoints = int(num_keypoints)
        src_a, src_b, dst = [], [], []
        for item in mapping:
            try:
                src, d = item
                a, b = (src, src) if np.isscalar(src) else tuple(src)
                a, b, d = int(a), int(b), int(d)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"KeypointConverter: bad mapping item {item!r}; use (src, dst) or "
                    "((src_a, src_b), dst)"
                ) from None
            if not 0 <= d < self.num_keypoints:
                raise ConfigError(
                    f"KeypointConverter: target index {d} in {item!r} is outside "
                    f"0..{self.num_keypoints - 1}"
                )
            src_a.append(a)
            src_b.append(b)
            dst.append(d)
        if len(set(dst)) != len(dst):
            raise ConfigError(f"KeypointConverter: a target index appears twice in {mapping!r}")
        self.src_a = np.asarray(src_a, dtype=np.int64)
        self.src_b = np.asarray(src_b, dtype=np.int64)
        self.dst = np.asarray(dst, dtype=np.int64)

    def convert(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Convert arrays of any leading shape.

        Args:
            keypoints: (..., K, 2) coordinates in pixels.
            visible: (..., K) visibility; {0, 1} flags or raw COCO {0, 1, 2} flags.

        Returns:
            (..., K', 2) float32 keypoints and (..., K') float32 visibility. A midpoint
            joint's visibility is the smaller of its two sources' (their product for {0, 1}).
        """
        keypoints = np.asarray(keypoints, dtype=np.float32)
        visible = np.asarray(visible, dtype=np.float32)
        if keypoints.shape[:-1] != visible.shape or keypoints.shape[-1] != 2:
            raise ValueError(
                f"keypoints {keypoints.shape} and keypoints_visible {visible.shape} must be "
                "(..., K, 2) and (..., K)"
            )
        k = keypoints.shape[-2]
        if self.dst.size and max(self.src_a.max(), self.src_b.max()) >= k:
            raise ValueError(f"mapping uses a source index >= the {k} source keypoints")
        lead = keypoints.shape[:-2]
        out_kpt = np.zeros((*lead, self.num_keypoints, 2), dtype=np.float32)
        out_vis = np.zeros((*lead, self.num_keypoints), dtype=np.float32)
        out_kpt[..., self.dst, :] = 0.5 * (keypoints[..., self.src_a, :]
                                           + keypoints[..., self.src_b, :])
        out_vis[..., self.dst] = np.minimum(visible[..., self.src_a], visible[..., self.src_b])
        return out_kpt, out_vis

    def __call__(self, results: dict) -> dict:
        results["keypoints"], results["keypoints_visible"] = self.convert(
            results["keypoints"], results["keypoints_visible"]
        )
        return results

    def __repr__(self) -> str:
        pairs = list(zip(zip(self.src_a.tolist(), self.src_b.tolist()), self.dst.tolist()))
        return f"KeypointConverter(num_keypoints={self.num_keypoints}, mapping={pairs})"
