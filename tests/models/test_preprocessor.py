"""PoseDataPreprocessor: uint8 BGR -> normalised float RGB."""
import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.registry import MODELS, build


def test_bgr_to_rgb_and_normalise():
    pre = build(dict(type="PoseDataPreprocessor", mean=[100.0, 50.0, 0.0], std=[2.0, 5.0, 10.0]),
                MODELS, "model.data_preprocessor")
    img = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    img[:, 0], img[:, 1], img[:, 2] = 10, 20, 30  # B, G, R
    out = pre(img)
    assert out.dtype == torch.float32 and out.shape == (1, 3, 2, 2)
    assert out[0, :, 0, 0].tolist() == pytest.approx([(30 - 100) / 2, (20 - 50) / 5, (10 - 0) / 10])


def test_keep_channel_order():
    pre = build(dict(type="PoseDataPreprocessor", mean=[0, 0, 0], std=[1, 1, 1], bgr_to_rgb=False),
                MODELS, "p")
    img = torch.arange(3, dtype=torch.uint8).view(1, 3, 1, 1)
    assert pre(img).flatten().tolist() == [0.0, 1.0, 2.0]


def test_imagenet_defaults_and_no_checkpoint_state():
    pre = build(dict(type="PoseDataPreprocessor"), MODELS, "p")
    assert pre.mean.flatten().tolist() == pytest.approx([123.675, 116.28, 103.53])
    assert pre.state_dict() == {}


@pytest.mark.parametrize("kw", [dict(mean=[1, 2]), dict(std=[1, 0, 1])])
def test_bad_values(kw):
    with pytest.raises(ConfigError):
        build(dict(type="PoseDataPreprocessor", **kw), MODELS, "p")


def test_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        build(dict(type="PoseDataPreprocessor"), MODELS, "p")(torch.zeros(3, 4, 4, dtype=torch.uint8))
