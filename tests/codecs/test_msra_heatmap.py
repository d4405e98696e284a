"""MSRAHeatmap: encode/decode round trips, visibility handling, DARK, batching, MMPose parity."""
import itertools

import numpy as np
import pytest

from mlpose.codecs import MSRAHeatmap
from mlpose.errors import ConfigError
from mlpose.registry import CODECS, build

INPUT, HEATMAP = (192, 256), (48, 64)  # scale factor 4 on both axes


def random_keypoints(seed: int, n: int = 1, k: int = 17, margin: float = 8.0) -> np.ndarray:
    """(n, k, 2) keypoints in input pixels, ``margin`` heatmap pixels away from the border."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array([margin, margin]) * 4, (np.array(HEATMAP) - margin) * 4
    return rng.uniform(lo, hi, size=(n, k, 2)).astype(np.float32)


def reference_msra_encode(hm_kp, vis, size, sigma):
    """Per-joint loop with MMPose generate_gaussian_heatmaps semantics (integer radius)."""
    w, h = size
    heat = np.zeros((hm_kp.shape[1], h, w), np.float32)
    weights = np.zeros(vis.shape, np.float32)
    r = int(3 * sigma)
    for n, k in itertools.product(range(hm_kp.shape[0]), range(hm_kp.shape[1])):
        mx, my = (int(np.floor(v + 0.5)) for v in hm_kp[n, k])
        if vis[n, k] < 0.5 or mx - r >= w or my - r >= h or mx + r < 0 or my + r < 0:
            continue
        weights[n, k] = vis[n, k]
        for y in range(max(0, my - r), min(h, my + r + 1)):
            for x in range(max(0, mx - r), min(w, mx + r + 1)):
                g = np.exp(-((x - mx) ** 2 + (y - my) ** 2) / (2 * sigma**2))
                heat[k, y, x] = max(heat[k, y, x], g)
    return heat, weights


def test_registered_and_built_from_config():
    codec = build(dict(type="MSRAHeatmap", input_size=INPUT, heatmap_size=HEATMAP, sigma=2), CODECS)
    assert isinstance(codec, MSRAHeatmap)
    np.testing.assert_allclose(codec.scale_factor, [4.0, 4.0])


@pytest.mark.parametrize("bad", [dict(input_size=(192,)), dict(sigma=0), dict(blur_kernel_size=4)])
def test_bad_arguments_raise_config_error(bad):
    args = dict(input_size=INPUT, heatmap_size=HEATMAP) | bad
    with pytest.raises(ConfigError):
        MSRAHeatmap(**args)


def test_encode_matches_per_pixel_reference_with_instances_maxed():
    codec = MSRAHeatmap(INPUT, HEATMAP, sigma=2.0)
    kp = random_keypoints(0, n=3, margin=-3.0)  # some joints partly or fully off the heatmap
    vis = (np.random.default_rng(1).uniform(size=(3, 17)) > 0.2).astype(np.float32)
    enc = codec.encode(kp, vis)
    ref_heat, ref_w = reference_msra_encode(kp / 4.0, vis, HEATMAP, 2.0)
    assert enc["heatmaps"].shape == (17, 64, 48) and enc["heatmaps"].dtype == np.float32
    assert enc["keypoint_weights"].shape == (3, 17) and enc["keypoint_weights"].dtype == np.float32
    np.testing.assert_allclose(enc["heatmaps"], ref_heat, atol=1e-6)
    np.testing.assert_array_equal(enc["keypoint_weights"], ref_w)


def test_round_trip_within_half_heatmap_pixel():
    # Encoding rounds each joint to the nearest heatmap pixel and the symmetric Gaussian gives
    # no quarter shift, so the error is the rounding: at most 0.5 heatmap px = 2 input px.
    codec = MSRAHeatmap(INPUT, HEATMAP, sigma=2.0)
    kp = random_keypoints(2)
    decoded, scores = codec.decode(codec.encode(kp)["heatmaps"])
    assert decoded.shape == (1, 17, 2) and scores.shape == (1, 17)
    err = np.abs(decoded - kp) / codec.scale_factor
    assert err.max() <= 0.5 + 1e-4
    np.testing.assert_allclose(scores, 1.0)


def test_quarter_pixel_shift_towards_higher_neighbour():
    codec = MSRAHeatmap(INPUT, HEATMAP)
    heat = np.zeros((3, 64, 48), np.float32)
    heat[0, 20, 10], heat[0, 20, 11], heat[0, 21, 10] = 1.0, 0.6, 0.3  # right and down higher
    heat[1, 30, 30], heat[1, 30, 29], heat[1, 29, 30] = 1.0, 0.6, 0.3  # left and up higher
    # MMPose refines x only where 1 < x < W - 1: a peak in column 1 keeps its x
    heat[2, 5, 1], heat[2, 5, 2], heat[2, 6, 1] = 1.0, 0.6, 0.3
    decoded, _ = codec.decode(heat)
    np.testing.assert_allclose(decoded[0] / 4.0, [[10.25, 20.25], [29.75, 29.75], [1.0, 5.25]])


def test_invisible_and_outside_joints_get_zero_weight_and_no_gaussian():
    codec = MSRAHeatmap(INPUT, HEATMAP, sigma=2.0)
    kp = random_keypoints(3, k=4)
    kp[0, 1] = [-30.0, 100.0]  # centre rounds to -7 heatmap px: window [-13, -1], fully outside
    kp[0, 2] = [-16.0, 100.0]  # centre at -4, window reaches column 2: partly inside
    vis = np.array([[0.0, 1.0, 1.0, 1.0]], np.float32)
    enc = codec.encode(kp, vis)
    np.testing.assert_array_equal(enc["keypoint_weights"], [[0.0, 0.0, 1.0, 1.0]])
    assert not enc["heatmaps"][0].any() and not enc["heatmaps"][1].any()
    assert enc["heatmaps"][2].max() > 0 and enc["heatmaps"][2][:, 3:].max() == 0
    assert enc["heatmaps"][3].max() == pytest.approx(1.0)


def test_default_visibility_is_all_visible_and_shapes_are_checked():
    codec = MSRAHeatmap(INPUT, HEATMAP)
    assert codec.encode(random_keypoints(4))["keypoint_weights"].min() == 1.0
    with pytest.raises(ValueError):
        codec.encode(np.zeros((17, 2)))
    with pytest.raises(ValueError):
        codec.encode(np.zeros((1, 17, 2)), np.ones((17,)))


def test_dark_is_more_accurate_than_plain_on_sub_pixel_positions():
    plain = MSRAHeatmap(INPUT, HEATMAP, sigma=2.0)
    dark = MSRAHeatmap(INPUT, HEATMAP, sigma=2.0, unbiased=True)
    kp = random_keypoints(5, n=8)
    err = {}
    for name, codec in (("plain", plain), ("dark", dark)):
        heat = np.stack([codec.encode(kp[i : i + 1])["heatmaps"] for i in range(8)])
        decoded, _ = codec.decode(heat)
        err[name] = np.abs(decoded - kp) / 4.0  # heatmap pixels
    # DARK on an exact Gaussian: within 0.06 heatmap px (blur border effects dominate)
    assert err["dark"].max() < 0.06
    assert err["dark"].mean() < 0.1 * err["plain"].mean()


def test_batch_decode_equals_per_sample_decode():
    for unbiased in (False, True):
        codec = MSRAHeatmap(INPUT, HEATMAP, unbiased=unbiased)
        rng = np.random.default_rng(6)
        heat = np.stack([codec.encode(random_keypoints(i))["heatmaps"] for i in range(4)])
        heat += rng.uniform(0, 0.05, heat.shape).astype(np.float32)  # break ties, model-like noise
        batch_kp, batch_s = codec.decode(heat)
        for i in range(4):
            kp_i, s_i = codec.decode(heat[i])
            np.testing.assert_array_equal(batch_kp[i : i + 1], kp_i)
            np.testing.assert_array_equal(batch_s[i : i + 1], s_i)


def test_empty_heatmap_decodes_to_minus_one_with_zero_score():
    codec = MSRAHeatmap(INPUT, HEATMAP, unbiased=True)
    decoded, scores = codec.decode(np.zeros((1, 2, 64, 48), np.float32))
    np.testing.assert_array_equal(decoded, -4.0)
    np.testing.assert_array_equal(scores, 0.0)
    assert np.isfinite(decoded).all()


def test_dark_matches_reference_newton_step():
    """One keypoint, refinement computed by hand from MMPose's DARK formulas."""
    import cv2

    codec = MSRAHeatmap(INPUT, HEATMAP, unbiased=True, blur_kernel_size=11)
    heat = codec.encode(np.array([[[81.0, 130.0]]], np.float32))["heatmaps"]
    heat = heat + np.random.default_rng(7).uniform(0, 0.1, heat.shape).astype(np.float32)
    padded = np.pad(heat[0], 5)
    blurred = cv2.GaussianBlur(padded, (11, 11), 0)[5:-5, 5:-5]
    blurred *= heat[0].max() / blurred.max()
    lg = np.log(np.maximum(blurred, 1e-10))
    y, x = np.unravel_index(heat[0].argmax(), heat[0].shape)
    d = np.array([lg[y, x + 1] - lg[y, x - 1], lg[y + 1, x] - lg[y - 1, x]]) * 0.5
    dxx = 0.25 * (lg[y, x + 2] - 2 * lg[y, x] + lg[y, x - 2])
    dyy = 0.25 * (lg[y + 2, x] - 2 * lg[y, x] + lg[y - 2, x])
    dxy = 0.25 * (lg[y + 1, x + 1] - lg[y - 1, x + 1] - lg[y + 1, x - 1] + lg[y - 1, x - 1])
    expected = np.array([x, y]) - np.linalg.inv([[dxx, dxy], [dxy, dyy]]) @ d
    decoded, _ = codec.decode(heat)
    np.testing.assert_allclose(decoded[0, 0] / 4.0, expected, atol=1e-4)
