"""RTMCCHead: MMPose's layout and sizes, forward shapes, the head contract (loss, flip, decode)."""
import numpy as np
import pytest
import torch

from mlpose.codecs import SimCCLabel
from mlpose.errors import ConfigError
from mlpose.models import RTMCCHead
from mlpose.registry import MODELS, build

RTMPOSE_GAU = dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0.0, drop_path=0.0, act_fn="SiLU",
                   use_rel_bias=False, pos_enc=False)
# in_channels -> parameters of MMPose's RTMCCHead in the RTMPose-t/s/m/l COCO 256x192 configs
MMPOSE_PARAMS = {384: 988_307, 512: 1_094_931, 768: 1_308_179, 1024: 1_521_427}
CODEC = dict(type="SimCCLabel", input_size=(48, 64), sigma=(4.9, 5.66), normalize=False)


def tiny(**kw):
    cfg = dict(type="RTMCCHead", in_channels=16, out_channels=5, input_size=(48, 64), in_featuremap_size=(2, 2),
               final_layer_kernel_size=7, gau_cfg=dict(hidden_dims=32, s=16, act_fn="SiLU"),
               loss=dict(type="KLDiscretLoss", use_target_weight=True, beta=10.0, label_softmax=True), decoder=CODEC)
    return build(cfg | kw, MODELS, "model.head")


@pytest.mark.parametrize("in_channels", sorted(MMPOSE_PARAMS))
def test_param_count_matches_mmpose_rtmpose_heads(in_channels):
    head = RTMCCHead(in_channels, 17, (192, 256), (6, 8), 2.0, 7, RTMPOSE_GAU)
    assert sum(p.numel() for p in head.parameters()) == MMPOSE_PARAMS[in_channels]
    shapes = {k: tuple(v.shape) for k, v in head.state_dict().items()}
    assert shapes["final_layer.weight"] == (17, in_channels, 7, 7) and shapes["mlp.0.g"] == (1,)
    assert shapes["mlp.1.weight"] == (256, 48) and shapes["cls_x.weight"] == (384, 256)
    assert shapes["cls_y.weight"] == (512, 256) and shapes["gau.uv.weight"] == (1152, 256)


def test_forward_shapes_and_contract_attributes():
    head = tiny()
    assert head.output_names == ("simcc_x", "simcc_y") and head.test_cfg_defaults == {}
    simcc_x, simcc_y = head((torch.randn(3, 8, 4, 4), torch.randn(3, 16, 2, 2)))  # uses the last
    assert simcc_x.shape == (3, 5, 96) and simcc_y.shape == (3, 5, 128)


def test_loss_and_accuracy_against_codec_targets_and_backward():
    torch.manual_seed(0)
    head = tiny().train()
    codec = SimCCLabel((48, 64), sigma=(4.9, 5.66), normalize=False)
    kp = np.random.default_rng(0).uniform(5, 40, size=(3, 5, 2)).astype(np.float32)
    enc = [codec.encode(kp[i : i + 1]) for i in range(3)]
    targets = {k: torch.from_numpy(np.concatenate([e[k] for e in enc])) for k in codec.target_keys}
    outputs = head((torch.randn(3, 16, 2, 2),))
    terms = head.loss(outputs, targets)
    assert set(terms) == {"loss_kpt", "acc_pose"} and all(v.dim() == 0 for v in terms.values())
    terms["loss_kpt"].backward()
    assert head.cls_x.weight.grad.abs().sum() > 0 and head.gau.uv.weight.grad.abs().sum() > 0
    perfect = head.loss((targets["keypoint_x_labels"], targets["keypoint_y_labels"]), targets)
    assert perfect["acc_pose"].item() == 1.0
    with pytest.raises(ConfigError, match="GenerateTarget's encoder"):
        head.loss((outputs[0][..., :-1], outputs[1]), targets)


def test_flip_outputs_swaps_keypoints_and_mirrors_x_bins():
    head = tiny()
    x, y = torch.arange(2 * 5 * 96.0).reshape(2, 5, 96), torch.arange(2 * 5 * 128.0).reshape(2, 5, 128)
    fx, fy = head.flip_outputs((x, y), [0, 2, 1, 4, 3], {})
    assert torch.equal(fx[:, 1], x[:, 2].flip(-1)) and torch.equal(fx[:, 0, 0], x[:, 0, 95])
    assert torch.equal(fy[:, 3], y[:, 4]) and torch.equal(fy[:, 0], y[:, 0])
    gx, _ = head.flip_outputs((x, y), None, {})
    assert torch.equal(gx, x.flip(-1))


def test_decode_through_the_codec():
    head = tiny()
    x, y = torch.zeros(1, 5, 96), torch.zeros(1, 5, 128)
    x[0, :, 20], y[0, :, 31] = 1.0, 2.0
    kp, scores = head.decode((x, y))
    np.testing.assert_allclose(kp, np.tile([10.0, 15.5], (1, 5, 1)))
    np.testing.assert_allclose(scores, 1.0)
    with pytest.raises(ConfigError, match="decoder"):
        tiny(decoder=None).decode((x, y))


def test_config_errors_are_one_line():
    with pytest.raises(ConfigError, match="in_featuremap_size"):
        tiny()((torch.randn(1, 16, 3, 2),))
    with pytest.raises(ConfigError, match="decoder expects"):
        tiny(decoder=dict(CODEC, simcc_split_ratio=3.0))
    with pytest.raises(ConfigError, match="unknown keys"):
        tiny(gau_cfg=dict(hidden=32))
    with pytest.raises(ConfigError, match="in_channels"):
        tiny(in_channels=(16, 32))
    with pytest.raises(ConfigError, match="odd"):
        tiny(final_layer_kernel_size=4)


def test_estimator_checks_in_featuremap_size_at_build():
    # CSPNeXt's padded stride-2 convs round up: a 48x64 crop gives a 2x2 map, not 48 // 32 = 1
    model = dict(type="TopdownPoseEstimator",
                 backbone=dict(type="CSPNeXt", deepen_factor=0.167, widen_factor=0.125, out_indices=(4,)),
                 head=dict(type="RTMCCHead", in_channels=128, out_channels=5, input_size=(48, 64),
                           in_featuremap_size=(1, 2), gau_cfg=dict(hidden_dims=32, s=16), decoder=CODEC))
    with pytest.raises(ConfigError, match=r"in_featuremap_size=\(1, 2\).*set it to \(2, 2\)"):
        build(model, MODELS, "model")
    model["head"]["in_featuremap_size"] = (2, 2)
    estimator = build(model, MODELS, "model").eval()
    assert estimator.test_cfg["flip_test"] and set(estimator.head.test_cfg_defaults) == set()
    simcc_x, simcc_y = estimator(torch.zeros(2, 3, 64, 48, dtype=torch.uint8))
    assert simcc_x.shape == (2, 5, 96) and simcc_y.shape == (2, 5, 128)
