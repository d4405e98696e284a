"""ModelEMA follows MMEngine's EMAHook (ExponentialMovingAverage and mmdet's ExpMomentumEMA)."""
import math

import pytest
import torch
from torch import nn

from mlpose.engine.checkpointer import ModelState
from mlpose.engine.ema import EmaState, EmaWeights, ModelEMA
from mlpose.errors import ConfigError


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def step(model, value):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
        model[1].running_mean.fill_(value)


def test_first_update_copies_then_exp_momentum_anneals():
    model = net()
    ema = ModelEMA(model, ema_type="mmdet.ExpMomentumEMA", momentum=0.0002, gamma=2000)
    step(model, 1.0)
    ema.update(model, 0, 0)  # steps 0: a copy
    assert torch.equal(ema.module[0].weight, model[0].weight) and ema.steps == 1
    step(model, 3.0)
    ema.update(model, 0, 1)  # steps 1: m = (1 - 0.0002) * exp(-2 / 2000) + 0.0002
    m = (1 - 0.0002) * math.exp(-2 / 2000) + 0.0002
    torch.testing.assert_close(ema.module[0].weight, torch.full((4, 3), 1 + 2 * m))
    # without update_buffers the BatchNorm statistics are the model's, not averaged
    assert torch.equal(ema.module[1].running_mean, model[1].running_mean)


def test_plain_ema_interval_and_averaged_buffers():
    model = net()
    ema = ModelEMA(model, momentum=0.5, interval=2, update_buffers=True)
    step(model, 0.0)
    ema.update(model, 0, 0)
    step(model, 4.0)
    ema.update(model, 0, 1)  # steps 1: not on the interval, the average stays
    assert ema.module[0].weight.abs().max() == 0
    ema.update(model, 0, 2)  # steps 2: avg += 0.5 * (4 - 0)
    assert torch.equal(ema.module[0].bias, torch.full((4,), 2.0))
    assert torch.equal(ema.module[1].running_mean, torch.full((4,), 2.0))  # averaged too


def test_before_begin_iter_the_copy_follows_the_model():
    model = net()
    ema = ModelEMA(model, momentum=0.5, begin_iter=3)
    for i, v in enumerate((1.0, 2.0, 3.0)):
        step(model, v)
        ema.update(model, 0, i)
    assert ema.steps == 1 and torch.equal(ema.module[0].weight, model[0].weight)  # i = 2 was the first update


def test_checkpoint_entries_hold_the_average_as_model_and_the_raw_weights():
    model = net()
    ema, weights = ModelEMA(model, momentum=0.5), ModelState(model)
    step(model, 2.0)
    ema.update(model, 0, 0)
    step(model, 4.0)
    ema.update(model, 0, 1)
    saved = {"model": EmaWeights(ema, weights).state_dict(), "ema": EmaState(weights, ema).state_dict()}
    assert torch.equal(saved["model"]["0.weight"], torch.full((4, 3), 3.0))
    assert torch.equal(saved["ema"]["raw"]["0.weight"], torch.full((4, 3), 4.0)) and saved["ema"]["steps"] == 2

    other = net()
    other_ema, other_weights = ModelEMA(other), ModelState(other)
    EmaWeights(other_ema, other_weights).load_state_dict(saved["model"])
    EmaState(other_weights, other_ema).load_state_dict(saved["ema"])
    assert torch.equal(other[0].weight, model[0].weight) and torch.equal(other_ema.module[0].weight, ema.module[0].weight)
    assert other_ema.steps == 2


@pytest.mark.parametrize("kw, match", [(dict(ema_type="SWA"), "ema_type"), (dict(momentum=2), "momentum"),
                                       (dict(begin_iter=1, begin_epoch=1), "not both")])
def test_bad_settings_are_one_line(kw, match):
    with pytest.raises(ConfigError, match=match):
        ModelEMA(net(), **kw)
