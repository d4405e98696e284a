"""The metric protocol, evaluators that combine metrics, and ``build_evaluator``.

A metric is any object with

- ``dataset_meta``: a dict (``sigmas``, ``num_keypoints``, ``dataset_name``, ...) that the
  evaluator sets before the first batch,
- ``process(preds)``: called once per batch with the model's prediction dicts
  (see ``docs/architecture.md``),
- ``compute() -> dict[str, float]``: gathers what every rank processed, computes, resets
  (the same values on every rank),
- optionally ``prefix``: when it is None the evaluator prefixes the metric's names with the
  dataset name (``coco/AP``), so every name that reaches the logs, MLflow and ``save_best``
  carries its dataset.

:class:`BaseMetric` implements the gathering (to rank 0 only); subclasses write
``process_one`` and ``compute_metrics``. A user metric registered in ``METRICS`` from a module listed in
``custom_imports`` can be named in ``val_evaluator`` like the built-in ones.
"""
from __future__ import annotations

import copy
import warnings
from typing import Any, Sequence

from mlpose.errors import ConfigError
from mlpose.evaluation.names import mlflow_key
from mlpose.registry import DATASETS, METRICS, build
from mlpose.runtime import dist


class BaseMetric:
    """Collects one result per prediction, gathers them on rank 0, computes there.

    Subclasses write ``process_one`` and ``compute_metrics``; a metric that keeps its
    results in another form (e.g. arrays per batch) overrides ``process``, ``pack`` and
    ``unpack`` too.

    Args:
        prefix: names are returned as ``f'{prefix}/{name}'`` when set; when None the
            evaluator adds the dataset name instead.
    """

    def __init__(self, prefix: str | None = None):
        self.prefix = prefix
        self.dataset_meta: dict = {}
        self.results: list = []

    def process_one(self, pred: dict) -> Any:
        """Turn one prediction dict into the (picklable) result kept until ``compute``."""
        raise NotImplementedError

    def compute_metrics(self, results: Any) -> dict[str, float]:
        """Compute the metric values from every rank's results (``unpack``'s output:
        duplicates removed, never empty)."""
        raise NotImplementedError

    def process(self, preds: Sequence[dict]) -> None:
        """Keep the result of each prediction of one batch."""
        self.results.extend(self.process_one(p) for p in preds)

    def pack(self, results: list) -> Any:
        """This rank's results as the (picklable) object sent to rank 0."""
        return results

    def unpack(self, parts: list) -> Any:
        """Every rank's ``pack`` output (rank order) as ``compute_metrics``' input.

        Results that are dicts with an ``id`` are de-duplicated by it: a DistributedSampler
        pads the last batches by repeating samples.
        """
        results, seen = [], set()
        for part in parts:
            for r in part:
                key = r.get("id") if isinstance(r, dict) else None
                if key is not None:
                    if key in seen:
                        continue
                    seen.add(key)
                results.append(r)
        return results

    def compute(self) -> dict[str, float]:
        """Gather all ranks' results on rank 0 (only there: no rank holds another's copy),
        compute there, share the values with every rank, and reset."""
        parts = dist.gather_object(self.pack(self.results))
        self.results = []
        outcome = None
        if dist.is_main():
            try:
                results = self.unpack(parts)
                del parts
                outcome = ("ok", self.compute_metrics(results)) if len(results) else ("empty", None)
            except Exception as exc:
                if dist.is_dist():  # tell the other ranks, or they wait for rank 0 forever
                    dist.broadcast_object(("error", repr(exc)))
                raise
        outcome = dist.broadcast_object(outcome)
        if outcome[0] == "error":
            raise RuntimeError(f"{type(self).__name__}.compute failed on rank 0: {outcome[1]}")
        if outcome[0] == "empty":
            warnings.warn(f"{type(self).__name__}: no predictions were processed; it reports "
                          "no metrics", stacklevel=2)
            return {}
        head = f"{self.prefix}/" if self.prefix else ""
        return {f"{head}{k}": float(v) for k, v in outcome[1].items()}


def _merge(into: dict, new: dict, source: str) -> None:
    for name, value in new.items():
        if name in into:
            raise ConfigError(
                f"evaluator: metric name {name!r} is produced twice (again by {source}); "
                "give one of the metrics a different prefix"
            )
        into[name] = value


def _check_keys(values: dict) -> None:
    keys: dict[str, str] = {}
    for name in values:
        key = mlflow_key(name)
        if key in keys:
            raise ConfigError(
                f"evaluator: metric names {keys[key]!r} and {name!r} map to the same MLflow "
                f"key {key!r}; rename one (e.g. with a prefix)"
            )
        keys[key] = name


def _prefixed(values: dict, metric: Any, dataset_name: str | None) -> dict:
    if getattr(metric, "prefix", None) or not dataset_name:
        return dict(values)
    return {f"{dataset_name}/{k}": v for k, v in values.items()}


@METRICS.register()
class Evaluator:
    """Runs several metrics on the same predictions and merges their results.

    Args:
        metrics: metric objects or their config dicts (built from ``METRICS``).
    """

    # Two metrics of one class and one prefix would report the same names.
    _same_names_check = True

    def __init__(self, metrics: Sequence[Any]):
        if isinstance(metrics, dict) or not isinstance(metrics, Sequence):
            metrics = [metrics]
        where = type(self).__name__
        self.metrics = [
            build(m, METRICS, f"{where}.metrics[{i}]") if isinstance(m, dict) else m
            for i, m in enumerate(metrics)
        ]
        seen: dict[tuple, int] = {}
        for i, m in enumerate(self.metrics if self._same_names_check else []):
            ident = (type(m).__name__, getattr(m, "prefix", None))
            if ident in seen:
                raise ConfigError(
                    f"{where}: metrics[{seen[ident]}] and metrics[{i}] are both "
                    f"{ident[0]} with prefix={ident[1]!r} and would report the same names; "
                    "set a different prefix on one"
                )
            seen[ident] = i
        self._dataset_meta: dict = {}

    @property
    def dataset_meta(self) -> dict:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict) -> None:
        """Give every metric its own copy of the dataset's meta information."""
        self._dataset_meta = meta or {}
        for m in self.metrics:
            m.dataset_meta = copy.deepcopy(self._dataset_meta)

    def process(self, preds: Sequence[dict]) -> None:
        for m in self.metrics:
            m.process(preds)

    def compute(self) -> dict[str, float]:
        """Every metric's results, names prefixed with the dataset name where unprefixed."""
        out: dict[str, float] = {}
        name = self._dataset_meta.get("dataset_name")
        for m in self.metrics:
            _merge(out, _prefixed(m.compute(), m, name), type(m).__name__)
        _check_keys(out)
        return out


def _dataset_meta_of(cfg: dict, index: int) -> tuple[str, dict | None]:
    """(dataset name, meta info or None) of one dataset config of MultiDatasetEvaluator."""
    where = f"MultiDatasetEvaluator.datasets[{index}]"
    if not isinstance(cfg, dict):
        raise ConfigError(f"{where}: expected a dataset config dict, got {cfg!r}")
    source = cfg.get("metainfo")
    default_file = None
    if source is None and isinstance(cfg.get("type"), str):
        try:
            cls = DATASETS.get(cfg["type"], f"{where}.type")
        except ConfigError:
            cls = None  # an unknown type is reported where the dataset itself is built
        # mlpose datasets name their default metainfo file; MMPose ones carry METAINFO.
        default = getattr(cls, "default_metainfo", None) or getattr(cls, "METAINFO", None)
        if isinstance(default, dict):
            source = default
        elif isinstance(default, str):
            default_file = default
    meta = None
    if source is not None or default_file is not None:
        from mlpose.datasets.metainfo import load_metainfo  # lazy: avoid an import cycle

        meta = load_metainfo(source, default_file or "")
    name = cfg.get("dataset_name") or (meta or {}).get("dataset_name")
    if not name:
        raise ConfigError(
            f"{where}: cannot tell which dataset this is; add metainfo=dict(from_file=...) "
            "or dataset_name=... to it"
        )
    if meta is not None:
        meta["dataset_name"] = name
    return name, meta


@METRICS.register()
class MultiDatasetEvaluator(Evaluator):
    """One metric per dataset of a combined validation set, as MMPose's evaluator.

    Each prediction goes to the metric of the dataset it came from (its ``dataset_name``),
    and each metric's names are prefixed with that dataset name (``coco/AP``, ``aic/AP``)
    unless the metric has its own ``prefix``. A metric gets the meta information of its own
    dataset (from the dataset config's ``metainfo``, or its class's default), not that of
    the combined dataset; a dataset config with only ``dataset_name`` gets the combined
    dataset's meta information under its own name.

    Args:
        metrics: one metric (config) per dataset, in the order of ``datasets``.
        datasets: the dataset configs, as in the combined dataset's ``datasets``.
    """

    _same_names_check = False  # the dataset-name prefixes keep them apart

    def __init__(self, metrics: Sequence[Any], datasets: Sequence[dict]):
        for key, value in (("metrics", metrics), ("datasets", datasets)):
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"MultiDatasetEvaluator: {key} must be a list, got {value!r}")
        if len(metrics) != len(datasets):
            raise ConfigError(
                f"MultiDatasetEvaluator: got {len(metrics)} metrics but {len(datasets)} "
                "datasets; list exactly one metric per dataset, in the same order"
            )
        super().__init__(metrics)
        self.names: list[str] = []
        self._own_meta: list[dict | None] = []
        for i, (cfg, metric) in enumerate(zip(datasets, self.metrics)):
            name, meta = _dataset_meta_of(cfg, i)
            if name in self.names:
                raise ConfigError(
                    f"MultiDatasetEvaluator.datasets[{i}]: dataset name {name!r} is used by "
                    f"datasets[{self.names.index(name)}] too; each dataset needs its own name"
                )
            self.names.append(name)
            self._own_meta.append(meta)
            if meta is not None:
                metric.dataset_meta = copy.deepcopy(meta)
        self._unrouted: set[str] = set()

    @Evaluator.dataset_meta.setter
    def dataset_meta(self, meta: dict) -> None:
        """Keep the combined dataset's meta; only metrics without their own get a copy."""
        self._dataset_meta = meta or {}
        for name, own, metric in zip(self.names, self._own_meta, self.metrics):
            if own is None:
                metric.dataset_meta = {**copy.deepcopy(self._dataset_meta), "dataset_name": name}

    def process(self, preds: Sequence[dict]) -> None:
        default = self._dataset_meta.get("dataset_name")
        routed: dict[str, list] = {}
        for p in preds:
            routed.setdefault(p.get("dataset_name") or default, []).append(p)
        for name, group in routed.items():
            if name in self.names:
                self.metrics[self.names.index(name)].process(group)
            elif name not in self._unrouted:
                self._unrouted.add(name)
                warnings.warn(
                    f"MultiDatasetEvaluator: predictions from dataset {name!r} are not "
                    f"evaluated (datasets with a metric: {', '.join(self.names)})",
                    stacklevel=2,
                )

    def compute(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, m in zip(self.names, self.metrics):
            _merge(out, _prefixed(m.compute(), m, name), f"the metric of {name!r}")
        _check_keys(out)
        return out


def build_evaluator(cfg: Any, dataset_meta: dict | None = None,
                    path: str = "val_evaluator") -> Evaluator:
    """Build an evaluator from ``val_evaluator``/``test_evaluator``.

    Args:
        cfg: a metric config dict, a list of them, or an evaluator config dict
            (``type='MultiDatasetEvaluator'`` or ``'Evaluator'``).
        dataset_meta: the evaluated dataset's ``metainfo``; set on the evaluator.
        path: config key used in error messages.

    Returns:
        An :class:`Evaluator` (or subclass) with ``dataset_meta`` set.
    """
    if isinstance(cfg, (list, tuple)):
        if not cfg:
            raise ConfigError(f"{path}: the list of metrics is empty; name at least one")
        evaluator = Evaluator([build(m, METRICS, f"{path}[{i}]") for i, m in enumerate(cfg)])
    elif isinstance(cfg, dict):
        obj = build(cfg, METRICS, path)
        evaluator = obj if isinstance(obj, Evaluator) else Evaluator([obj])
    else:
        raise ConfigError(f"{path}: expected a metric dict, a list of them or an evaluator "
                          f"dict, got {cfg!r}")
    if dataset_meta is not None:
        evaluator.dataset_meta = dataset_meta
    return evaluator
