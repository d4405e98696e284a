"""TopdownPoseEstimator: build from config, loss terms, flip test, decoding to image pixels."""
import numpy as np
import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.models import flip_heatmaps
from mlpose.registry import MODELS, build

K = 4
FLIP = [1, 0, 3, 2]
CODEC = dict(type="MSRAHeatmap", input_size=(64, 96), heatmap_size=(16, 24), sigma=2)


def model_cfg(**kw):
    cfg = dict(
        type="TopdownPoseEstimator",
        data_preprocessor=dict(type="PoseDataPreprocessor", mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
        backbone=dict(type="ResNet", depth=18, base_channels=8),
        head=dict(type="HeatmapHead", in_channels=64, out_channels=K, deconv_out_channels=(16, 16, 16),
                  loss=dict(type="KeypointMSELoss", use_target_weight=True), decoder=CODEC),
        test_cfg=dict(flip_test=True, flip_mode="heatmap", shift_heatmap=True),
    )
    cfg.update(kw)
    return cfg


def make(**kw):
    torch.manual_seed(0)
    return build(model_cfg(**kw), MODELS, "model")


def lively(model):
    """Eval-mode model with random weights: a fresh one predicts ~1e-11 everywhere."""
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
        model.head.final_layer.bias.fill_(1.0)  # positive maxima, so every joint decodes
    return model.eval()


def meta(center=(32.0, 48.0), scale=(64.0, 96.0), **kw):
    m = dict(id=7, img_id=3, category_id=1, bbox_score=0.9, area=1234.0, dataset_name="coco",
             center=np.array(center, np.float32), scale=np.array(scale, np.float32),
             input_size=(64, 96), flip_indices=FLIP)
    m.update(kw)
    return m


def images(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 96, 64), dtype=torch.uint8, generator=g)


def test_forward_gives_codec_sized_heatmaps():
    assert make()(images()).shape == (2, K, 24, 16)


def test_loss_returns_device_scalars():
    model = make().train()
    target = torch.zeros(2, K, 24, 16)
    target[:, :, 5, 3] = 1.0
    out = model.loss(images(), dict(heatmaps=target, keypoint_weights=torch.ones(2, K)))
    assert list(out) == ["loss", "loss_kpt", "acc_pose"]
    assert all(v.dim() == 0 for v in out.values())
    assert torch.equal(out["loss"], out["loss_kpt"])
    out["loss"].backward()
    assert model.backbone.conv1.weight.grad is not None


def test_loss_reads_no_value_on_the_host():
    # On the meta device tensors hold no data, so any .item()/numpy/branch on a value raises.
    model = make().to("meta").train()
    inputs = torch.empty(2, 3, 96, 64, dtype=torch.uint8, device="meta")
    out = model.loss(inputs, dict(heatmaps=torch.empty(2, K, 24, 16, device="meta"),
                                 keypoint_weights=torch.empty(2, K, device="meta")))
    assert all(v.device.type == "meta" and v.dim() == 0 for v in out.values())


def test_heatmap_size_mismatch_fails_at_build():
    cfg = model_cfg()
    cfg["head"] = dict(cfg["head"], deconv_out_channels=(16, 16), deconv_kernel_sizes=(4, 4))
    with pytest.raises(ConfigError, match=r"\(8, 12\) heatmaps.*heatmap_size is \(16, 24\)"):
        build(cfg, MODELS, "model")


@pytest.mark.parametrize(
    "kw, needle",
    [
        (dict(test_cfg=dict(flip_test=True, flip_tets=False)), "flip_tets"),
        (dict(test_cfg=dict(flip_mode="offset")), "flip_mode"),
        (dict(train_cfg=dict(compute_acc=False, compute_pck=True)), r"model.train_cfg: unknown keys \['compute_pck'\]"),
        (dict(test_cfg=dict(flip_mode="udp_combined")), "'udp_combined' needs 3 maps per keypoint"),
        (dict(backbone=dict(type="ResNet", depth=18, widht=8)), "model.backbone"),
    ],
)
def test_bad_config(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        make(**kw)


def test_default_preprocessor_and_test_cfg():
    cfg = model_cfg()
    del cfg["data_preprocessor"], cfg["test_cfg"]
    model = build(cfg, MODELS, "model")
    assert model.data_preprocessor.mean.flatten().tolist() == pytest.approx([123.675, 116.28, 103.53])
    assert model.test_cfg["flip_test"] and model.test_cfg["shift_heatmap"]


def test_known_heatmap_peak_maps_to_known_image_point():
    model = make()
    heatmaps = torch.zeros(1, K, 24, 16)
    heatmaps[0, 2, 5, 3] = 0.8  # isolated peak: no sub-pixel shift, input px = 4 * (3, 5)
    m = meta(center=(100.0, 200.0), scale=(128.0, 192.0))
    (pred,) = model.outputs_to_predictions(heatmaps, [m])
    # x: 12 / 64 * 128 + 100 - 64 = 60;  y: 20 / 96 * 192 + 200 - 96 = 144
    np.testing.assert_allclose(pred["keypoints"][2], [60.0, 144.0], atol=1e-5)
    assert pred["keypoints"].shape == (K, 2) and pred["keypoints"].dtype == np.float32
    np.testing.assert_allclose(pred["keypoint_scores"], [0.0, 0.0, 0.8, 0.0], atol=1e-7)
    for key in ("id", "img_id", "category_id", "bbox_score", "area", "dataset_name"):
        assert pred[key] == m[key]
    np.testing.assert_array_equal(pred["center"], m["center"])
    assert "heatmaps" not in pred


def test_udp_prediction_returns_to_the_image_point_it_was_warped_from():
    """UDP crops put the box edges on pixel centres 0 and W-1: the way back must too."""
    from mlpose.datasets.transforms import get_udp_warp_matrix

    udp = dict(type="UDPHeatmap", input_size=(64, 96), heatmap_size=(16, 24), sigma=1)
    model = make(head={**model_cfg()["head"], "decoder": udp})
    center, scale = np.array([100.0, 200.0]), np.array([128.0, 192.0])
    points = np.array([[70.0, 150.0], [100.0, 200.0], [125.0, 250.0], [85.0, 181.0]])  # off the edges
    warp = get_udp_warp_matrix(center, scale, 0.0, (64, 96))
    crop = points @ warp[:, :2].T + warp[:, 2]
    heatmaps = model.head.decoder.encode(crop[None].astype(np.float32))["heatmaps"]
    m = meta(center=center.astype(np.float32), scale=scale.astype(np.float32))
    (pred,) = model.outputs_to_predictions(torch.from_numpy(heatmaps)[None], [m])
    np.testing.assert_allclose(pred["keypoints"], points, atol=0.1)  # pixels; 1 crop px = 2 here


def test_predict_is_decode_of_flip_averaged_heatmaps():
    model = lively(make())
    x, metas = images(), [meta(), meta(center=(50.0, 60.0))]
    preds = model.predict(x, metas)
    expected = model.outputs_to_predictions(model.predict_outputs(x, FLIP), metas)
    assert len(preds) == 2
    for p, e in zip(preds, expected):
        np.testing.assert_array_equal(p["keypoints"], e["keypoints"])
    plain = lively(make(test_cfg=dict(flip_test=False)))
    assert torch.equal(plain.predict_outputs(x), plain(x))
    assert not torch.allclose(model.predict_outputs(x, FLIP), model(x), atol=1e-3)


def test_flip_test_is_mirror_symmetric():
    model = lively(make(test_cfg=dict(shift_heatmap=False)))
    x = images(1)
    hm = model.predict_outputs(x, FLIP)
    hm_flipped_input = model.predict_outputs(x.flip(-1), FLIP)
    torch.testing.assert_close(hm_flipped_input, flip_heatmaps(hm, FLIP, shift_heatmap=False))
    # Keypoints on the mirrored image are the mirrored keypoints of the swapped joints
    # (identity crop: image px == input px; heatmap column c maps to 4c, so x -> 60 - x).
    (p,) = model.predict(x, [meta()])
    (q,) = model.predict(x.flip(-1), [meta()])
    np.testing.assert_allclose(q["keypoints"][:, 0], 60.0 - p["keypoints"][FLIP, 0], atol=1e-4)
    np.testing.assert_allclose(q["keypoints"][:, 1], p["keypoints"][FLIP, 1], atol=1e-4)
    np.testing.assert_allclose(q["keypoint_scores"], p["keypoint_scores"][FLIP], rtol=1e-5)


def test_flip_indices_from_metainfo_or_error():
    x = images(1)
    no_flip_meta = meta()
    del no_flip_meta["flip_indices"]
    with pytest.raises(ConfigError, match="flip_indices"):
        make().eval().predict(x, [no_flip_meta])
    with_info = make(metainfo=dict(flip_indices=FLIP)).eval()
    a = with_info.predict(x, [no_flip_meta])[0]["keypoints"]
    b = with_info.predict(x, [meta()])[0]["keypoints"]
    np.testing.assert_array_equal(a, b)


def test_output_heatmaps_option():
    model = make(test_cfg=dict(output_heatmaps=True)).eval()
    (pred,) = model.predict(images(1), [meta()])
    assert pred["heatmaps"].shape == (K, 24, 16)
