"""The last transform: turn the results dict into the model's data item."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from mlpose.datasets.transforms.warp import materialize_pending
from mlpose.registry import TRANSFORMS


def _first(value, default=None):
    """First element of a per-instance value (``(1,)`` array, list or scalar) as a python value."""
    if value is None:
        return default
    arr = np.asarray(value).reshape(-1)
    return arr[0].item() if arr.size else default


def image_to_chw(img: np.ndarray) -> torch.Tensor:
    """``(H, W, C)`` image to a contiguous ``(C, H, W)`` tensor of the same dtype."""
    if img.ndim == 2:
        img = img[..., None]
    chw = np.empty((img.shape[2], img.shape[0], img.shape[1]), dtype=img.dtype)
    # cv2.split de-interleaves with SIMD, ~1.5x faster than numpy's strided transpose copy
    for c, plane in enumerate(cv2.split(img) if img.shape[2] <= 4 else np.moveaxis(img, 2, 0)):
        chw[c] = plane
    return torch.from_numpy(chw)


@TRANSFORMS.register()
class PackPoseInputs:
    """Build the item of the data contract (docs/architecture.md).

    Output dict:

    - ``inputs``: ``(3, H, W)`` uint8 tensor, BGR.
    - ``targets``: ``{key: float32 tensor}``, the codec's training targets of this person, as
      ``GenerateTarget`` left them (only when targets were generated), e.g. ``heatmaps``
      ``(K, h, w)`` and ``keypoint_weights`` ``(K,)``.
    - ``meta``: ``id, img_id, img_path, category_id, center (2,), scale (2,)`` (the crop box in
      image pixels), ``bbox (4,)`` (x1, y1, x2, y2 image pixels, when the results have one),
      ``bbox_score, area, dataset_name, flip_indices, input_size (w, h)``, GT
      ``keypoints (K, 2)`` and ``keypoints_visible (K,)`` in image pixels as loaded (before any
      augmentation), plus any extra ``meta_keys`` found in the results.

    Required keys: img, bbox_center/bbox_scale (or input_center/input_scale).
    Optional keys: targets, raw_keypoints(_visible) or keypoints(_visible),
    bbox, id, img_id, img_path, category_id, bbox_score, area, dataset_name, flip_indices,
    input_size, transformed_keypoints, pending_transform (applied to the pixels first).

    Args:
        meta_keys: extra result keys copied into ``meta`` unchanged (e.g. MMPose's
            ``('flip', 'flip_direction', 'ori_shape')``); keys missing from the results are
            skipped. The contract keys above are always present.
        pack_transformed: also put ``transformed_keypoints`` ``(K, 2)`` (input pixels) in meta.
    """

    def __init__(self, meta_keys: tuple[str, ...] | list[str] = (), pack_transformed: bool = False):
        self.meta_keys = tuple(meta_keys)
        self.pack_transformed = bool(pack_transformed)

    def __call__(self, results: dict) -> dict:
        materialize_pending(results)  # only set when no TopdownAffine consumed a lazy flip
        img = results["img"]
        center = results.get("input_center")
        if center is None:
            center = results["bbox_center"][0]
        scale = results.get("input_scale")
        if scale is None:
            scale = results["bbox_scale"][0]
        keypoints = results.get("raw_keypoints", results.get("keypoints"))
        visible = results.get("raw_keypoints_visible", results.get("keypoints_visible"))
        input_size = results.get("input_size", (img.shape[1], img.shape[0]))
        meta = dict(
            id=results.get("id"),
            img_id=results.get("img_id"),
            img_path=results.get("img_path"),
            category_id=results.get("category_id", 1),
            center=np.asarray(center, np.float32).reshape(2),
            scale=np.asarray(scale, np.float32).reshape(2),
            bbox_score=float(_first(results.get("bbox_score"), 1.0)),
            area=float(_first(results.get("area"), 0.0)),
            dataset_name=results.get("dataset_name"),
            flip_indices=list(results.get("flip_indices", [])),
            input_size=(int(input_size[0]), int(input_size[1])),
            keypoints=None if keypoints is None else np.asarray(keypoints, np.float32)[0],
            keypoints_visible=None if visible is None else np.asarray(visible, np.float32)[0],
        )
        if results.get("bbox") is not None:  # the detection (or GT) box: results files carry it
            meta["bbox"] = np.asarray(results["bbox"], np.float32).reshape(-1)[:4]
        if self.pack_transformed and results.get("transformed_keypoints") is not None:
            meta["transformed_keypoints"] = np.asarray(results["transformed_keypoints"], np.float32)[0]
        for key in self.meta_keys:
            if key in results and key not in meta:
                meta[key] = results[key]
        item = dict(inputs=image_to_chw(img))
        if results.get("targets") is not None:
            item["targets"] = {key: torch.from_numpy(np.ascontiguousarray(value, np.float32))
                               for key, value in results["targets"].items()}
        item["meta"] = meta
        return item

    def __repr__(self) -> str:
        return f"PackPoseInputs(meta_keys={self.meta_keys}, pack_transformed={self.pack_transformed})"
