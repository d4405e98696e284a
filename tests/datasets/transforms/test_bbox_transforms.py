"""GetBBoxCenterScale and RandomBBoxTransform."""
import numpy as np
import pytest

from mlpose.datasets.transforms import GetBBoxCenterScale, RandomBBoxTransform
from mlpose.datasets.transforms.common import truncated_normal
from mlpose.errors import ConfigError


def test_center_scale_from_xyxy_with_padding(tf):
    item = tf.make_item()
    item["bbox"] = np.array([[10, 20, 50, 100]], np.float32)
    out = GetBBoxCenterScale(padding=1.25)(item)
    np.testing.assert_allclose(out["bbox_center"], [[30, 60]])
    np.testing.assert_allclose(out["bbox_scale"], [[50, 100]])
    assert out["bbox_center"].shape == (1, 2) and out["bbox_center"].dtype == np.float32
    np.testing.assert_array_equal(out["raw_keypoints"], item["keypoints"])


def test_existing_center_scale_only_get_padding():
    item = dict(bbox_center=np.array([[5.0, 6.0]]), bbox_scale=np.array([[10.0, 20.0]]))
    out = GetBBoxCenterScale(padding=2.0)(item)
    np.testing.assert_allclose(out["bbox_center"], [[5, 6]])
    np.testing.assert_allclose(out["bbox_scale"], [[20, 40]])


def test_truncated_normal_matches_the_truncated_distribution():
    np.random.seed(0)
    t = truncated_normal(20000)
    assert np.abs(t).max() <= 1.0
    assert abs(t.mean()) < 0.01
    # std of N(0, 1) truncated to [-1, 1]: sqrt(1 - 2 phi(1) / (Phi(1) - Phi(-1))) = 0.5396
    assert t.std() == pytest.approx(0.5396, abs=0.01)


def cs(n=1):
    return dict(bbox_center=np.tile([[100.0, 80.0]], (n, 1)).astype(np.float32),
                bbox_scale=np.tile([[50.0, 40.0]], (n, 1)).astype(np.float32))


def test_zero_probabilities_leave_the_box_alone():
    t = RandomBBoxTransform(shift_prob=0, scale_prob=0, rotate_prob=0)
    out = t(cs())
    np.testing.assert_array_equal(out["bbox_center"], [[100, 80]])
    np.testing.assert_array_equal(out["bbox_scale"], [[50, 40]])
    np.testing.assert_array_equal(out["bbox_rotation"], [0])


def test_random_ranges_and_probabilities():
    np.random.seed(1)
    t = RandomBBoxTransform(shift_factor=0.16, shift_prob=0.3, scale_factor=(0.5, 1.5),
                            scale_prob=1.0, rotate_factor=80.0, rotate_prob=0.6)
    out = t(cs(4000))
    shift = (out["bbox_center"] - [100, 80]) / [50, 40]
    resize = out["bbox_scale"] / [50, 40]
    rot = out["bbox_rotation"]
    assert np.abs(shift).max() <= 0.16 + 1e-6
    assert (np.abs(shift).sum(1) > 0).mean() == pytest.approx(0.3, abs=0.03)
    np.testing.assert_allclose(resize[:, 0], resize[:, 1], rtol=1e-6)  # same factor on w and h
    assert resize.min() >= 0.5 - 1e-6 and resize.max() <= 1.5 + 1e-6
    assert np.abs(rot).max() <= 80.0
    assert (rot != 0).mean() == pytest.approx(0.6, abs=0.03)
    assert out["bbox_rotation"].shape == (4000,)


def test_legacy_float_scale_factor_and_bad_values():
    assert RandomBBoxTransform(scale_factor=0.35).scale_factor == pytest.approx((0.65, 1.35))
    with pytest.raises(ConfigError, match="scale_factor"):
        RandomBBoxTransform(scale_factor=(1.5, 0.5))
    with pytest.raises(ConfigError, match="rotate_prob"):
        RandomBBoxTransform(rotate_prob=1.5)
