"""KeypointConverter: pairs, midpoints, any leading shape, and its use as a transform."""
from __future__ import annotations

import numpy as np
import pytest

from mlpose.datasets import AIC_TO_COCO, COCO_TO_AIC, KeypointConverter
from mlpose.errors import ConfigError
from mlpose.registry import TRANSFORMS, build


def _random_aic(rng, lead=(3,)):
    kpts = rng.uniform(0, 100, (*lead, 14, 2)).astype(np.float32)
    vis = rng.integers(0, 3, (*lead, 14)).astype(np.float32)
    return kpts, vis


def test_aic_to_coco_pairs_copy_joints_and_zero_the_rest():
    kpts, vis = _random_aic(np.random.default_rng(0))
    out_k, out_v = KeypointConverter(17, AIC_TO_COCO).convert(kpts, vis)
    assert out_k.shape == (3, 17, 2) and out_v.shape == (3, 17) and out_k.dtype == np.float32
    for a, c in AIC_TO_COCO:
        np.testing.assert_array_equal(out_k[:, c], kpts[:, a])
        np.testing.assert_array_equal(out_v[:, c], vis[:, a])
    assert not out_k[:, :5].any() and not out_v[:, :5].any()  # COCO face: no AIC source
    # The right shoulder is AIC 0 and COCO 6: the mapping keeps sides.
    assert dict(AIC_TO_COCO)[0] == 6 and dict(COCO_TO_AIC)[6] == 0


def test_round_trip_through_both_mappings_keeps_shared_joints():
    kpts, vis = _random_aic(np.random.default_rng(1), lead=())
    coco_k, coco_v = KeypointConverter(17, AIC_TO_COCO).convert(kpts, vis)
    back_k, back_v = KeypointConverter(14, COCO_TO_AIC).convert(coco_k, coco_v)
    np.testing.assert_array_equal(back_k[:12], kpts[:12])
    np.testing.assert_array_equal(back_v[:12], vis[:12])
    assert not back_v[12:].any()  # head top and neck are lost on the way


def test_midpoint_mapping_averages_and_needs_both_sources():
    conv = KeypointConverter(2, [((0, 1), 0), (2, 1)])
    kpts = np.array([[[0, 0], [10, 4], [7, 7]], [[2, 2], [4, 6], [1, 1]]], np.float32)
    vis = np.array([[1, 1, 1], [1, 0, 2]], np.float32)
    out_k, out_v = conv.convert(kpts, vis)
    np.testing.assert_allclose(out_k[:, 0], [[5, 2], [3, 4]])
    np.testing.assert_array_equal(out_v, [[1, 1], [0, 2]])  # midpoint: the smaller flag


def test_any_leading_shape_and_pipeline_call():
    conv = build(dict(type="KeypointConverter", num_keypoints=17, mapping=AIC_TO_COCO),
                 TRANSFORMS)
    kpts, vis = _random_aic(np.random.default_rng(2), lead=(2, 5))
    assert conv.convert(kpts, vis)[0].shape == (2, 5, 17, 2)
    results = dict(keypoints=kpts[0, :1], keypoints_visible=vis[0, :1], id=7)
    out = conv(results)
    assert out["keypoints"].shape == (1, 17, 2) and out["keypoints_visible"].shape == (1, 17)
    assert out["id"] == 7


def test_bad_mappings_and_shapes_are_reported():
    with pytest.raises(ConfigError, match="outside"):
        KeypointConverter(17, [(0, 17)])
    with pytest.raises(ConfigError, match="twice"):
        KeypointConverter(17, [(0, 1), (2, 1)])
    with pytest.raises(ConfigError, match="bad mapping item"):
        KeypointConverter(17, [(0, 1, 2)])
    with pytest.raises(ConfigError, match="num_keypoints"):
        KeypointConverter(0, [])
    conv = KeypointConverter(17, AIC_TO_COCO)
    with pytest.raises(ValueError, match="source index"):
        conv.convert(np.zeros((1, 5, 2)), np.zeros((1, 5)))
    with pytest.raises(ValueError, match="must be"):
        conv.convert(np.zeros((1, 14, 2)), np.zeros((1, 13)))
