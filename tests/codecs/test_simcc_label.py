"""SimCCLabel: encode against a per-keypoint reference, round trips, decode numbers, DARK, errors."""
import itertools
import pickle

import cv2
import numpy as np
import pytest

from mlpose.codecs import SimCCLabel
from mlpose.codecs.simcc_label import blur1d, dark_kernel_size
from mlpose.errors import ConfigError
from mlpose.registry import CODECS, build

INPUT = (192, 256)  # (w, h): 384 x bins, 512 y bins at ratio 2
RTMPOSE = dict(input_size=INPUT, sigma=(4.9, 5.66), simcc_split_ratio=2.0, normalize=False, use_dark=False)


def random_keypoints(seed: int, n: int = 1, k: int = 17, margin: float = 10.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(margin, np.array(INPUT) - margin, size=(n, k, 2)).astype(np.float32)


def reference_encode(kp, vis, size, sigma, ratio, normalize):
    """Per-keypoint loop with MMPose's SimCCLabel semantics (gaussian smoothing)."""
    n, k, _ = kp.shape
    wx, wy = (int(np.around(s * ratio)) for s in size)
    tx, ty = np.zeros((n, k, wx), np.float32), np.zeros((n, k, wy), np.float32)
    weights = vis.copy()
    for i, j in itertools.product(range(n), range(k)):
        if vis[i, j] < 0.5:
            continue
        mx, my = (int(np.around(v * ratio)) for v in kp[i, j])
        rx, ry = 3 * sigma[0], 3 * sigma[1]
        if mx - rx >= wx or my - ry >= wy or mx + rx + 1 < 0 or my + ry + 1 < 0:
            weights[i, j] = 0
            continue
        for b in range(wx):
            tx[i, j, b] = np.exp(-((b - mx) ** 2) / (2 * sigma[0] ** 2))
        for b in range(wy):
            ty[i, j, b] = np.exp(-((b - my) ** 2) / (2 * sigma[1] ** 2))
    if normalize:
        tx /= sigma[0] * np.sqrt(2 * np.pi)
        ty /= sigma[1] * np.sqrt(2 * np.pi)
    return tx, ty, weights


def test_registered_built_from_config_and_picklable():
    codec = build(dict(type="SimCCLabel", **RTMPOSE), CODECS)
    assert isinstance(codec, SimCCLabel) and codec.simcc_size == (384, 512)
    assert codec.target_keys == ("keypoint_x_labels", "keypoint_y_labels", "keypoint_weights")
    assert set(codec.instance_keys) == set(codec.target_keys) and codec.corner_aligned is False
    copy = pickle.loads(pickle.dumps(codec))
    np.testing.assert_array_equal(copy.sigma, [4.9, 5.66])


@pytest.mark.parametrize("bad", [
    dict(sigma=0), dict(sigma=(1.0, -2.0)), dict(sigma="wide"), dict(simcc_split_ratio=0),
    dict(smoothing_type="laplace"), dict(label_smooth_weight=0.1), dict(smoothing_type="standard", label_smooth_weight=2),
    dict(decode_visibility=True), dict(input_size=(192,)),
])
def test_bad_arguments_raise_config_error(bad):
    with pytest.raises(ConfigError):
        SimCCLabel(**(dict(input_size=INPUT) | bad))


@pytest.mark.parametrize("normalize", [False, True])
def test_encode_matches_per_keypoint_reference(normalize):
    codec = SimCCLabel(INPUT, sigma=(4.9, 5.66), normalize=normalize)
    kp = random_keypoints(0, n=3, margin=-40.0)  # some keypoints off the crop, some beyond 3 sigma
    vis = (np.random.default_rng(1).uniform(size=(3, 17)) > 0.2).astype(np.float32)
    vis[0, 0] = 0.3  # invisible but non-zero: MMPose keeps this weight and writes no labels
    enc = codec.encode(kp, vis)
    ref_x, ref_y, ref_w = reference_encode(kp, vis, INPUT, (4.9, 5.66), 2.0, normalize)
    assert enc["keypoint_x_labels"].shape == (3, 17, 384) and enc["keypoint_y_labels"].shape == (3, 17, 512)
    assert all(v.dtype == np.float32 for v in enc.values())
    np.testing.assert_allclose(enc["keypoint_x_labels"], ref_x, atol=1e-7)
    np.testing.assert_allclose(enc["keypoint_y_labels"], ref_y, atol=1e-7)
    np.testing.assert_array_equal(enc["keypoint_weights"], ref_w)
    assert (ref_w == 0).sum() > (vis == 0).sum()  # the case includes dropped visible keypoints


def test_bins_round_half_to_even_as_mmpose():
    codec = SimCCLabel((16, 16), sigma=1.0, simcc_split_ratio=1.0, normalize=False)
    enc = codec.encode(np.array([[[2.5, 3.5]]], np.float32))
    assert enc["keypoint_x_labels"][0, 0].argmax() == 2 and enc["keypoint_y_labels"][0, 0].argmax() == 4


def test_round_trip_within_half_a_bin_fixed_seed():
    codec = SimCCLabel(**RTMPOSE)
    kp = random_keypoints(2, n=1)
    enc = codec.encode(kp)
    decoded, scores = codec.decode(enc["keypoint_x_labels"], enc["keypoint_y_labels"])
    assert decoded.shape == (1, 17, 2) and scores.shape == (1, 17) and decoded.dtype == np.float32
    assert np.abs(decoded - kp).max() <= 0.5 / 2.0 + 1e-5  # rounding to a bin of half a pixel
    np.testing.assert_allclose(scores, 1.0)


def test_round_trip_with_dark_and_normalised_labels():
    codec = SimCCLabel(INPUT, sigma=6.0, normalize=True, use_dark=True)
    kp = random_keypoints(3, n=1)
    enc = codec.encode(kp)
    decoded, scores = codec.decode(enc["keypoint_x_labels"][0], enc["keypoint_y_labels"][0])  # (K, W) input
    assert decoded.shape == (1, 17, 2)
    assert np.abs(decoded - kp).max() <= 0.25 + 1e-3
    np.testing.assert_allclose(scores, 1 / (6.0 * np.sqrt(2 * np.pi)), rtol=1e-6)


def test_decode_numbers_by_hand():
    codec = SimCCLabel((8, 4), sigma=2.0, simcc_split_ratio=2.0)
    x = np.full((1, 3, 16), -1.0, np.float32)
    y = np.full((1, 3, 8), -1.0, np.float32)
    x[0, 0, 5], y[0, 0, 2] = 0.9, 0.4          # score = the smaller maximum
    x[0, 1, 7], x[0, 1, 9], y[0, 1, 6] = 0.3, 0.3, 0.8  # tie: first bin wins
    x[0, 2, 3], y[0, 2, 1] = 0.7, -0.2         # a non-positive score: no location
    kp, scores = codec.decode(x, y)
    np.testing.assert_allclose(kp[0], [[2.5, 1.0], [3.5, 3.0], [-0.5, -0.5]])
    np.testing.assert_allclose(scores[0], [0.4, 0.3, -0.2])


def test_dark_kernel_sizes_as_mmpose():
    # (20 sigma - 7) // 3, odd downwards: RTMPose-256x192's (4.9, 5.66) and SimCC-ResNet's 6
    assert [dark_kernel_size(s) for s in (4.9, 5.66, 6.0, 2.0)] == [29, 35, 37, 11]


def test_blur1d_is_zero_padded_opencv_blur_keeping_the_maximum():
    rng = np.random.default_rng(4)
    vec = rng.uniform(0, 1, size=(2, 3, 40)).astype(np.float32)
    out = blur1d(vec, 11)
    for b, k in itertools.product(range(2), range(3)):
        padded = np.zeros((1, 50), np.float32)
        padded[0, 5:-5] = vec[b, k]
        ref = cv2.GaussianBlur(padded, (11, 1), 0)[0, 5:-5]
        np.testing.assert_allclose(out[b, k], ref * vec[b, k].max() / ref.max(), rtol=1e-6)


def test_dark_recovers_sub_bin_centre():
    # a Gaussian centred between bins: argmax is off by 0.3 bin, DARK gets close to the centre
    codec = SimCCLabel((64, 64), sigma=4.0, simcc_split_ratio=1.0, use_dark=True)
    bins = np.arange(64, dtype=np.float32)
    x = np.exp(-((bins - 30.3) ** 2) / (2 * 4.0**2))[None, None]
    y = np.exp(-((bins - 20.0) ** 2) / (2 * 4.0**2))[None, None]
    kp, _ = codec.decode(x, y)
    assert abs(kp[0, 0, 0] - 30.3) < 0.05 and abs(kp[0, 0, 1] - 20.0) < 1e-3
    plain, _ = SimCCLabel((64, 64), sigma=4.0, simcc_split_ratio=1.0).decode(x, y)
    assert plain[0, 0, 0] == 30.0


def test_standard_smoothing_is_one_hot_with_spread_mass():
    codec = SimCCLabel((10, 5), smoothing_type="standard", simcc_split_ratio=1.0, label_smooth_weight=0.1)
    enc = codec.encode(np.array([[[3.0, 2.0], [12.0, 1.0]]], np.float32))
    x = enc["keypoint_x_labels"][0]
    np.testing.assert_allclose(x[0], np.where(np.arange(10) == 3, 0.9, 0.1 / 9), rtol=1e-6)
    np.testing.assert_array_equal(enc["keypoint_weights"], [[1.0, 0.0]])  # bin 12 is off the axis
    assert not x[1].any()


def test_decode_rejects_mismatched_vectors():
    with pytest.raises(ValueError, match="simcc_x/simcc_y"):
        SimCCLabel(INPUT).decode(np.zeros((2, 17, 384)), np.zeros((2, 16, 512)))


def test_three_sigma_window_edges_as_mmpose():
    # sigma_x 4.9 -> radius 14.7 bins; a visible keypoint keeps its weight while any bin of
    # [bin - 14.7, bin + 14.7 + 1) lies on the axis of 384 bins
    codec = SimCCLabel(**RTMPOSE)
    x_bins = np.array([-15, -16, 384 + 14, 384 + 15], np.float32)
    kp = np.stack([x_bins / 2, np.full(4, 100.0, np.float32)], axis=-1)[None]
    enc = codec.encode(kp)
    np.testing.assert_array_equal(enc["keypoint_weights"], [[1.0, 0.0, 1.0, 0.0]])
    assert enc["keypoint_x_labels"][0, 0].max() > 0 and not enc["keypoint_x_labels"][0, 1].any()
