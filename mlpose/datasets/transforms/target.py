"""Training targets from a codec."""
from __future__ import annotations

import numpy as np

from mlpose.errors import ConfigError
from mlpose.registry import CODECS, TRANSFORMS, build


@TRANSFORMS.register()
class GenerateTarget:
    """Encode the cropped keypoints into training targets with a codec from ``CODECS``.

    Required keys: transformed_keypoints ``(N, K, 2)`` (or keypoints) in input pixels,
    keypoints_visible ``(N, K)``, dataset_keypoint_weights ``(K,)`` (only with
    ``use_dataset_keypoint_weights``).
    Added keys: the codec's outputs (for ``MSRAHeatmap``: heatmaps ``(K, h, w)`` float32,
    keypoint_weights ``(N, K)`` float32), and ``targets``: ``{key: array}`` for each of the
    codec's ``target_keys``, of the first instance where the key is one of its
    ``instance_keys`` (a top-down item is one person), which ``PackPoseInputs`` packs.

    Args:
        encoder: codec config, e.g. ``dict(type='MSRAHeatmap', input_size=(192, 256),
            heatmap_size=(48, 64), sigma=2)``.
        target_type: deprecated MMPose argument; only None or ``'heatmap'`` are accepted.
        multilevel: MMPose multi-level targets; not supported (must be False).
        use_dataset_keypoint_weights: multiply ``keypoint_weights`` by the dataset's
            per-joint weights.
    """

    def __init__(
        self,
        encoder: dict,
        target_type: str | None = None,
        multilevel: bool = False,
        use_dataset_keypoint_weights: bool = False,
    ):
        if isinstance(encoder, (list, tuple)):
            raise ConfigError("GenerateTarget.encoder: a list of encoders is not supported; give one dict(type=...)")
        if target_type not in (None, "heatmap") or multilevel:
            raise ConfigError(
                "GenerateTarget: target_type/multilevel are not supported; remove them and set "
                "the codec in encoder=dict(type=...)"
            )
        self.encoder = build(encoder, CODECS, path="GenerateTarget.encoder")
        self.use_dataset_keypoint_weights = bool(use_dataset_keypoint_weights)

    def __call__(self, results: dict) -> dict:
        keypoints = results.get("transformed_keypoints")
        if keypoints is None:
            keypoints = results["keypoints"]
        encoded = self.encoder.encode(keypoints, results["keypoints_visible"])
        if self.use_dataset_keypoint_weights and "keypoint_weights" in encoded:
            weights = np.asarray(results["dataset_keypoint_weights"], np.float32)
            encoded["keypoint_weights"] = encoded["keypoint_weights"] * weights
        results.update(encoded)
        instance = set(self.encoder.instance_keys)
        results["targets"] = {key: encoded[key][0] if key in instance else encoded[key]
                              for key in self.encoder.target_keys}
        return results

    def __repr__(self) -> str:
        return f"GenerateTarget(encoder={self.encoder!r})"
