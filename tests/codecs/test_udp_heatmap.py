"""UDPHeatmap: corner-aligned scaling and sub-pixel round trip."""
import numpy as np
import pytest

from mlpose.codecs import UDPHeatmap
from mlpose.errors import ConfigError


def test_scale_factor_aligns_first_and_last_pixel_centres():
    codec = UDPHeatmap((192, 256), (48, 64))
    np.testing.assert_allclose(codec.scale_factor, [191 / 47, 255 / 63])
    corners = np.array([[[0.0, 0.0], [191.0, 255.0]]], np.float32)
    heat = codec.encode(corners)["heatmaps"]
    assert heat[0, 0, 0] == pytest.approx(1.0) and heat[1, 63, 47] == pytest.approx(1.0)


def test_round_trip_is_sub_pixel_accurate():
    codec = UDPHeatmap((192, 256), (48, 64), sigma=2.0)
    rng = np.random.default_rng(0)
    kp = rng.uniform([32, 32], [160, 224], size=(6, 17, 2)).astype(np.float32)
    heat = np.stack([codec.encode(kp[i : i + 1])["heatmaps"] for i in range(6)])
    decoded, scores = codec.decode(heat)
    err = np.abs(decoded - kp) / codec.scale_factor
    assert err.max() < 0.05  # heatmap pixels
    assert scores.min() > 0.8


def test_invisible_joint_is_dropped_and_batch_matches_single():
    codec = UDPHeatmap((192, 256), (48, 64))
    kp = np.array([[[50.0, 60.0], [100.0, 120.0]]], np.float32)
    enc = codec.encode(kp, np.array([[1.0, 0.0]], np.float32))
    np.testing.assert_array_equal(enc["keypoint_weights"], [[1.0, 0.0]])
    assert not enc["heatmaps"][1].any()
    batch = np.stack([enc["heatmaps"], enc["heatmaps"][::-1]])
    decoded, _ = codec.decode(batch)
    np.testing.assert_array_equal(decoded[1:], codec.decode(batch[1])[0])


def test_unknown_heatmap_type_is_refused():
    with pytest.raises(ConfigError, match="heatmap_type='offset': use one of gaussian, combined"):
        UDPHeatmap((192, 256), (48, 64), heatmap_type="offset")


def test_combined_targets_are_a_disk_and_offsets_in_radius_units():
    codec = UDPHeatmap((192, 256), (48, 64), heatmap_type="combined")  # radius 0.0546875 * 64 = 3.5 px
    assert codec.radius == 3.5
    at = np.array([10.5, 20.25])  # heatmap pixels
    kp = np.array([[at * codec.scale_factor, [0.0, 0.0]]], np.float32)
    enc = codec.encode(kp, np.array([[1.0, 0.4]], np.float32))
    maps = enc["heatmaps"]
    assert maps.shape == (6, 64, 48) and maps.dtype == np.float32
    ys, xs = np.mgrid[:64, :48]
    inside = (at[0] - xs) ** 2 + (at[1] - ys) ** 2 <= 3.5**2
    np.testing.assert_array_equal(maps[0], inside.astype(np.float32))
    np.testing.assert_allclose(maps[1], (at[0] - xs) / 3.5, atol=1e-5)
    np.testing.assert_allclose(maps[2], (at[1] - ys) / 3.5, atol=1e-5)
    assert not maps[3:].any()  # visibility 0.4 < 0.5: no maps, but its weight is the visibility (MMPose)
    np.testing.assert_array_equal(enc["keypoint_weights"], np.array([[1.0, 0.4]], np.float32))


def test_combined_round_trip_is_exact_through_the_offsets():
    codec = UDPHeatmap((192, 256), (48, 64), heatmap_type="combined")
    kp = np.random.default_rng(0).uniform([8, 8], [184, 248], size=(3, 17, 2)).astype(np.float32)
    maps = np.stack([codec.encode(kp[i : i + 1])["heatmaps"] for i in range(3)])
    decoded, scores = codec.decode(maps)
    assert decoded.shape == (3, 17, 2) and np.abs(decoded - kp).max() < 1e-3
    assert scores.min() > 0.3  # the blurred disk's peak
    np.testing.assert_array_equal(codec.decode(maps[1])[0][0], decoded[1])


def test_combined_decode_takes_the_offset_at_the_blurred_disk_peak():
    codec = UDPHeatmap((192, 256), (48, 64), heatmap_type="combined")
    maps = np.zeros((3, 64, 48), np.float32)
    maps[0, 30:33, 20:23] = 1.0  # a 3x3 disk centred on (21, 31)
    maps[1, 31, 21], maps[2, 31, 21] = 0.2, -0.1  # offsets there, in radius units (3.5 px)
    (kp,), (score,) = codec.decode(maps)
    np.testing.assert_allclose(kp[0] / codec.scale_factor, [21 + 0.7, 31 - 0.35], atol=1e-5)
    assert 0 < score[0] < 1
    (empty,), (zero,) = codec.decode(np.zeros((3, 64, 48), np.float32))
    assert zero[0] == 0 and np.all(empty[0] < 0)  # nothing found: no offset added


def _mmpose_style_decode(maps: np.ndarray) -> np.ndarray:
    """UDP-DARK one map and one joint at a time, as MMPose writes it: a zero-padded
    ``cv2.GaussianBlur`` rescaled to the map's maximum, clip, log, float32 differences, float64
    inverse. Returns heatmap-pixel locations."""
    import cv2

    out = []
    for m in maps:
        y0, x0 = np.unravel_index(m.argmax(), m.shape)
        padded = np.zeros((m.shape[0] + 10, m.shape[1] + 10), np.float32)
        padded[5:-5, 5:-5] = m
        blurred = cv2.GaussianBlur(padded, (11, 11), 0)[5:-5, 5:-5]
        blurred *= m.max() / blurred.max()
        g = np.pad(np.log(np.clip(blurred, 1e-3, 50.0)), 1, mode="edge")
        x, y = x0 + 1, y0 + 1
        grad = np.array([0.5 * (g[y, x + 1] - g[y, x - 1]), 0.5 * (g[y + 1, x] - g[y - 1, x])], np.float32)
        dxx = g[y, x + 1] - 2 * g[y, x] + g[y, x - 1]
        dyy = g[y + 1, x] - 2 * g[y, x] + g[y - 1, x]
        dxy = 0.5 * (g[y + 1, x + 1] - g[y, x + 1] - g[y + 1, x] + g[y, x] + g[y, x]
                     - g[y, x - 1] - g[y - 1, x] + g[y - 1, x - 1])
        hessian = np.array([[dxx, dxy], [dxy, dyy]], np.float32) + np.finfo(np.float32).eps * np.eye(2)
        out.append(np.array([x0, y0], np.float32) - np.linalg.inv(hessian) @ grad)
    return np.array(out, np.float32)


def test_dark_udp_on_near_flat_maps_gives_mmposes_keypoints():
    """A near-flat map (an untrained or barely trained model's; MMPose-trained ViTPose files give
    them) makes the Newton step ill-conditioned: it amplifies rounding a millionfold, so only
    MMPose's own filter and rounding order give MMPose's keypoints (image keypoints of
    `mlpose test`/`infer` equal MMPose's, issue 22; a batched blur moved them by up to 139 px)."""
    import cv2

    codec = UDPHeatmap((192, 256), (48, 64), sigma=2.0)
    for seed in range(3):
        coarse = (45.0 + np.random.default_rng(seed).normal(0, 1e-3, size=(17, 16, 12))).astype(np.float32)
        maps = np.stack([cv2.resize(c, (48, 64), interpolation=cv2.INTER_LINEAR) for c in coarse])
        (decoded,), _ = codec.decode(maps)
        np.testing.assert_allclose(decoded, _mmpose_style_decode(maps) * codec.scale_factor, rtol=0, atol=1e-4)
