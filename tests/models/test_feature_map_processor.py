"""FeatureMapProcessor neck (ViTPose's simple decoder): ReLU, bilinear rescaling, selection, concat."""
import pytest
import torch
import torch.nn.functional as F

from mlpose.errors import ConfigError
from mlpose.registry import MODELS, build


def _neck(**kw):
    return build(dict(type="FeatureMapProcessor", **kw), MODELS, "model.neck")


def test_vitpose_simple_decoder_is_relu_then_x4_bilinear():
    feat = torch.randn(2, 8, 16, 12)
    (out,) = _neck(scale_factor=4.0, apply_relu=True)((feat,))
    assert out.shape == (2, 8, 64, 48)
    torch.testing.assert_close(out, F.interpolate(feat.clamp(min=0), scale_factor=4.0, mode="bilinear"))
    assert out.min() >= 0


def test_select_and_concat_resize_to_the_first_map():
    a, b, c = torch.randn(1, 2, 8, 6), torch.randn(1, 3, 4, 3), torch.randn(1, 5, 2, 2)
    (out,) = _neck(select_index=(0, 1), concat=True)((a, b, c))
    assert out.shape == (1, 5, 8, 6)
    assert torch.equal(out[:, :2], a)
    torch.testing.assert_close(out[:, 2:], F.interpolate(b, size=(8, 6), mode="bilinear"))
    assert _neck(select_index=2)((a, b, c))[0] is c


def test_a_single_tensor_in_gives_a_single_tensor_out():
    feat = torch.randn(1, 4, 4, 4)
    assert torch.equal(_neck()(feat), feat)
    assert _neck(scale_factor=0.5)(feat).shape == (1, 4, 2, 2)


@pytest.mark.parametrize("kwargs", [dict(scale_factor=0), dict(scale_factor=-2.0), dict(select_index=[])])
def test_bad_arguments_are_config_errors(kwargs):
    with pytest.raises(ConfigError, match="FeatureMapProcessor"):
        _neck(**kwargs)
