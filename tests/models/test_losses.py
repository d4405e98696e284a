"""Heatmap losses: KeypointMSELoss (MMPose 1.x semantics: weighted per-pixel MSE, mean over every
pixel) and CombinedTargetMSELoss (UDP's disk + offset maps)."""
import pytest
import torch
import torch.nn.functional as F

from mlpose.registry import MODELS, build


def make(**kw):
    return build(dict(type="KeypointMSELoss", **kw), MODELS, "model.head.loss")


def test_unweighted_is_plain_mse():
    torch.manual_seed(0)
    pred, target = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    assert torch.allclose(make()(pred, target), F.mse_loss(pred, target))


def test_target_weights_scale_each_channel_and_keep_the_full_denominator():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.ones(1, 2, 2, 2)
    target[0, 1] = 3.0  # channel 1 squared error 9 per pixel, channel 0 error 1
    weights = torch.tensor([[0.5, 0.0]])
    loss = make(use_target_weight=True)(pred, target, weights)
    assert loss.dim() == 0
    # (4 pixels * 1 * 0.5 + 4 pixels * 9 * 0) / 8 pixels
    assert loss.item() == pytest.approx(0.25)
    assert make(use_target_weight=False)(pred, target, weights).item() == pytest.approx(5.0)


def test_loss_weight_multiplies():
    pred, target = torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 2.0)
    assert make(loss_weight=0.1)(pred, target).item() == pytest.approx(0.4)


def test_skip_empty_channel_ignores_all_zero_targets():
    pred = torch.ones(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 1.0
    # channel 0: errors 0,1,1,1 -> 3; channel 1 (empty target) ignored; denominator 8
    assert make(skip_empty_channel=True)(pred, target).item() == pytest.approx(3 / 8)
    assert make()(pred, target).item() == pytest.approx(7 / 8)


def test_gradient_flows_only_through_weighted_channels():
    pred = torch.zeros(1, 2, 2, 2, requires_grad=True)
    make(use_target_weight=True)(pred, torch.ones(1, 2, 2, 2), torch.tensor([[1.0, 0.0]])).backward()
    assert pred.grad[0, 0].abs().sum() > 0
    assert pred.grad[0, 1].abs().sum() == 0


def test_missing_weights_is_an_error():
    with pytest.raises(ValueError, match="target_weights"):
        make(use_target_weight=True)(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))


def _combined(disk_pred, dx_pred, dy_pred, disk_gt, dx_gt, dy_gt):
    """One keypoint of combined maps over a 1x2 image: (B=1, 3, 1, 2) prediction and target."""
    t = lambda *maps: torch.tensor([[[m] for m in maps]], dtype=torch.float32)  # noqa: E731
    return t(disk_pred, dx_pred, dy_pred), t(disk_gt, dx_gt, dy_gt)


@pytest.mark.parametrize("weight, expected", [
    # 0.5 * (disk ((.5^2 + .5^2) / 2) + dx (1^2 / 2, masked outside the disk) + dy (2^2 / 2))
    (1.0, 0.5 * (0.25 + 0.5 + 2.0)),
    # the weight scales the disks, and the weighted target disk masks the offsets
    (0.5, 0.5 * (((0.25 - 0.5) ** 2 + 0.25**2) / 2 + 0.5**2 / 2 + 1.0**2 / 2)),
])
def test_combined_loss_is_mmposes_formula(weight, expected):
    pred, target = _combined([0.5, 0.5], [1.5, 100.0], [2.0, 2.0], [1.0, 0.0], [0.5, 9.0], [0.0, 0.0])
    loss = build(dict(type="CombinedTargetMSELoss", use_target_weight=True, loss_weight=2.0), MODELS, "loss")
    assert loss(pred, target, torch.tensor([[weight]])).item() == pytest.approx(2 * expected)


def test_combined_loss_learns_offsets_only_inside_the_target_disk():
    pred, target = _combined([0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.3, 0.3], [0.1, 0.1])
    pred.requires_grad_(True)
    build(dict(type="CombinedTargetMSELoss"), MODELS, "loss")(pred, target).backward()
    assert pred.grad[0, 1:, 0, 0].abs().min() > 0 and torch.all(pred.grad[0, 1:, 0, 1] == 0)


def test_combined_loss_needs_three_channels_per_keypoint():
    with pytest.raises(ValueError, match="3 channels per keypoint, got 4"):
        build(dict(type="CombinedTargetMSELoss"), MODELS, "loss")(torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 2, 2))
