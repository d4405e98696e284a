"""KLDiscretLoss: MMPose semantics (mean-over-bins KL per keypoint, weighted, summed, / K)."""
import math

import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.registry import MODELS, build


def make(**kw):
    return build(dict(type="KLDiscretLoss", **kw), MODELS, "model.head.loss")


def kl_by_definition(pred, target, beta=1.0, label_softmax=False, label_beta=10.0):
    """(B, K): mean over bins of p * log(p / q), q = softmax(beta * pred), 0 log 0 = 0."""
    q = torch.softmax(pred * beta, dim=-1)
    p = torch.softmax(target * label_beta, dim=-1) if label_softmax else target
    terms = torch.where(p > 0, p * (torch.log(p) - torch.log(q)), torch.zeros_like(p))
    return terms.mean(dim=-1)


def test_two_bin_case_by_hand():
    # logits (0, 0): q = (1/2, 1/2); one-hot label (1, 0): KL = ln 2, mean over 2 bins = ln2 / 2,
    # on each axis -> ln 2 for the one keypoint, / K = 1
    pred = (torch.zeros(1, 1, 2), torch.zeros(1, 1, 2))
    target = (torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 1.0]]]))
    loss = make(use_target_weight=False)(pred, target)
    assert loss.dim() == 0 and loss.item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("label_softmax", [False, True])
def test_matches_definition_with_weights_summed_over_batch_divided_by_k(label_softmax):
    torch.manual_seed(0)
    px, py = torch.randn(3, 4, 10), torch.randn(3, 4, 7)
    tx, ty = torch.rand(3, 4, 10), torch.rand(3, 4, 7)
    w = torch.tensor([[1.0, 0.0, 0.5, 1.0]] * 3)
    loss = make(beta=10.0, label_softmax=label_softmax)((px, py), (tx, ty), w)
    per_kpt = kl_by_definition(px, tx, 10.0, label_softmax) + kl_by_definition(py, ty, 10.0, label_softmax)
    assert loss.item() == pytest.approx(((per_kpt * w).sum() / 4).item(), rel=1e-5)


def test_loss_grows_with_the_batch_as_mmpose():
    torch.manual_seed(1)
    pred, target = (torch.randn(1, 2, 8), torch.randn(1, 2, 6)), (torch.rand(1, 2, 8), torch.rand(1, 2, 6))
    one = make(use_target_weight=False)(pred, target)
    two = make(use_target_weight=False)(tuple(p.repeat(2, 1, 1) for p in pred), tuple(t.repeat(2, 1, 1) for t in target))
    assert two.item() == pytest.approx(2 * one.item(), rel=1e-6)


def test_mask_scales_the_named_keypoints():
    torch.manual_seed(2)
    pred, target = (torch.randn(2, 3, 8), torch.randn(2, 3, 6)), (torch.rand(2, 3, 8), torch.rand(2, 3, 6))
    w = torch.ones(2, 3)
    base = make()(pred, target, w)
    w_scaled = torch.tensor([[1.0, 1.0, 0.5]] * 2)
    assert make(mask=[2], mask_weight=0.5)(pred, target, w).item() == pytest.approx(make()(pred, target, w_scaled).item())
    assert make(mask=[2], mask_weight=0.5)(pred, target, w).item() < base.item()


def test_gradient_flows_and_bf16_inputs_give_float32_loss():
    pred = (torch.randn(2, 3, 8, requires_grad=True), torch.randn(2, 3, 6, requires_grad=True))
    target = (torch.rand(2, 3, 8), torch.rand(2, 3, 6))
    loss = make(beta=10.0, label_softmax=True)(pred, target, torch.ones(2, 3))
    loss.backward()
    assert pred[0].grad.abs().sum() > 0
    half = make()(tuple(p.detach().bfloat16() for p in pred), tuple(t.bfloat16() for t in target), torch.ones(2, 3))
    assert half.dtype == torch.float32


def test_bad_config_and_missing_weights():
    with pytest.raises(ConfigError, match="beta"):
        make(beta=0)
    with pytest.raises(ConfigError, match="mask"):
        make(mask="left")
    pred = (torch.zeros(1, 3, 4), torch.zeros(1, 3, 4))
    with pytest.raises(ConfigError, match="mask=\\[5\\]"):
        make(mask=[5])(pred, pred, torch.ones(1, 3))
    with pytest.raises(ValueError, match="target_weight"):
        make()(pred, pred)
