"""The one registry module: name -> factory tables for mlpose's plug-in points.

Components register themselves with a decorator::

    @MODELS.register()
    class ResNet(nn.Module): ...

and are created from config dicts with :func:`build`::

    build(dict(type='ResNet', depth=18), MODELS, path='model.backbone')

A config may list ``custom_imports = dict(imports=['my_pkg.my_metric'])``; importing
those modules lets them register their own components (see :func:`import_custom`). An MMPose
module that mlpose implements itself (:data:`BUILT_IN_MODULES`) is not imported.
"""
from __future__ import annotations

import copy
import difflib
import importlib
import inspect
import logging
from typing import Any, Callable

from mlpose.errors import ConfigError


class Registry:
    """A named table mapping a ``type`` string to a class or factory function."""

    def __init__(self, name: str):
        self.name = name
        self._table: dict[str, Callable] = {}

    def register(self, name: str | None = None, force: bool = False):
        """Decorator registering a class/function under ``name`` (default: its ``__name__``)."""

        def deco(obj):
            key = name or obj.__name__
            if key in self._table and self._table[key] is not obj and not force:
                raise KeyError(f"{key!r} is already registered in registry '{self.name}'")
            self._table[key] = obj
            return obj

        return deco

    def add(self, obj: Callable, name: str | None = None) -> None:
        """Register an existing object (e.g. a torch optimizer class)."""
        self.register(name, force=True)(obj)

    def __contains__(self, key: str) -> bool:
        return key in self._table

    def resolve(self, key: str) -> str:
        """``key``, or its bare name when ``key`` is ``scope.Name`` with a known scope and a
        registered ``Name``."""
        scope, _, bare = str(key).rpartition(".")
        return bare if key not in self._table and scope in SCOPES and bare in self._table else key

    def names(self) -> list[str]:
        return sorted(self._table)

    def get(self, key: str, path: str = "") -> Callable:
        """Return the factory for ``key`` or raise a ConfigError listing the known types.

        A name in one of OpenMMLab's package scopes (``mmdet.CSPNeXt``,
        ``mmpretrain.VisionTransformer``), as MMPose's config files write them, is the component
        registered under the bare name (:data:`SCOPES`).
        """
        _load_builtins()
        key = self.resolve(key)
        if key not in self._table:
            close = difflib.get_close_matches(str(key), self._table, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            where = f" at {path}" if path else ""
            raise ConfigError(
                f"unknown type {key!r}{where} in registry '{self.name}'.{hint} "
                f"Known types: {', '.join(self.names())}"
            )
        return self._table[key]


#: OpenMMLab package scopes whose ``scope.Name`` types resolve to mlpose's own ``Name``.
SCOPES = ("mmpose", "mmdet", "mmpretrain", "mmcls", "mmengine", "mmcv")
#: MMEngine's per-dict scope key (``dict(_scope_='mmdet', type='CSPNeXt')``): one registry here.
SCOPE_KEY = "_scope_"

MODELS = Registry("models")  # backbones, necks, heads, losses, pose estimators
CODECS = Registry("codecs")
TRANSFORMS = Registry("transforms")
DATASETS = Registry("datasets")
METRICS = Registry("metrics")  # metrics and evaluators
OPTIMIZERS = Registry("optimizers")
SCHEDULERS = Registry("schedulers")
VISBACKENDS = Registry("vis_backends")

ALL = (MODELS, CODECS, TRANSFORMS, DATASETS, METRICS, OPTIMIZERS, SCHEDULERS, VISBACKENDS)

# Modules whose import registers the built-in components.
_BUILTIN_MODULES = (
    "mlpose.codecs",
    "mlpose.models",
    "mlpose.datasets",
    "mlpose.datasets.transforms",
    "mlpose.evaluation",
    "mlpose.engine.optim",
    "mlpose.engine.scheduler",
    "mlpose.visualization.visualizer",
)
_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:  # a package not written yet must not break the rest
            if exc.name != mod:
                raise


#: OpenMMLab modules a config's ``custom_imports`` may name whose components mlpose implements
#: itself: module -> what stands in for it. Such an import is satisfied without importing the
#: module: MMPose need not be installed, and is not imported when it is. Add new entries here.
BUILT_IN_MODULES = {
    "mmpose.engine.optim_wrappers.layer_decay_optim_wrapper":
        "optim_wrapper.constructor='LayerDecayOptimWrapperConstructor' (mlpose.engine.layer_decay)",
}
_reported_built_ins: set[str] = set()


def import_custom(custom_imports: dict | None, source: str = "config") -> None:
    """Import the modules named in ``custom_imports=dict(imports=[...])`` so they register.

    A module of :data:`BUILT_IN_MODULES` is satisfied by mlpose itself (said once per process in
    the log). Another module of an OpenMMLab package (``mmpose.*``, ``mmdet.*``...) is refused:
    its components would register in that package's registries, never in mlpose's. With
    ``allow_failed_imports=True`` a module that fails is a warning instead of an error.

    Raises:
        ConfigError: naming ``source`` and the module that cannot be imported.
    """
    if not custom_imports:
        return
    imports = custom_imports.get("imports", [])
    if isinstance(imports, str):
        imports = [imports]
    log = logging.getLogger("mlpose.registry")
    for name in imports:
        if name in BUILT_IN_MODULES:
            if name not in _reported_built_ins:
                _reported_built_ins.add(name)
                log.info(f"{source}: custom_imports {name!r} is built into mlpose: {BUILT_IN_MODULES[name]}; "
                         "nothing is imported")
            continue
        if name.split(".")[0] in SCOPES:
            problem = (f"custom_imports names {name!r}, an OpenMMLab module mlpose does not implement (its "
                       "components would register in that package, not in mlpose); remove it from custom_imports")
        else:
            try:
                importlib.import_module(name)
                continue
            except ImportError as exc:
                problem = (f"custom_imports cannot import {name!r} ({exc}); "
                           "check the module name and that it is on PYTHONPATH")
        if custom_imports.get("allow_failed_imports"):
            log.warning(f"{source}: {problem} (skipped: allow_failed_imports=True)")
            continue
        raise ConfigError(f"{source}: {problem}") from None


def check_args(factory: Callable, kwargs: dict, path: str) -> None:
    """Raise a ConfigError naming ``path`` when ``kwargs`` do not fit ``factory``'s signature.

    A component whose arguments hold more than a signature can say (``Albumentation``'s list of
    library transforms) also defines ``validate_args(kwargs, path)``, called here after the
    signature check, so config load reports what is wrong inside them too.
    """
    _check_signature(factory, kwargs, path)
    validate = getattr(factory, "validate_args", None)
    if callable(validate):
        validate(kwargs, path)


def _check_signature(factory: Callable, kwargs: dict, path: str) -> None:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = [p for p in sig.parameters if p not in ("self", "args", "kwargs")]
    kwargs = {k: v for k, v in kwargs.items() if k != SCOPE_KEY}
    name = getattr(factory, "__name__", factory)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    unknown = [k for k in kwargs if k not in sig.parameters] if not takes_any else []
    if unknown:
        close = difflib.get_close_matches(unknown[0], params, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{path}: bad arguments for {name}: unexpected {unknown[0]!r}{hint}; "
                          f"accepted: {', '.join(params)}")
    try:
        sig.bind(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{path}: bad arguments for {name} ({exc}); accepted: {', '.join(params)}") from None


def component_args(type_name: Any) -> list[str]:
    """Keyword arguments of the component registered as ``type_name`` (in any registry, or a
    callable ``type``); empty when it is unknown. A key a config leaves at its default is one."""
    factory = type_name if callable(type_name) else None
    if isinstance(type_name, str):
        _load_builtins()
        factory = next((r._table[r.resolve(type_name)] for r in ALL if r.resolve(type_name) in r._table), None)
    try:
        params = inspect.signature(factory).parameters.values() if factory is not None else ()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in ("self", "cls")]


def build(cfg: dict, registry: Registry, path: str = "", **defaults: Any) -> Any:
    """Create an object from ``dict(type=NAME, **kwargs)``.

    Args:
        cfg: the component's config dict; it is not modified.
        registry: the table to look ``type`` up in.
        path: dotted key path of ``cfg`` in the config, used in error messages.
        **defaults: keyword arguments used where ``cfg`` does not set them.
    """
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ConfigError(f"{path or 'config'}: expected a dict with a 'type' key, got {cfg!r}")
    kwargs = copy.deepcopy({k: v for k, v in cfg.items() if k not in ("type", SCOPE_KEY)})
    for k, v in defaults.items():
        kwargs.setdefault(k, v)
    kind = cfg["type"]
    factory = kind if callable(kind) else registry.get(kind, path)
    check_args(factory, kwargs, path)
    try:
        return factory(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {getattr(factory, '__name__', kind)}: {exc}") from exc
