"""An exponential moving average of the model's weights: MMEngine's ``EMAHook``.

``custom_hooks=[dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002,
update_buffers=True, priority=49)]`` (RTMPose's recipe) keeps an averaged copy of the model that
``fit`` updates after every iteration, validates, and saves as the checkpoint's ``model`` weights,
as MMEngine does (``test``, ``infer``, ``export`` and the logged models use the average). The raw
weights travel in the checkpoint's ``ema`` entry, so a killed run resumes exactly.

Semantics are MMEngine's (``BaseAveragedModel.update_parameters``): the first update copies the
weights; then every ``interval``-th update moves each float tensor towards the model's,
``avg += m * (src - avg)``, with ``m = momentum`` (``ExponentialMovingAverage``) or
``m = (1 - momentum) * exp(-(1 + steps) / gamma) + momentum`` (mmdet's ``ExpMomentumEMA``: a
large momentum early, annealed to ``momentum``). Without ``update_buffers`` the buffers (BatchNorm
statistics) are copied, not averaged. Before ``begin_iter``/``begin_epoch`` the copy follows the
model. Everything stays on the device: no host sync.
"""
from __future__ import annotations

import copy
import logging
import math
from typing import Mapping

import torch
from torch import nn

from mlpose.errors import ConfigError
from mlpose.runtime.dist import unwrap_model

logger = logging.getLogger(__name__)

EMA_TYPES = ("ExpMomentumEMA", "ExponentialMovingAverage")


class ModelEMA:
    """The averaged copy of ``model`` (``module``) and how it follows the model.

    Args:
        model: the plain model (on its device, in its final memory format).
        ema_type: ``'ExpMomentumEMA'`` or ``'ExponentialMovingAverage'`` (``mmdet.`` scope allowed).
        momentum: weight of the model's tensors in each update.
        gamma: ``ExpMomentumEMA``'s annealing length in updates.
        interval: average every ``interval``-th update (the others leave the average alone).
        update_buffers: average float buffers too (BatchNorm statistics) instead of copying them.
        begin_iter, begin_epoch: start averaging at this iteration/epoch (not both).
        strict_load, priority: MMEngine's; loading here is always strict, and ``fit`` has one order.
    """

    def __init__(self, model: nn.Module, ema_type: str = "ExponentialMovingAverage", momentum: float = 0.0002,
                 gamma: float = 2000, interval: int = 1, update_buffers: bool = False, begin_iter: int = 0,
                 begin_epoch: int = 0, strict_load: bool = False, priority: int | str | None = None):
        ema_type = ema_type.rpartition(".")[2]
        if ema_type not in EMA_TYPES:
            raise ConfigError(f"custom_hooks EMAHook.ema_type={ema_type!r}: use one of {', '.join(EMA_TYPES)}")
        if not 0 < momentum < 1 or gamma <= 0 or interval < 1 or begin_iter < 0 or begin_epoch < 0:
            raise ConfigError(f"custom_hooks EMAHook: need 0 < momentum < 1, gamma > 0, interval >= 1 and "
                              f"begin_iter/begin_epoch >= 0 (got momentum={momentum}, gamma={gamma}, "
                              f"interval={interval}, begin_iter={begin_iter}, begin_epoch={begin_epoch})")
        if begin_iter and begin_epoch:
            raise ConfigError("custom_hooks EMAHook: set begin_iter or begin_epoch, not both")
        self.exp_momentum = ema_type == "ExpMomentumEMA"
        self.momentum, self.gamma, self.interval = float(momentum), float(gamma), int(interval)
        self.update_buffers, self.begin_iter, self.begin_epoch = bool(update_buffers), begin_iter, begin_epoch
        self.module = copy.deepcopy(unwrap_model(model)).requires_grad_(False).eval()
        self.steps = 0  # updates so far (MMEngine's ``steps``)

    def _pairs(self, model: nn.Module, buffers: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """(average, source) float tensors: parameters and, with ``buffers``, float buffers."""
        source = unwrap_model(model)
        mine, theirs = [p.data for p in self.module.parameters()], [p.data for p in source.parameters()]
        if buffers:
            floats = {i for i, b in enumerate(self.module.buffers()) if b.is_floating_point()}
            mine += [b for i, b in enumerate(self.module.buffers()) if i in floats]
            theirs += [b for i, b in enumerate(source.buffers()) if i in floats]
        return mine, theirs

    def update(self, model: nn.Module, epoch: int, iteration: int) -> None:
        """Follow ``model`` after training iteration ``iteration`` (0-based) of epoch ``epoch``."""
        started = epoch + 1 >= self.begin_epoch if self.begin_epoch else iteration + 1 >= self.begin_iter
        if not started:
            self.copy_from(model)
            return
        averaged, source = self._pairs(model, self.update_buffers)
        if self.steps == 0:
            torch._foreach_copy_(averaged, source)
        elif self.steps % self.interval == 0:
            momentum = self.momentum
            if self.exp_momentum:
                momentum = (1 - self.momentum) * math.exp(-(1 + self.steps) / self.gamma) + self.momentum
            torch._foreach_lerp_(averaged, source, momentum)
        if not self.update_buffers:
            for mine, theirs in zip(self.module.buffers(), unwrap_model(model).buffers()):
                mine.copy_(theirs)
        self.steps += 1

    def copy_from(self, model: nn.Module) -> None:
        """Make the average equal to ``model``'s state (every tensor)."""
        with torch.no_grad():
            for mine, theirs in zip(self.module.state_dict().values(), unwrap_model(model).state_dict().values()):
                mine.copy_(theirs)


class EmaWeights:
    """The checkpoint's ``model`` entry under EMA: the averaged weights (what is evaluated and
    used); loading them also starts the model from them (a file of a run without EMA)."""

    def __init__(self, ema: ModelEMA, model_state):
        self.ema, self.model_state = ema, model_state

    def state_dict(self) -> dict:
        return self.ema.module.state_dict()

    def load_state_dict(self, state: Mapping) -> None:
        self.model_state.load_state_dict(state)  # names what does not fit
        self.ema.copy_from(self.model_state.model)
        self.ema.steps = 0


class EmaState:
    """The checkpoint's ``ema`` entry: the raw (trained) weights and the update count."""

    def __init__(self, model_state, ema: ModelEMA):
        self.model_state, self.ema = model_state, ema

    def state_dict(self) -> dict:
        return {"steps": self.ema.steps, "raw": self.model_state.state_dict()}

    def load_state_dict(self, state: Mapping) -> None:
        self.model_state.load_state_dict(state["raw"])
        self.ema.steps = int(state["steps"])
