"""UDP's combined maps end to end in the model (MMPose's td-hm_hrnet-w32_udp-regress config): the
head's 'udp_combined' flip undoes a mirrored crop exactly, and the model trains on
CombinedTargetMSELoss with model.train_cfg.compute_acc=False."""
import numpy as np
import torch

from mlpose.codecs import UDPHeatmap
from mlpose.models.heads.heatmap_head import flip_heatmaps
from mlpose.registry import MODELS, build

K = 3
CODEC = dict(type="UDPHeatmap", input_size=(64, 96), heatmap_size=(16, 24), heatmap_type="combined")


def test_flip_of_a_mirrored_crops_targets_gives_the_crops_targets():
    """UDP crops mirror exactly (x -> W-1-x), so the combined targets of the mirrored crop,
    flipped back with left/right swapped, are the original targets: disks moved, x offsets negated."""
    codec = UDPHeatmap(**{k: v for k, v in CODEC.items() if k != "type"})
    kp = np.array([[[10.3, 20.7], [30.9, 41.2], [25.0, 60.0]]], np.float32)  # 0 and 1 are a left/right pair
    mirrored = kp[:, [1, 0, 2]].copy()
    mirrored[..., 0] = 63 - mirrored[..., 0]
    plain = torch.from_numpy(codec.encode(kp)["heatmaps"])[None]
    back = flip_heatmaps(torch.from_numpy(codec.encode(mirrored)["heatmaps"])[None], [1, 0, 2],
                         flip_mode="udp_combined", shift_heatmap=False)
    assert plain[0, 0].sum() > 0 and torch.allclose(back, plain, atol=1e-5)
    wrong = flip_heatmaps(torch.from_numpy(codec.encode(mirrored)["heatmaps"])[None], [3, 4, 5, 0, 1, 2, 6, 7, 8],
                          shift_heatmap=False)
    assert not torch.allclose(wrong, plain, atol=1e-3)  # the plain heatmap flip keeps the x offsets' sign


def test_the_udp_regress_model_learns_and_predicts_without_acc_pose():
    torch.manual_seed(0)
    model = build(dict(
        type="TopdownPoseEstimator",
        backbone=dict(type="ResNet", depth=18, base_channels=8),
        head=dict(type="HeatmapHead", in_channels=64, out_channels=3 * K, deconv_out_channels=(16, 16, 16),
                  loss=dict(type="CombinedTargetMSELoss", use_target_weight=True), decoder=CODEC),
        train_cfg=dict(compute_acc=False),
        test_cfg=dict(flip_test=True, flip_mode="udp_combined", shift_heatmap=False)), MODELS, "model")
    codec = model.head.decoder
    inputs = torch.randint(0, 255, (2, 3, 96, 64), dtype=torch.uint8)
    kp = np.random.default_rng(0).uniform([8, 8], [56, 88], (2, 1, K, 2)).astype(np.float32)
    encoded = [codec.encode(k) for k in kp]
    targets = dict(heatmaps=torch.from_numpy(np.stack([e["heatmaps"] for e in encoded])),
                   keypoint_weights=torch.from_numpy(np.stack([e["keypoint_weights"][0] for e in encoded])))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        terms = model.loss_from_outputs(model(inputs), targets)
        optimizer.zero_grad()
        terms["loss"].backward()
        optimizer.step()
        losses.append(terms["loss"].item())
    assert set(terms) == {"loss", "loss_kpt"} and losses[-1] < 0.5 * losses[0]
    model.eval()
    metas = [dict(center=np.array([32.0, 48.0]), scale=np.array([64.0, 96.0]), input_size=(64, 96),
                  flip_indices=[1, 0, 2], id=i, img_id=i) for i in range(2)]
    preds = model.predict(inputs, metas)
    assert preds[0]["keypoints"].shape == (K, 2) and preds[0]["keypoint_scores"].shape == (K,)
