"""Learning-rate schedules from MMEngine-style ``param_scheduler`` lists.

``param_scheduler=[dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
dict(type='MultiStepLR', milestones=[170, 200], gamma=0.1, by_epoch=True, begin=0, end=210)]``

Semantics (those of MMEngine's chained schedulers, written as pure functions):

- each scheduler counts steps on its own axis: epochs (``by_epoch=True``, the 0-based index of
  the epoch being trained) or iterations (``by_epoch=False``, the 0-based global index of the
  iteration being trained, counted across epochs);
- it is active for steps in ``[begin, end)``; its local step is ``k = step - begin``. Before
  ``begin`` it leaves the lr alone; after ``end`` its last value holds;
- multiplicative schedulers compose by product, in list order, so iteration warmup and an
  epoch step decay work together; ``CosineAnnealingLR`` anneals whatever lr it receives down
  to ``eta_min``;
- ``convert_to_iter_based=True`` turns an epoch scheduler into an iteration one (``begin``,
  ``end``, ``milestones``, ``T_max`` multiplied by iterations per epoch), so it changes
  smoothly inside epochs.

Because the lr is a pure function of (epoch, iteration), resuming needs no scheduler state.
"""
from __future__ import annotations

import math
import warnings

from mlpose.errors import ConfigError
from mlpose.registry import SCHEDULERS, build

INF = int(1e9)  # MMEngine's "never ends"


class _Scheduler:
    """Base: the activity window on one axis. Subclasses implement :meth:`value`."""

    def __init__(self, begin: int = 0, end: int = INF, by_epoch: bool = True,
                 convert_to_iter_based: bool = False):
        if not (isinstance(begin, int) and isinstance(end, int) and end > begin >= 0):
            raise ValueError(f"need integers 0 <= begin < end, got begin={begin!r}, end={end!r}")
        if convert_to_iter_based and not by_epoch:
            raise ValueError("convert_to_iter_based=True only applies to by_epoch=True schedulers")
        self.begin, self.end = begin, end
        self.by_epoch = by_epoch
        self.convert_to_iter_based = convert_to_iter_based

    def to_iter_based(self, iters_per_epoch: int) -> None:
        """Rescale the epoch-counted settings to iterations (``convert_to_iter_based``)."""
        self.begin *= iters_per_epoch
        if self.end != INF:
            self.end *= iters_per_epoch
        self.by_epoch = False

    def local_step(self, step: int) -> int | None:
        """``k`` for a global ``step`` on this scheduler's axis; None before ``begin``."""
        if step < self.begin:
            return None
        return min(step, self.end - 1) - self.begin

    def value(self, lr: float, k: int, initial_lr: float) -> float:
        """The lr after this scheduler at local step ``k``, given the lr ``lr`` it receives."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Plain-type settings (for ``state_dict``)."""
        return {"type": type(self).__name__, **{k: v for k, v in vars(self).items() if k != "convert_to_iter_based"}}


@SCHEDULERS.register()
class LinearLR(_Scheduler):
    """Factor moving linearly from ``start_factor`` (k=0) to ``end_factor`` (k = end-begin-1)."""

    def __init__(self, start_factor: float = 1.0 / 3, end_factor: float = 1.0, begin: int = 0,
                 end: int = INF, by_epoch: bool = True, convert_to_iter_based: bool = False):
        super().__init__(begin, end, by_epoch, convert_to_iter_based)
        for name, val in (("start_factor", start_factor), ("end_factor", end_factor)):
            if not 0 <= val <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {val!r}")
        self.start_factor, self.end_factor = float(start_factor), float(end_factor)

    def value(self, lr: float, k: int, initial_lr: float) -> float:
        span = self.end - self.begin - 1
        frac = 0.0 if span == 0 else k / span  # a one-step window holds start_factor (as MMEngine)
        return lr * (self.start_factor + (self.end_factor - self.start_factor) * frac)


@SCHEDULERS.register()
class ConstantLR(_Scheduler):
    """Factor ``factor`` for k < end-begin-1, then 1 (the lr is restored at the last active step)."""

    def __init__(self, factor: float = 1.0 / 3, begin: int = 0, end: int = INF, by_epoch: bool = True,
                 convert_to_iter_based: bool = False):
        super().__init__(begin, end, by_epoch, convert_to_iter_based)
        if not 0 <= factor <= 1:
            raise ValueError(f"factor must be in [0, 1], got {factor!r}")
        self.factor = float(factor)

    def value(self, lr: float, k: int, initial_lr: float) -> float:
        span = self.end - self.begin - 1
        return lr * (self.factor if k < span or span == 0 else 1.0)


@SCHEDULERS.register()
class MultiStepLR(_Scheduler):
    """Factor ``gamma ** (number of milestones <= k)``; milestones count from ``begin``."""

    def __init__(self, milestones: list[int], gamma: float = 0.1, begin: int = 0, end: int = INF,
                 by_epoch: bool = True, convert_to_iter_based: bool = False):
        super().__init__(begin, end, by_epoch, convert_to_iter_based)
        if not isinstance(milestones, (list, tuple)) or not all(isinstance(m, int) for m in milestones):
            raise ValueError(f"milestones must be a list of ints, got {milestones!r}")
        self.milestones = sorted(milestones)
        self.gamma = float(gamma)

    def to_iter_based(self, iters_per_epoch: int) -> None:
        super().to_iter_based(iters_per_epoch)
        self.milestones = [m * iters_per_epoch for m in self.milestones]

    def value(self, lr: float, k: int, initial_lr: float) -> float:
        return lr * self.gamma ** sum(1 for m in self.milestones if m <= k)


@SCHEDULERS.register()
class ExponentialLR(_Scheduler):
    """Factor ``gamma ** k`` (per step of its axis; MMEngine keeps ``gamma`` when converting)."""

    def __init__(self, gamma: float, begin: int = 0, end: int = INF, by_epoch: bool = True,
                 convert_to_iter_based: bool = False):
        super().__init__(begin, end, by_epoch, convert_to_iter_based)
        self.gamma = float(gamma)

    def value(self, lr: float, k: int, initial_lr: float) -> float:
        return lr * self.gamma ** k


@SCHEDULERS.register()
class CosineAnnealingLR(_Scheduler):
    """``eta_min + (lr - eta_min) * (1 + cos(pi * k / T_max)) / 2``.

    ``T_max`` defaults to ``end - begin``; ``eta_min_ratio`` (mutually exclusive with
    ``eta_min``) sets ``eta_min = eta_min_ratio * initial_lr`` per param group.
    """

    def __init__(self, T_max: int | None = None, eta_min: float | None = None, begin: int = 0,
                 end: int = INF, by_epoch: bool = True, eta_min_ratio: float | None = None,
                 convert_to_iter_based: bool = False):
        super().__init__(begin, end, by_epoch, convert_to_iter_based)
        if eta_min is not None and eta_min_ratio is not None:
            raise ValueError("set either eta_min or eta_min_ratio, not both")
        if T_max is None:
            if end == INF:
                raise ValueError("needs T_max or a finite end")
            T_max = end - begin
        if not isinstance(T_max, int) or T_max <= 0:
            raise ValueError(f"T_max must be a positive int, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = 0.0 if eta_min is None and eta_min_ratio is None else eta_min
        self.eta_min_ratio = eta_min_ratio

    def to_iter_based(self, iters_per_epoch: int) -> None:
        super().to_iter_based(iters_per_epoch)
        self.T_max *= iters_per_epoch

    def value(self, lr: float, k: int, initial_lr: float) -> float:
        eta = self.eta_min_ratio * initial_lr if self.eta_min_ratio is not None else self.eta_min
        return eta + (lr - eta) * (1 + math.cos(math.pi * k / self.T_max)) / 2


class LRSchedule:
    """The composed schedule of a ``param_scheduler`` list.

    Args:
        param_scheduler_cfgs: a list of scheduler dicts (or one dict, or None for a constant lr).
        iters_per_epoch: training iterations per epoch; needed for ``convert_to_iter_based``.
        path: the config key, for error messages.

    Raises:
        ConfigError: for an unknown type or bad arguments, naming ``param_scheduler[i]``.
    """

    def __init__(self, param_scheduler_cfgs: list[dict] | dict | None, iters_per_epoch: int | None = None,
                 path: str = "param_scheduler"):
        cfgs = param_scheduler_cfgs or []
        if isinstance(cfgs, dict):
            cfgs = [cfgs]
        if not isinstance(cfgs, (list, tuple)):
            raise ConfigError(f"{path}: expected a list of dict(type=...), got {cfgs!r}")
        self.schedulers: list[_Scheduler] = []
        for i, cfg in enumerate(cfgs):
            where = f"{path}[{i}]"
            sched = build(cfg, SCHEDULERS, where)
            if sched.convert_to_iter_based:
                if not isinstance(iters_per_epoch, int) or iters_per_epoch <= 0:
                    raise ConfigError(f"{where}: convert_to_iter_based needs the number of iterations per epoch "
                                      f"(got {iters_per_epoch!r}); is the training set empty?")
                sched.to_iter_based(iters_per_epoch)
            self.schedulers.append(sched)

    def lr_at(self, initial_lr: float, epoch: int, global_iter: int) -> float:
        """The lr of a group starting at ``initial_lr`` while training ``(epoch, global_iter)``.

        Args:
            initial_lr: the group's unscheduled lr.
            epoch: 0-based index of the epoch being trained.
            global_iter: 0-based index of the iteration being trained, counted from the start
                of training (not from the start of the epoch).
        """
        lr = initial_lr
        for sched in self.schedulers:
            k = sched.local_step(epoch if sched.by_epoch else global_iter)
            if k is not None:
                lr = sched.value(lr, k, initial_lr)
        return lr

    def factor(self, epoch: int, global_iter: int) -> float:
        """``lr / initial_lr`` at ``(epoch, global_iter)`` (exact for purely multiplicative
        schedules; with a non-zero cosine ``eta_min`` it is the factor for ``initial_lr=1``)."""
        return self.lr_at(1.0, epoch, global_iter)

    def apply(self, optimizer, epoch: int, global_iter: int) -> dict[str, float]:
        """Set every param group's ``lr`` for training ``(epoch, global_iter)``.

        Call it before each training iteration. Groups without ``initial_lr`` (an optimizer
        not made by :func:`mlpose.engine.optim.build_optimizer`) get it from their current lr.

        Returns:
            ``dict(base_lr=..., lr=...)``: the scheduled optimizer lr (``optimizer.defaults['lr']``,
            the lr of parameters with ``lr_mult=1``) and the first group's lr, as in the log line.
        """
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
            group["lr"] = self.lr_at(group["initial_lr"], epoch, global_iter)
        base = optimizer.defaults.get("lr", optimizer.param_groups[0]["initial_lr"])
        return {"base_lr": self.lr_at(float(base), epoch, global_iter), "lr": optimizer.param_groups[0]["lr"]}

    def state_dict(self) -> dict:
        """The resolved settings of each scheduler (plain types). The schedule is stateless;
        this records what ran so a resume with a different schedule can be noticed."""
        return {"schedulers": [s.describe() for s in self.schedulers]}

    def load_state_dict(self, state: dict) -> None:
        """Check ``state`` against this schedule. The config's schedule always wins; a
        difference only warns (changing the schedule on resume is legitimate)."""
        if not isinstance(state, dict) or "schedulers" not in state:
            raise ConfigError(f"scheduler state: expected dict(schedulers=[...]), got {type(state).__name__}")
        if state["schedulers"] != self.state_dict()["schedulers"]:
            warnings.warn("param_scheduler differs from the checkpoint's; using the config's schedule",
                          stacklevel=2)
