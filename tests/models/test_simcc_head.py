"""SimCCHead (SimCC-ResNet): MMPose's layout and sizes, deconv / plain variants, contract methods."""
import numpy as np
import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.models import SimCCHead, flip_vectors
from mlpose.registry import MODELS, build

CODEC = dict(type="SimCCLabel", input_size=(48, 64), sigma=6.0)


def test_param_counts_match_mmpose_simcc_configs():
    # MMPose 1.3.2: simcc_res50 256x192 head 13,245,073; simcc_mobilenetv2_wo-deconv head 65,681
    res50 = SimCCHead(2048, 17, (192, 256), (6, 8))
    assert sum(p.numel() for p in res50.parameters()) == 13_245_073
    keys = res50.state_dict()
    assert tuple(keys["deconv_head.deconv_layers.0.weight"].shape) == (2048, 256, 4, 4)
    assert tuple(keys["deconv_head.final_layer.weight"].shape) == (17, 256, 1, 1)
    assert tuple(keys["mlp_head_x.weight"].shape) == (384, 48 * 64) and "mlp_head_y.bias" in keys
    mbv2 = SimCCHead(1280, 17, (192, 256), (6, 8), deconv_out_channels=None)
    assert sum(p.numel() for p in mbv2.parameters()) == 65_681 and "final_layer.weight" in mbv2.state_dict()


@pytest.mark.parametrize("deconvs,flat", [((8, 8), 8 * 8), (None, 2 * 2)])
def test_forward_shapes_with_and_without_deconvs(deconvs, flat):
    head = build(dict(type="SimCCHead", in_channels=16, out_channels=5, input_size=(48, 64), in_featuremap_size=(2, 2),
                      deconv_out_channels=deconvs, deconv_kernel_sizes=(4, 4), decoder=CODEC), MODELS, "model.head")
    assert head.mlp_head_x.in_features == flat
    simcc_x, simcc_y = head((torch.randn(2, 16, 2, 2),))
    assert simcc_x.shape == (2, 5, 96) and simcc_y.shape == (2, 5, 128)
    kp, scores = head.decode((simcc_x, simcc_y))
    assert kp.shape == (2, 5, 2) and scores.shape == (2, 5)
    targets = dict(keypoint_x_labels=torch.rand(2, 5, 96), keypoint_y_labels=torch.rand(2, 5, 128),
                   keypoint_weights=torch.ones(2, 5))
    assert head.loss((simcc_x, simcc_y), targets)["loss_kpt"].dim() == 0


def test_flip_vectors_as_mmpose():
    x, y = torch.randn(2, 3, 6), torch.randn(2, 3, 4)
    fx, fy = flip_vectors(x, y, [1, 0, 2])
    assert torch.equal(fx, x[:, [1, 0, 2]].flip(-1)) and torch.equal(fy, y[:, [1, 0, 2]])
    with pytest.raises(ValueError, match="flip_indices"):
        flip_vectors(x, y, [1, 0])


@pytest.mark.parametrize("bad", [dict(deconv_type="vipnas"), dict(final_layer=dict(kernel_size=1, dilation=2)),
                                 dict(in_channels=[16]), dict(simcc_split_ratio=0)])
def test_bad_arguments_raise_config_error(bad):
    cfg = dict(in_channels=16, out_channels=5, input_size=(48, 64), in_featuremap_size=(2, 2), deconv_out_channels=None)
    with pytest.raises(ConfigError):
        SimCCHead(**(cfg | bad))
