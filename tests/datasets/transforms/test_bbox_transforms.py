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
    with pytest.raises(ConfigError, match=r"shift_factor: expected a number >= 0"):
        RandomBBoxTransform(shift_factor=-0.1)


def _ks_truncnorm(samples: np.ndarray) -> float:
    """Kolmogorov-Smirnov p-value of ``samples`` against N(0, 1) truncated to [-1, 1]."""
    from scipy import stats

    return stats.kstest(samples, stats.truncnorm(-1, 1).cdf).pvalue


@pytest.mark.parametrize("kwargs", [
    dict(scale_factor=[0.6, 1.4], rotate_factor=80),  # RTMPose stage 1
    dict(shift_factor=0.16, shift_prob=1.0, scale_factor=[0.75, 1.25], rotate_factor=60),
], ids=["rtmpose-stage1", "all-shifted"])
def test_factor_distributions_match_mmpose(kwargs):
    """MMPose draws each factor from scipy's truncnorm(-1, 1) and applies it with its probability:
    the same distributions, in shape (KS test) and moments, over many boxes."""
    from scipy import stats

    np.random.seed(2)
    t = RandomBBoxTransform(**kwargs)
    out = t(cs(20000))
    shift = (out["bbox_center"] - [100, 80]) / [50, 40]
    resize = out["bbox_scale"][:, 0] / 50
    rot = out["bbox_rotation"]
    var = stats.truncnorm(-1, 1).var()  # 0.2912
    lo, hi = t.scale_factor
    moved, resized, rotated = np.abs(shift).sum(1) > 0, resize != 1, rot != 0
    assert moved.mean() == pytest.approx(t.shift_prob, abs=0.015)
    assert resized.mean() == pytest.approx(t.scale_prob, abs=0.015)
    assert rotated.mean() == pytest.approx(t.rotate_prob, abs=0.015)
    assert _ks_truncnorm(shift[moved, 0] / t.shift_factor) > 1e-3
    assert _ks_truncnorm(shift[moved, 1] / t.shift_factor) > 1e-3
    assert _ks_truncnorm((resize[resized] - (hi + lo) / 2) / ((hi - lo) / 2)) > 1e-3
    assert _ks_truncnorm(rot[rotated] / t.rotate_factor) > 1e-3
    # the moments MMPose's formulas give: E = 0 (shift, rotation) or mu (resize), Var = p * f**2 * var
    assert rot.var() == pytest.approx(t.rotate_prob * t.rotate_factor**2 * var, rel=0.05)
    assert shift[:, 0].var() == pytest.approx(t.shift_prob * t.shift_factor**2 * var, rel=0.05)
    assert resize.mean() == pytest.approx((hi + lo) / 2, abs=0.005)
    assert abs(np.corrcoef(shift[moved, 0], shift[moved, 1])[0, 1]) < 0.05  # independent per axis


def test_uniform_factors_would_fail_the_distribution_check():
    """The KS check tells a truncated normal from the uniform a careless port would draw."""
    np.random.seed(0)
    assert _ks_truncnorm(np.random.uniform(-1, 1, 12000)) < 1e-3  # as many as the rotated boxes above


def test_rtmpose_stage2_does_not_shift():
    np.random.seed(0)
    out = RandomBBoxTransform(shift_factor=0.0, scale_factor=[0.75, 1.25], rotate_factor=60)(cs(500))
    np.testing.assert_array_equal(out["bbox_center"], np.tile([[100.0, 80.0]], (500, 1)))
    assert np.abs(out["bbox_rotation"]).max() <= 60 and (out["bbox_rotation"] != 0).any()
