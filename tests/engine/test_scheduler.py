import io
import math

import pytest
import torch
from torch import nn

from mlpose.engine.optim import build_optimizer
from mlpose.engine.scheduler import LRSchedule
from mlpose.errors import ConfigError
from mlpose.registry import SCHEDULERS

# MMPose's default schedule for td-hm_res50_8xb64-210e_coco-256x192.
MMPOSE_DEFAULT = [
    dict(type="LinearLR", begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type="MultiStepLR", begin=0, end=210, milestones=[170, 200], gamma=0.1, by_epoch=True),
]


def test_registered():
    assert {"LinearLR", "MultiStepLR", "CosineAnnealingLR", "ConstantLR", "ExponentialLR"} <= set(SCHEDULERS.names())


def test_mmpose_default_warmup_and_milestones():
    s = LRSchedule(MMPOSE_DEFAULT)
    lr = 5e-4
    assert s.lr_at(lr, 0, 0) == pytest.approx(5e-7)
    assert s.lr_at(lr, 0, 250) == pytest.approx(lr * (0.001 + 0.999 * 250 / 499))
    assert s.lr_at(lr, 1, 499) == pytest.approx(lr)  # warmup reaches 1.0 at its last step
    assert s.lr_at(lr, 3, 5000) == pytest.approx(lr)
    assert s.lr_at(lr, 169, 10**6) == pytest.approx(lr)
    assert s.lr_at(lr, 170, 10**6) == pytest.approx(5e-5)
    assert s.lr_at(lr, 199, 10**6) == pytest.approx(5e-5)
    assert s.lr_at(lr, 200, 10**6) == pytest.approx(5e-6)
    assert s.lr_at(lr, 260, 10**6) == pytest.approx(5e-6)  # past end: last value holds
    # iteration warmup and epoch decay compose: warmup still running in a decayed epoch
    assert s.lr_at(lr, 170, 0) == pytest.approx(5e-5 * 0.001)


def test_cosine_endpoints_and_eta_min_ratio():
    s = LRSchedule([dict(type="CosineAnnealingLR", begin=0, end=10, eta_min=1e-6, by_epoch=True)])
    b, eta = 1e-3, 1e-6
    assert s.lr_at(b, 0, 0) == pytest.approx(b)
    assert s.lr_at(b, 5, 0) == pytest.approx((b + eta) / 2)
    last = eta + (b - eta) * (1 + math.cos(math.pi * 9 / 10)) / 2
    assert s.lr_at(b, 9, 0) == pytest.approx(last)
    assert s.lr_at(b, 15, 0) == pytest.approx(last)
    r = LRSchedule([dict(type="CosineAnnealingLR", T_max=4, eta_min_ratio=0.1, end=100)])
    assert r.lr_at(2e-3, 4, 0) == pytest.approx(2e-4)
    assert r.lr_at(1e-3, 4, 0) == pytest.approx(1e-4)  # eta_min scales with each group's lr


def test_constant_exponential_and_begin_offset():
    c = LRSchedule([dict(type="ConstantLR", factor=0.5, end=4)])
    assert [c.factor(e, 0) for e in range(6)] == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0]
    x = LRSchedule([dict(type="ExponentialLR", gamma=0.9, end=5)])
    assert x.factor(3, 0) == pytest.approx(0.729)
    assert x.factor(10, 0) == pytest.approx(0.9**4)
    m = LRSchedule([dict(type="MultiStepLR", milestones=[2], begin=5, gamma=0.5)])
    assert [m.factor(e, 0) for e in (0, 5, 6, 7, 30)] == [1.0, 1.0, 1.0, 0.5, 0.5]
    lin = LRSchedule([dict(type="LinearLR", start_factor=0.5, begin=10, end=15, by_epoch=False)])
    assert [lin.factor(0, i) for i in (0, 9, 10, 12, 14, 99)] == pytest.approx([1, 1, 0.5, 0.75, 1, 1])


def test_convert_to_iter_based():
    s = LRSchedule([dict(type="CosineAnnealingLR", T_max=5, end=5, by_epoch=True, convert_to_iter_based=True),
                    dict(type="MultiStepLR", milestones=[1], by_epoch=True, convert_to_iter_based=True)],
                   iters_per_epoch=10)
    assert s.factor(0, 25) == pytest.approx((1 + math.cos(math.pi * 25 / 50)) / 2 * 0.1)
    assert s.factor(0, 9) == pytest.approx((1 + math.cos(math.pi * 9 / 50)) / 2)  # milestone at iter 10
    with pytest.raises(ConfigError, match="iterations per epoch"):
        LRSchedule([dict(type="MultiStepLR", milestones=[1], convert_to_iter_based=True)])


def test_matches_torch_chained_schedulers():
    """Warmup + cosine stepping every iteration equals torch's recursive (chained) schedulers."""
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.01, total_iters=49)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=200)
    ours = LRSchedule([dict(type="LinearLR", start_factor=0.01, end=50, by_epoch=False),
                       dict(type="CosineAnnealingLR", T_max=200, end=200, by_epoch=False)])
    for it in range(200):
        assert ours.lr_at(0.1, 0, it) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-15), it
        opt.step()
        warm.step()
        cos.step()


def test_apply_sets_each_group_and_reports_base_lr():
    model = nn.Sequential()
    model.backbone = nn.Linear(2, 2)
    model.head = nn.Linear(2, 2)
    opt = build_optimizer(model, dict(optimizer=dict(type="Adam", lr=1e-3),
                                      paramwise_cfg=dict(custom_keys={"backbone": dict(lr_mult=0.1)})))
    s = LRSchedule(MMPOSE_DEFAULT)
    out = s.apply(opt, 170, 1000)
    lrs = sorted(g["lr"] for g in opt.param_groups)
    assert lrs == pytest.approx([1e-5, 1e-4])
    assert out["base_lr"] == pytest.approx(1e-4)
    assert out["lr"] == opt.param_groups[0]["lr"]
    s.apply(opt, 0, 0)  # going back in time is fine: nothing accumulates
    assert sorted(g["lr"] for g in opt.param_groups) == pytest.approx([1e-7, 1e-6])


def test_state_dict_plain_and_mismatch_warns():
    s = LRSchedule(MMPOSE_DEFAULT)
    buf = io.BytesIO()
    torch.save(s.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    s.load_state_dict(state)  # same schedule: silent
    other = LRSchedule([dict(type="ConstantLR", factor=0.5, end=3)])
    with pytest.warns(UserWarning, match="differs"):
        other.load_state_dict(state)


@pytest.mark.parametrize("cfg, match", [
    ([dict(type="StepLRR", step_size=1)], r"unknown type .*param_scheduler\[0\]"),
    ([dict(type="LinearLR", begin=5, end=5)], r"param_scheduler\[0\].*begin < end"),
    ([dict(type="LinearLR", start_factor=2.0)], "start_factor"),
    ([dict(type="CosineAnnealingLR")], "T_max"),
    ([dict(type="MultiStepLR", milestones=[1], foo=1)], "bad arguments"),
])
def test_bad_configs(cfg, match):
    with pytest.raises(ConfigError, match=match):
        LRSchedule(cfg, iters_per_epoch=10)
