"""KeypointMSELoss: MMPose 1.x semantics (weighted per-pixel MSE, mean over every pixel)."""
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
