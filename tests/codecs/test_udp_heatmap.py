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


def test_only_gaussian_type_is_supported():
    with pytest.raises(ConfigError, match="heatmap_type"):
        UDPHeatmap((192, 256), (48, 64), heatmap_type="combined")
