"""GenerateTarget: codec built from the registry, transformed keypoints preferred."""
import numpy as np
import pytest

from mlpose.codecs import MSRAHeatmap
from mlpose.datasets.transforms import GenerateTarget
from mlpose.errors import ConfigError

CODEC = dict(type="MSRAHeatmap", input_size=(96, 128), heatmap_size=(24, 32), sigma=2)


def test_encodes_transformed_keypoints_with_the_configured_codec():
    t = GenerateTarget(encoder=CODEC)
    assert isinstance(t.encoder, MSRAHeatmap) and t.encoder.heatmap_size == (24, 32)
    results = dict(
        keypoints=np.full((1, 2, 2), 500.0, np.float32),  # image pixels: off the crop
        transformed_keypoints=np.array([[[40.0, 60.0], [8.0, 100.0]]], np.float32),
        keypoints_visible=np.array([[1.0, 0.0]], np.float32),
    )
    out = t(results)
    assert out["heatmaps"].shape == (2, 32, 24)
    np.testing.assert_array_equal(out["keypoint_weights"], [[1.0, 0.0]])
    assert out["heatmaps"][0, 15, 10] == pytest.approx(1.0)
    assert not out["heatmaps"][1].any()


def test_falls_back_to_keypoints_and_applies_dataset_weights():
    t = GenerateTarget(encoder=CODEC, use_dataset_keypoint_weights=True)
    out = t(dict(keypoints=np.array([[[40.0, 60.0], [20.0, 20.0]]], np.float32),
                 keypoints_visible=np.ones((1, 2), np.float32),
                 dataset_keypoint_weights=np.array([1.0, 1.5], np.float32)))
    np.testing.assert_allclose(out["keypoint_weights"], [[1.0, 1.5]])
    assert out["heatmaps"][0, 15, 10] == pytest.approx(1.0)
    # the model's targets: the codec's target_keys, instance keys of this one person (the weights
    # dataset-weighted too), what PackPoseInputs packs
    assert set(out["targets"]) == {"heatmaps", "keypoint_weights"}
    np.testing.assert_allclose(out["targets"]["keypoint_weights"], [1.0, 1.5])
    assert out["targets"]["heatmaps"] is out["heatmaps"]


@pytest.mark.parametrize("kwargs,match", [
    (dict(encoder=[CODEC, CODEC]), "list of encoders"),
    (dict(encoder=CODEC, multilevel=True), "multilevel"),
    (dict(encoder=dict(type="NoSuchCodec")), "NoSuchCodec"),
])
def test_unsupported_configs_raise_config_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        GenerateTarget(**kwargs)
