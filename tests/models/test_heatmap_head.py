"""HeatmapHead (SimpleBaseline) shapes, initialisation, loss terms, and flip_heatmaps."""
import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.models import flip_heatmaps
from mlpose.registry import MODELS, build


def head(**kw):
    cfg = dict(type="HeatmapHead", in_channels=16, out_channels=5, deconv_out_channels=(8, 8, 8))
    return build({**cfg, **kw}, MODELS, "model.head")


def test_three_deconvs_upsample_by_8():
    out = head()(torch.randn(2, 16, 2, 3))
    assert out.shape == (2, 5, 16, 24)


@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_every_deconv_kernel_doubles(kernel):
    h = head(deconv_out_channels=(8,), deconv_kernel_sizes=(kernel,))
    assert h(torch.randn(1, 16, 4, 3)).shape == (1, 5, 8, 6)


def test_takes_last_feature_of_a_tuple_and_extra_convs():
    h = head(deconv_out_channels=(), deconv_kernel_sizes=(), conv_out_channels=(12,), conv_kernel_sizes=(3,))
    assert len(h.deconv_layers) == 0
    out = h((torch.randn(1, 7, 9, 9), torch.randn(1, 16, 4, 4)))
    assert out.shape == (1, 5, 4, 4)


def test_no_deconvs_as_hrnet_configs_write_it():
    # HRNet's configs: deconv_out_channels=None and the default kernel sizes: the final 1x1 only
    h = head(in_channels=32, out_channels=17, deconv_out_channels=None)
    assert len(h.deconv_layers) == 0 and h.final_layer.kernel_size == (1, 1)
    assert h(torch.randn(1, 32, 64, 48)).shape == (1, 17, 64, 48)
    assert h.output_size((48, 64)) == (48, 64)


def test_init_is_tiny_normal_with_zero_bias():
    torch.manual_seed(0)
    h = head(in_channels=256, out_channels=17, deconv_out_channels=(256, 256, 256))
    final = h.final_layer
    assert final.kernel_size == (1, 1)
    assert torch.all(final.bias == 0)
    assert 0.0008 < final.weight.std().item() < 0.0012
    assert 0.0008 < h.deconv_layers[0].weight.std().item() < 0.0012
    # So a fresh head predicts nearly blank heatmaps instead of large noise.
    assert h(torch.randn(2, 256, 2, 2)).abs().max().item() < 0.1


def test_final_layer_none_requires_matching_width():
    assert isinstance(head(deconv_out_channels=(8, 8, 5), final_layer=None).final_layer, torch.nn.Identity)
    with pytest.raises(ConfigError, match="out_channels"):
        head(final_layer=None)


@pytest.mark.parametrize(
    "kw, needle",
    [
        (dict(deconv_kernel_sizes=(4, 4)), "same length"),
        (dict(deconv_out_channels=(8,), deconv_kernel_sizes=(5,)), "kernel size 5"),
        (dict(loss=dict(type="KeypointL9Loss")), "KeypointL9Loss"),
        (dict(final_layer=dict(kernel_size=1, dilation=2)), "dilation"),
    ],
)
def test_bad_config(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        head(**kw)


def test_loss_terms_and_shape_check():
    h = head()
    pred = torch.zeros(2, 5, 16, 24)
    target = torch.zeros(2, 5, 16, 24)
    target[:, :, 3, 4] = 1.0
    out = h.loss(pred, dict(heatmaps=target, keypoint_weights=torch.ones(2, 5)))
    assert set(out) == {"loss_kpt", "acc_pose"}
    assert out["loss_kpt"].item() == pytest.approx(1 / (16 * 24))
    with pytest.raises(ValueError, match="heatmap_size"):
        h.loss(torch.zeros(2, 5, 8, 12), dict(heatmaps=target, keypoint_weights=torch.ones(2, 5)))


def test_decode_without_decoder_is_a_config_error():
    with pytest.raises(ConfigError, match="decoder"):
        head().decode(torch.zeros(1, 5, 4, 4))


def test_flip_heatmaps_mirrors_swaps_and_shifts():
    maps = torch.zeros(1, 2, 3, 6)
    maps[0, 0, 1, 1] = 1.0  # left joint at x=1
    flipped = flip_heatmaps(maps, flip_indices=[1, 0], shift_heatmap=False)
    assert flipped[0, 1, 1, 4] == 1.0 and flipped.sum() == 1.0  # mirrored to x=6-1-1, channel 1
    shifted = flip_heatmaps(maps, flip_indices=[1, 0], shift_heatmap=True)
    assert shifted[0, 1, 1, 5] == 1.0 and shifted.sum() == 1.0


def test_shift_keeps_column_zero():
    maps = torch.zeros(1, 1, 1, 4)
    maps[0, 0, 0, 3] = 2.0  # becomes column 0 after the flip, then is duplicated into column 1
    assert flip_heatmaps(maps, None).flatten().tolist() == [2.0, 2.0, 0.0, 0.0]


def test_udp_combined_flip_swaps_keypoint_groups_and_negates_x_offsets():
    maps = torch.zeros(1, 6, 2, 4)  # 2 keypoints x (disk, x offset, y offset)
    maps[0, 0, 1, 1], maps[0, 1, 1, 1], maps[0, 2, 1, 1] = 1.0, 0.25, -0.5  # keypoint 0 at x=1
    flipped = flip_heatmaps(maps, [1, 0], flip_mode="udp_combined", shift_heatmap=False)
    assert flipped[0, 3:, 1, 2].tolist() == [1.0, -0.25, -0.5]  # keypoint 1's group, mirrored to x=2
    assert flipped.abs().sum() == 1.75
    with pytest.raises(ValueError, match="3 flip_indices for 2 keypoints"):
        flip_heatmaps(maps, [0, 2, 1], flip_mode="udp_combined")


def test_flip_rejects_unknown_mode_and_bad_indices():
    with pytest.raises(ConfigError, match="flip_mode='offset' unsupported; use one of heatmap, udp_combined"):
        flip_heatmaps(torch.zeros(1, 2, 2, 2), [1, 0], flip_mode="offset")
    with pytest.raises(ValueError, match="flip_indices"):
        flip_heatmaps(torch.zeros(1, 2, 2, 2), [0])


@pytest.mark.parametrize("kw", [dict(), dict(deconv_out_channels=(8,), deconv_kernel_sizes=(3,)),
                                dict(final_layer=dict(kernel_size=3, padding=0))])
def test_output_size_matches_forward(kw):
    h = head(**kw)
    out = h(torch.randn(1, 16, 5, 3))
    assert h.output_size((3, 5)) == (out.shape[-1], out.shape[-2])
