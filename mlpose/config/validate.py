"""Load-time validation: section keys and types, registry types and component arguments."""
from __future__ import annotations

import difflib
from typing import Any

from mlpose import registry as R
from mlpose.errors import ConfigError

from . import schema
from .families import check_top_down
from .mmengine_keys import check_runtime_keys
from .ranges import check_ranges


def validate(cfg: dict, source: str) -> None:
    """Raise a ConfigError (naming ``source`` and the key path) for the first problem found.

    Order: a bottom-up config is named as such first; then sections, components (an unknown
    type), and MMEngine's runtime keys (hooks, loops, environment: :mod:`.mmengine_keys`).
    """
    check_top_down(cfg, source)
    R.import_custom(cfg.get("custom_imports"), source)
    for key, types in schema.TOP_LEVEL.items():
        if key in cfg:
            _check_type(cfg[key], types, key, source)
    for section, keys in schema.SECTIONS.items():
        if cfg.get(section) is not None:
            _check_keys(cfg[section], keys, section, source)
    check_ranges(cfg, source)
    for hook, keys in schema.HOOKS.items():
        value = (cfg.get("default_hooks") or {}).get(hook)
        if value is not None:
            _check_keys(value, {"type": str, **keys}, f"default_hooks.{hook}", source)
    interval = (cfg.get("tracking") or {}).get("system_metrics_interval")
    if interval is not None and not interval > 0:
        raise ConfigError(f"{source}: tracking.system_metrics_interval: {interval!r} seconds; use a number "
                          "above 0 (e.g. 10), or tracking.system_metrics=False")
    wrapper = cfg.get("optim_wrapper") or {}
    if wrapper.get("type", "OptimWrapper") not in schema.OPTIM_WRAPPERS:
        raise ConfigError(f"{source}: optim_wrapper.type: unknown {wrapper['type']!r}; use one of {', '.join(schema.OPTIM_WRAPPERS)}")
    if "optimizer" in wrapper:
        _component(wrapper["optimizer"], R.OPTIMIZERS, "optim_wrapper.optimizer", source, params=[])
    if "model" in cfg:
        _model(cfg["model"], "model", source)
    decoder = _corner_aligned(((cfg.get("model") or {}).get("head") or {}).get("decoder"))
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if loader:
            _dataloader(loader, f"{split}_dataloader", source, decoder)
        evaluator = cfg.get(f"{split}_evaluator")
        if evaluator:
            _metrics(evaluator, f"{split}_evaluator", source)
        if f"{split}_pipeline" in cfg:
            _pipeline(cfg[f"{split}_pipeline"], f"{split}_pipeline", source)
    schedulers = cfg.get("param_scheduler") or []
    for i, sched in enumerate([schedulers] if isinstance(schedulers, dict) else schedulers):
        _component(sched, R.SCHEDULERS, f"param_scheduler.{i}", source)
    for i, backend in enumerate((cfg.get("visualizer") or {}).get("vis_backends") or []):
        _component(backend, R.VISBACKENDS, f"visualizer.vis_backends.{i}", source, save_dir="")
    codecs = cfg.get("codec")
    for i, codec in enumerate(codecs if isinstance(codecs, list) else [codecs]):  # MSPN: one codec per stage
        if isinstance(codec, dict):
            _component(codec, R.CODECS, f"codec.{i}" if isinstance(codecs, list) else "codec", source)
    check_runtime_keys(cfg, source)


def _check_type(value: Any, types: Any, path: str, source: str) -> None:
    if types is ... or isinstance(value, types) and not (types is int and isinstance(value, bool)):
        return
    names = " or ".join(t.__name__ if t is not type(None) else "None" for t in (types if isinstance(types, tuple) else (types,)))
    raise ConfigError(f"{source}: {path} must be {names}, got {type(value).__name__} {value!r}")


def _check_keys(section: Any, keys: dict, path: str, source: str) -> None:
    _check_type(section, dict, path, source)
    for key, value in section.items():
        if key not in keys:
            close = difflib.get_close_matches(key, keys, n=3)
            hint = f"; did you mean {', '.join(f'{path}.{c}' for c in close)}?" if close else ""
            raise ConfigError(f"{source}: unknown key {path}.{key}{hint} (known: {', '.join(sorted(keys))})")
        _check_type(value, keys[key], f"{path}.{key}", source)


def _component(cfg: Any, registry: R.Registry, path: str, source: str, **given: Any) -> Any:
    """Check one ``dict(type=...)``: the type exists and its arguments fit (with ``given``
    standing for what the builder passes itself, e.g. an optimizer's ``params``)."""
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ConfigError(f"{source}: {path} must be a dict with a 'type' key, got {cfg!r}")
    if callable(cfg["type"]):
        return cfg["type"]
    try:
        factory = registry.get(cfg["type"], path)
        R.check_args(factory, {**given, **{k: v for k, v in cfg.items() if k != "type"}}, path)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return factory


# model sub-keys that hold plain option dicts, not components (norm_cfg=dict(type='SyncBN') and
# act_cfg=dict(type='SiLU') name layers the component checks itself)
_MODEL_PLAIN = {"init_cfg", "train_cfg", "test_cfg", "metainfo", "final_layer", "paramwise_cfg",
                "norm_cfg", "act_cfg", "conv_cfg"}
_CODEC_KEYS = {"decoder", "encoder", "codec"}


def _model(cfg: dict, path: str, source: str) -> None:
    _component(cfg, R.MODELS, path, source)
    for key, value in cfg.items():
        if isinstance(value, dict) and "type" in value and key not in _MODEL_PLAIN:
            if key in _CODEC_KEYS:
                _component(value, R.CODECS, f"{path}.{key}", source)
            else:
                _model(value, f"{path}.{key}", source)


def _dataloader(cfg: dict, path: str, source: str, decoder: bool | None = None) -> None:
    _check_keys(cfg, schema.DATALOADER, path, source)
    workers = cfg.get("num_workers", "auto")
    if workers != "auto" and (isinstance(workers, (bool, str)) or workers < 0):
        raise ConfigError(f"{source}: {path}.num_workers={workers!r}: use an int >= 0 or 'auto' "
                          "(sized to the cores and the device)")
    sampler = cfg.get("sampler") or {}
    _check_keys(sampler, schema.SAMPLER, f"{path}.sampler", source)
    if sampler.get("type", "DefaultSampler") not in schema.SAMPLERS:
        raise ConfigError(f"{source}: {path}.sampler.type: unknown {sampler['type']!r}; known: {', '.join(schema.SAMPLERS)}")
    if "dataset" in cfg:
        _dataset(cfg["dataset"], f"{path}.dataset", source, decoder)


def _dataset(cfg: dict, path: str, source: str, decoder: bool | None = None) -> None:
    """``decoder``: whether the model's decoder is corner-aligned (None: not known here)."""
    _component(cfg, R.DATASETS, path, source)
    _pipeline(cfg.get("pipeline") or [], f"{path}.pipeline", source, decoder)
    for i, sub in enumerate(cfg.get("datasets") or []):
        _dataset(sub, f"{path}.datasets.{i}", source, decoder)


def _pipeline(steps: list, path: str, source: str, decoder: bool | None = None) -> None:
    for i, step in enumerate(steps):
        _component(step, R.TRANSFORMS, f"{path}.{i}", source)
        if isinstance(step.get("encoder"), dict):
            _component(step["encoder"], R.CODECS, f"{path}.{i}.encoder", source)
    _crop_convention(steps, path, source, decoder)


def _corner_aligned(codec: Any) -> bool | None:
    """Whether a codec config's heatmaps are corner-aligned (UDP); None when it names no codec."""
    if not isinstance(codec, dict) or "type" not in codec:
        return None
    kind = codec["type"]
    return bool(getattr(kind if callable(kind) else R.CODECS.get(kind), "corner_aligned", False))


def _crop_convention(steps: list, path: str, source: str, decoder: bool | None) -> None:
    """UDP codecs need UDP crops (``TopdownAffine(use_udp=True)``) and the others plain ones:
    a mismatch trains and decodes with a silent half-pixel shift."""
    codecs = [("model.head.decoder", decoder),
              *((f"{path} GenerateTarget encoder", _corner_aligned(step.get("encoder"))) for step in steps)]
    for i, step in enumerate(steps):
        if step.get("type") != "TopdownAffine":
            continue
        udp = bool(step.get("use_udp", False))
        for codec_path, corner in codecs:
            if corner is not None and corner != udp:
                raise ConfigError(f"{source}: {path}.{i}.use_udp={udp} does not match {codec_path}, which is "
                                  f"{'' if corner else 'not '}a UDP codec; set use_udp={corner}")


def _metrics(cfg: Any, path: str, source: str) -> None:
    items = cfg if isinstance(cfg, list) else [cfg]
    for i, metric in enumerate(items):
        where = f"{path}.{i}" if isinstance(cfg, list) else path
        _component(metric, R.METRICS, where, source)
        for j, sub in enumerate(metric.get("metrics") or []):
            _metrics(sub, f"{where}.metrics.{j}", source)
        for j, ds in enumerate(metric.get("datasets") or []):
            _dataset(ds, f"{where}.datasets.{j}", source)
        if isinstance(metric.get("gt_converter"), dict):
            _component(metric["gt_converter"], R.TRANSFORMS, f"{where}.gt_converter", source)
