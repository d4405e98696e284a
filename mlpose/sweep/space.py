"""The search of a sweep, read from the config's ``sweep`` section.

    sweep = dict(
        metric='coco/AP', direction='maximize',
        params={
            'optim_wrapper.optimizer.lr': dict(type='float', low=1e-4, high=1e-2, log=True),
            'randomness.seed': dict(type='categorical', choices=[0, 1, 2]),
        },
        sampler='tpe',        # 'tpe' | 'random' | 'grid', or dict(type='tpe', seed=0, ...)
        pruner='median',      # 'median' | 'successive_halving' | 'hyperband' | 'percentile' |
                              # 'threshold' | 'none', or dict(type='median', n_warmup_steps=2, ...)
        n_trials=8)

Each ``params`` key is a config key path; a trial sets it like ``--cfg-options key=value``.
Distributions: ``float`` and ``int`` (``low``, ``high``, optional ``log``/``step``, optional
``values`` = the grid points) and ``categorical`` (``choices``). The grid sampler runs every
combination of grid points exactly once; a float range without ``values`` cannot be gridded.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from mlpose.config import load_config, parse_value
from mlpose.errors import ConfigError

SAMPLERS = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
            "grid": optuna.samplers.GridSampler}
PRUNERS = {"median": optuna.pruners.MedianPruner, "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
           "hyperband": optuna.pruners.HyperbandPruner, "percentile": optuna.pruners.PercentilePruner,
           "threshold": optuna.pruners.ThresholdPruner, "none": optuna.pruners.NopPruner}
DIRECTIONS = ("maximize", "minimize")
_KEYS = {"float": {"type", "low", "high", "log", "step", "values"},
         "int": {"type", "low", "high", "log", "step", "values"},
         "categorical": {"type", "choices"}}
MAX_INT_GRID = 1000  # an int range larger than this is not enumerated as a grid


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched config key.

    Attributes:
        key: config key path, e.g. ``'optim_wrapper.optimizer.lr'``; also the Optuna param name.
        distribution: what TPE/random sample from.
        grid: the grid points, or None when the range cannot be gridded.
    """

    key: str
    distribution: BaseDistribution
    grid: tuple | None

    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask ``trial`` for this parameter's value (fixed for grid/enqueued/retried trials)."""
        d = self.distribution
        if isinstance(d, FloatDistribution):
            return trial.suggest_float(self.key, d.low, d.high, log=d.log, step=d.step)
        if isinstance(d, IntDistribution):
            return trial.suggest_int(self.key, d.low, d.high, log=d.log, step=d.step)
        return trial.suggest_categorical(self.key, d.choices)

    def describe(self) -> str:
        """One line for the parent run, e.g. ``float[0.0001, 0.01] log grid=[0.001, 0.003]``."""
        d = self.distribution
        if isinstance(d, CategoricalDistribution):
            text = f"categorical{json.dumps(list(d.choices))}"
        else:
            kind = "float" if isinstance(d, FloatDistribution) else "int"
            text = f"{kind}[{d.low!r}, {d.high!r}]" + (" log" if d.log else "") + (f" step={d.step!r}" if d.step else "")
        if self.grid is not None and not isinstance(d, CategoricalDistribution):
            text += f" grid={json.dumps(list(self.grid))}"
        return text


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """The parsed ``sweep`` section (defaults filled in, every value checked)."""

    metric: str
    direction: str
    params: tuple[Param, ...]
    sampler: dict
    pruner: dict
    n_trials: int
    storage: str | None
    study_name: str | None
    max_epochs: int | None
    heartbeat_interval: int
    grace_period: int
    timeout: float | None

    @property
    def grid_size(self) -> int | None:
        """Number of grid points when the sampler is the grid, else None."""
        if self.sampler["type"] != "grid":
            return None
        return math.prod(len(p.grid) for p in self.params)

    def grid_space(self) -> dict[str, list]:
        """``{key: grid points}`` for Optuna's GridSampler."""
        return {p.key: list(p.grid) for p in self.params}

    def build_sampler(self, worker: int = 0) -> optuna.samplers.BaseSampler:
        """A new sampler; a given ``seed`` is offset by ``worker`` so local workers differ."""
        kwargs = {k: v for k, v in self.sampler.items() if k != "type"}
        if kwargs.get("seed") is not None:
            kwargs["seed"] = int(kwargs["seed"]) + worker
        if self.sampler["type"] == "grid":
            kwargs["search_space"] = self.grid_space()
        return _construct(SAMPLERS[self.sampler["type"]], kwargs, "sweep.sampler")

    def build_pruner(self) -> optuna.pruners.BasePruner:
        kwargs = {k: v for k, v in self.pruner.items() if k != "type"}
        return _construct(PRUNERS[self.pruner["type"]], kwargs, "sweep.pruner")

    def trial_options(self, values: dict[str, Any]) -> list[str]:
        """``--cfg-options`` for one trial: its sampled values, plus ``sweep.max_epochs``."""
        options = [f"{key}={option_text(value)}" for key, value in values.items()]
        if self.max_epochs is not None:
            options.append(f"train_cfg.max_epochs={self.max_epochs}")
        return options

    def describe(self) -> dict[str, str]:
        """The search as flat strings (parent-run params)."""
        out = {"sweep.metric": self.metric, "sweep.direction": self.direction,
               "sweep.sampler": json.dumps(self.sampler), "sweep.pruner": json.dumps(self.pruner),
               "sweep.max_epochs": str(self.max_epochs)}
        out.update({f"sweep.space.{p.key}": p.describe() for p in self.params})
        return out


def option_text(value: Any) -> str:
    """``value`` spelled for ``--cfg-options``; raises when it would not read back as itself."""
    if value is None:
        text = "None"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    back = parse_value(text)
    if type(back) is not type(value) or back != value:
        raise ConfigError(f"sweep.params: value {value!r} cannot be given as --cfg-options (it reads back as "
                          f"{back!r}); use numbers, true/false, None or plain strings without commas/brackets")
    return text


def parse_sweep(cfg: dict, source: str, n_trials: int | None = None, storage: str | None = None,
                study_name: str | None = None) -> SweepSpec:
    """Read and check ``cfg.sweep``; the arguments (CLI flags) override the config's values.

    Raises:
        ConfigError: no ``sweep`` section, an unknown distribution/sampler/pruner or argument,
            a grid that cannot be enumerated, or a non-positive count.
    """
    sweep = cfg.get("sweep")
    if not sweep:
        raise ConfigError(f"{source}: no `sweep` section; add sweep = dict(metric='coco/AP', "
                          "params={'optim_wrapper.optimizer.lr': dict(type='float', low=1e-4, high=1e-2, log=True)}) "
                          "(see docs/sweeps.md)")
    params = sweep.get("params") or {}
    if not isinstance(params, dict) or not params:
        raise ConfigError(f"{source}: sweep.params must map config key paths to distributions, e.g. "
                          "{'optim_wrapper.optimizer.lr': dict(type='float', low=1e-4, high=1e-2, log=True)}")
    direction = sweep.get("direction", "maximize")
    if direction not in DIRECTIONS:
        raise ConfigError(f"{source}: sweep.direction={direction!r}; use 'maximize' or 'minimize'")
    sampler = _component_spec(sweep.get("sampler", "tpe"), SAMPLERS, "sweep.sampler", source)
    pruner = _component_spec(sweep.get("pruner", "median") or "none", PRUNERS, "sweep.pruner", source)
    parsed = tuple(_param(key, spec, f"{source}: sweep.params.{key}") for key, spec in params.items())
    if sampler["type"] == "grid":
        for p in parsed:
            if p.grid is None:
                raise ConfigError(f"{source}: sweep.params.{p.key}: the grid sampler needs explicit grid points; "
                                  f"give values=[...] (e.g. dict(type='float', values=[1e-3, 3e-3])) or use "
                                  "sampler='tpe'/'random'")
    counts = {"n_trials": n_trials if n_trials is not None else sweep.get("n_trials", 8),
              "heartbeat_interval": sweep.get("heartbeat_interval", 30), "grace_period": sweep.get("grace_period", 120)}
    for name, value in counts.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{source}: sweep.{name}={value!r}; expected a whole number >= 1")
    if counts["grace_period"] <= counts["heartbeat_interval"]:
        raise ConfigError(f"{source}: sweep.grace_period={counts['grace_period']} must exceed "
                          f"sweep.heartbeat_interval={counts['heartbeat_interval']} (2x or more is safe)")
    max_epochs = sweep.get("max_epochs")
    if max_epochs is not None and max_epochs < 1:
        raise ConfigError(f"{source}: sweep.max_epochs={max_epochs!r}; expected >= 1 or None")
    return SweepSpec(
        metric=str(sweep.get("metric", "coco/AP")), direction=direction, params=parsed, sampler=sampler,
        pruner=pruner, storage=storage or sweep.get("storage"), study_name=study_name or sweep.get("study_name"),
        max_epochs=max_epochs, timeout=sweep.get("timeout"), **counts)


def check_against_config(spec: SweepSpec, config: str, cfg_options: list[str]) -> None:
    """Load ``config`` with one point of the search applied, so a key path that does not exist
    or a value of the wrong type fails now, with the config loader's own message."""
    point = {p.key: _example(p) for p in spec.params}
    try:
        load_config(config, [*cfg_options, *spec.trial_options(point)])
    except ConfigError as exc:
        raise ConfigError(f"sweep.params: {exc}") from None


def _example(p: Param) -> Any:
    if p.grid is not None:
        return p.grid[0]
    d = p.distribution
    return d.choices[0] if isinstance(d, CategoricalDistribution) else d.low


def _param(key: str, spec: Any, where: str) -> Param:
    if not isinstance(spec, dict) or spec.get("type") not in _KEYS:
        raise ConfigError(f"{where}: expected dict(type='float'|'int'|'categorical', ...), got {spec!r}")
    kind = spec["type"]
    unknown = set(spec) - _KEYS[kind]
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} for type {kind!r} "
                          f"(known: {', '.join(sorted(_KEYS[kind]))})")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, (list, tuple)) or not choices:
            raise ConfigError(f"{where}: categorical needs a non-empty choices=[...] list")
        for choice in choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise ConfigError(f"{where}: choice {choice!r} must be None, bool, int, float or str")
            option_text(choice)
        return Param(key, CategoricalDistribution(tuple(choices)), tuple(choices))

    number = float if kind == "float" else int
    values = spec.get("values")
    if values is not None:
        if not isinstance(values, (list, tuple)) or not values:
            raise ConfigError(f"{where}: values must be a non-empty list of grid points")
        values = tuple(_number(v, number, f"{where}.values") for v in values)
        if len(set(values)) != len(values):
            raise ConfigError(f"{where}: values {list(values)} repeat a point; list each grid point once")
    low = spec.get("low", min(values) if values else None)
    high = spec.get("high", max(values) if values else None)
    if low is None or high is None:
        raise ConfigError(f"{where}: {kind} needs low= and high= (or values=[...])")
    low, high = _number(low, number, f"{where}.low"), _number(high, number, f"{where}.high")
    log, step = bool(spec.get("log", False)), spec.get("step")
    if step is not None:
        step = _number(step, number, f"{where}.step")
    try:
        dist_cls = FloatDistribution if kind == "float" else IntDistribution
        dist = dist_cls(low, high, log=log, step=step) if kind == "float" else dist_cls(low, high, log=log, step=step or 1)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if values is not None:
        outside = [v for v in values if not low <= v <= high]
        if outside:
            raise ConfigError(f"{where}: values {outside} lie outside [low={low!r}, high={high!r}]")
        return Param(key, dist, values)
    if kind == "int" and not log and (high - low) // dist.step + 1 <= MAX_INT_GRID:
        return Param(key, dist, tuple(range(low, high + 1, dist.step)))
    return Param(key, dist, None)


def _number(value: Any, number: type, where: str) -> Any:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number is int:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite {number.__name__}, got {value!r}")
    return number(value)


def _component_spec(value: Any, table: dict, where: str, source: str) -> dict:
    spec = {"type": value} if isinstance(value, str) else dict(value) if isinstance(value, dict) else None
    if spec is None or spec.get("type") not in table:
        got = spec.get("type") if spec else value
        raise ConfigError(f"{source}: {where}: unknown {got!r}; use one of {', '.join(table)} "
                          "(a name, or dict(type=NAME, **arguments))")
    return spec


def _construct(cls: type, kwargs: dict, where: str) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc} (arguments given: {', '.join(kwargs) or 'none'})") from None


def grid_points(spec: SweepSpec) -> list[dict[str, Any]]:
    """Every grid combination as ``{key: value}`` (for tests and docs), in grid order."""
    keys = [p.key for p in spec.params]
    return [dict(zip(keys, combo)) for combo in itertools.product(*(p.grid for p in spec.params))]
