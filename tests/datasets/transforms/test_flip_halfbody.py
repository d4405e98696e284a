"""RandomFlip (lazy and eager) and RandomHalfBody."""
import cv2
import numpy as np
import pytest

from mlpose.datasets.transforms import GetBBoxCenterScale, RandomFlip, RandomHalfBody
from mlpose.errors import ConfigError


def loaded_item(tf, seed=0):
    item = tf.make_item(seed=seed)
    item["img"] = tf.textured_image()
    item["img_shape"] = item["img"].shape[:2]
    return GetBBoxCenterScale()(item)


def test_horizontal_flip_mirrors_annotations_and_swaps_pairs_lazily(tf):
    item = loaded_item(tf)
    kp, vis = item["keypoints"].copy(), item["keypoints_visible"].copy()
    vis[0, 1] = 0.0  # left eye invisible: after the flip the *right* eye label is invisible
    item["keypoints_visible"] = vis.copy()
    img = item["img"]
    out = RandomFlip(prob=1.0)(item)
    assert out["flip"] is True and out["flip_direction"] == "horizontal"
    assert out["img"] is img  # lazy: pixels untouched, flip recorded
    w = 100
    np.testing.assert_allclose(out["keypoints"][0, 2], [w - 1 - kp[0, 1, 0], kp[0, 1, 1]], atol=1e-5)
    np.testing.assert_allclose(out["keypoints"][0, 1], [w - 1 - kp[0, 2, 0], kp[0, 2, 1]], atol=1e-5)
    np.testing.assert_allclose(out["keypoints"][0, 0], [w - 1 - kp[0, 0, 0], kp[0, 0, 1]], atol=1e-5)
    assert out["keypoints_visible"][0, 2] == 0 and out["keypoints_visible"][0, 1] == 1
    np.testing.assert_allclose(out["bbox"], [[w - 1 - 85, 10, w - 1 - 15, 110]])
    np.testing.assert_allclose(out["bbox_center"], [[w - 1 - 50, 60]])
    np.testing.assert_array_equal(out["pending_transform"], [[-1, 0, w - 1], [0, 1, 0], [0, 0, 1]])


def test_eager_flip_flips_the_pixels(tf):
    item = loaded_item(tf)
    out = RandomFlip(prob=1.0, lazy=False)(item)
    np.testing.assert_array_equal(out["img"], cv2.flip(tf.textured_image(), 1))
    assert "pending_transform" not in out


def test_two_lazy_flips_cancel(tf):
    item = loaded_item(tf)
    kp = item["keypoints"].copy()
    flip = RandomFlip(prob=1.0)
    out = flip(flip(item))
    np.testing.assert_allclose(out["keypoints"], kp, atol=1e-4)
    np.testing.assert_allclose(out["pending_transform"], np.eye(3))


def test_diagonal_flip_is_a_rotation_and_keeps_labels(tf):
    item = loaded_item(tf)
    kp = item["keypoints"].copy()
    out = RandomFlip(prob=1.0, direction="diagonal")(item)
    np.testing.assert_allclose(out["keypoints"], [99, 119] - kp, atol=1e-4)


def test_no_flip_changes_nothing(tf):
    item = loaded_item(tf)
    kp = item["keypoints"].copy()
    out = RandomFlip(prob=0.0)(item)
    assert out["flip"] is False and out["flip_direction"] is None
    np.testing.assert_array_equal(out["keypoints"], kp)
    assert "pending_transform" not in out


def test_direction_probabilities():
    np.random.seed(0)
    flip = RandomFlip(prob=[0.2, 0.5], direction=["vertical", "horizontal"])
    item = dict(img_shape=(10, 10))
    picks = [flip(dict(item))["flip_direction"] for _ in range(4000)]
    assert picks.count("vertical") / 4000 == pytest.approx(0.2, abs=0.03)
    assert picks.count("horizontal") / 4000 == pytest.approx(0.5, abs=0.03)


def test_flip_argument_errors(tf):
    with pytest.raises(ConfigError, match="direction"):
        RandomFlip(direction="sideways")
    with pytest.raises(ConfigError, match="prob"):
        RandomFlip(prob=[0.5], direction=["horizontal", "vertical"])
    with pytest.raises(KeyError, match="flip_indices"):
        item = loaded_item(tf)
        del item["flip_indices"]
        RandomFlip(prob=1.0)(item)


def test_half_body_upper_box_from_visible_upper_joints(tf):
    item = loaded_item(tf)
    item["keypoints_visible"][0, 3] = 0  # an invisible upper joint is ignored
    out = RandomHalfBody(prob=1.0, upper_prioritized_prob=1.0, padding=1.5)(item)
    upper = [i for i in range(11) if i != 3]
    pts = item["keypoints"][0, upper]
    np.testing.assert_allclose(out["bbox_center"][0], pts.mean(0), rtol=1e-5)
    np.testing.assert_allclose(out["bbox_scale"][0], (pts.max(0) - pts.min(0)) * 1.5, rtol=1e-5)


def test_half_body_lower_when_preferred_and_fallbacks(tf):
    item = loaded_item(tf)
    out = RandomHalfBody(prob=1.0, upper_prioritized_prob=0.0)(dict(item))
    pts = item["keypoints"][0, 11:]
    np.testing.assert_allclose(out["bbox_center"][0], pts.mean(0), rtol=1e-5)
    # too few visible lower joints: the upper body is used even when the lower is preferred
    item2 = loaded_item(tf)
    item2["keypoints_visible"][0, 11:15] = 0
    out2 = RandomHalfBody(prob=1.0, upper_prioritized_prob=0.0)(item2)
    np.testing.assert_allclose(out2["bbox_center"][0], item2["keypoints"][0, :11].mean(0), rtol=1e-5)


def test_half_body_skipped_with_too_few_joints_or_zero_prob(tf):
    item = loaded_item(tf)
    center, scale = item["bbox_center"].copy(), item["bbox_scale"].copy()
    item["keypoints_visible"][0, :9] = 0  # 8 visible < min_total_keypoints=9
    out = RandomHalfBody(prob=1.0)(item)
    np.testing.assert_array_equal(out["bbox_center"], center)
    np.testing.assert_array_equal(out["bbox_scale"], scale)
    out = RandomHalfBody(prob=0.0)(loaded_item(tf))
    np.testing.assert_array_equal(out["bbox_scale"], scale)
