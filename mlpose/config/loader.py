"""Reading config files with MMEngine semantics: ``_base_``, ``_delete_`` and base references.

A config file is Python (plain assignments and ``dict(...)``), YAML or JSON. In Python files,
``_base_ = 'a.py'`` or ``_base_ = ['a.py', 'b.py']`` (paths relative to the file) names the
configs to inherit; the file's own variables are merged into them recursively, and a dict with
``_delete_=True`` replaces the inherited dict instead of merging. Inherited values can be read
in the file as ``_base_.model.backbone`` (or MMEngine's ``{{_base_.model.backbone}}``). A base
named ``mmpose::PATH`` is that file of the installed MMPose's configs (:mod:`.packages`).

MMEngine's other format, pure Python (``with read_base(): from .x import *`` and classes as
``type=``), is refused with one line: it runs imports of MMEngine and MMPose by design.
"""
from __future__ import annotations

import ast
import copy
import json
import re
import types
from pathlib import Path
from typing import Any

from mlpose.errors import ConfigError

from .configdict import _wrap
from .families import BOTTOM_UP_MODELS, not_top_down
from .packages import is_scoped, scoped_config

SUFFIXES = (".py", ".yaml", ".yml", ".json")
_BASE_REF = re.compile(r"\{\{\s*(_base_(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])+)\s*\}\}")


class BaseView:
    """Read-only view of the merged base config exposed as ``_base_`` inside a config file.

    Every access returns a deep copy, so a child file can never mutate what it inherits.
    """

    def __init__(self, data: dict, filename: str):
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_filename", filename)

    def __getattr__(self, name: str) -> Any:
        data = object.__getattribute__(self, "_data")
        if name not in data:
            raise ConfigError(
                f"{self._filename}: _base_.{name} is not defined by the base configs "
                f"(they define: {', '.join(sorted(data))})"
            )
        return _wrap(copy.deepcopy(data[name]))

    __getitem__ = __getattr__

    def __setattr__(self, name: str, value: Any) -> None:
        raise ConfigError(f"{self._filename}: _base_ is read-only; assign {name} at top level instead")


def merge(base: dict, child: dict) -> dict:
    """Merge ``child`` into a copy of ``base`` (recursively, MMEngine rules).

    Dicts merge key by key; any other value (lists included) replaces the base value; a child
    dict holding ``_delete_=True`` replaces the base dict wholesale.
    """
    out = copy.deepcopy(dict(base))
    for key, value in child.items():
        if isinstance(value, dict):
            value = dict(value)
            delete = value.pop("_delete_", False)
            if not delete and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = strip_delete(value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def strip_delete(value: Any) -> Any:
    """Remove stray ``_delete_`` markers from a value that had nothing to replace."""
    if isinstance(value, dict):
        return {k: strip_delete(v) for k, v in value.items() if k != "_delete_"}
    if isinstance(value, list):
        return [strip_delete(v) for v in value]
    return value


def read_file(path: Path, _chain: tuple[Path, ...] = ()) -> dict:
    """Read one config file and everything it inherits; returns plain nested dicts."""
    path = path.resolve()
    if path in _chain:
        loop = " -> ".join(str(p) for p in (*_chain, path))
        raise ConfigError(f"{path}: _base_ inheritance loop: {loop}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.suffix not in SUFFIXES:
        raise ConfigError(f"{path}: unsupported config format {path.suffix!r}; use one of {', '.join(SUFFIXES)}")
    text = path.read_text()
    if path.suffix == ".py":
        tree, base_files = _parse_python(text, path)
    else:
        data = _parse_data(text, path)
        base_files = data.pop("_base_", [])
    if isinstance(base_files, str):
        base_files = [base_files]
    merged: dict = {}
    for base in base_files:
        base_path = scoped_config(base, path) if is_scoped(base) else (path.parent / base).resolve()
        if not base_path.is_file():
            raise ConfigError(f"{path}: _base_ file {base!r} not found (looked at {base_path})")
        merged = _merge_sibling_bases(merged, read_file(base_path, (*_chain, path)), path, base)
    if path.suffix == ".py":
        data = _exec_python(tree, path, merged)
    return merge(merged, data)


def read_text(text: str, source: str) -> dict:
    """Read Python config text that inherits nothing (``source`` names it in errors)."""
    tree, base_files = _parse_python(text, Path(source))
    if base_files:
        raise ConfigError(f"{source}: _base_ is not allowed in config text; resolve the config first")
    return _exec_python(tree, Path(source), {})


def _merge_sibling_bases(merged: dict, new: dict, path: Path, base: str) -> dict:
    # MMEngine refuses the same top-level key in two sibling bases: the order would silently matter.
    clash = sorted(set(merged) & set(new))
    if clash:
        raise ConfigError(f"{path}: base {base!r} redefines {', '.join(clash)} already set by an earlier base")
    return {**merged, **new}


def _parse_python(text: str, path: Path) -> tuple[ast.Module, list[str]]:
    text = _BASE_REF.sub(lambda m: m.group(1), text)
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None
    _refuse_pure_python(tree, path)
    base_files: list[str] = []
    body = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == "_base_" for t in targets):
            try:
                base_files = ast.literal_eval(node.value)
            except ValueError:
                raise ConfigError(f"{path}:{node.lineno}: _base_ must be a string or a list of strings") from None
            continue  # the name _base_ is bound to the merged bases instead
        body.append(node)
    tree.body = body
    return tree, base_files


def _refuse_pure_python(tree: ast.Module, path: Path) -> None:
    """MMEngine's pure-Python format (``with read_base():`` bases, imported classes as types)."""
    uses = [node for node in tree.body if isinstance(node, ast.With) and any(
        isinstance(item.context_expr, ast.Call) and _called_name(item.context_expr) == "read_base"
        for item in node.items)]
    if not uses:
        return
    for node in ast.walk(tree):  # say the one thing that matters first: a bottom-up model
        if isinstance(node, ast.alias) and node.name in BOTTOM_UP_MODELS:
            raise not_top_down(f"{path}:{node.lineno}", f"importing {node.name}")
    raise ConfigError(f"{path}:{uses[0].lineno}: MMEngine's pure-Python config format (with read_base(), classes "
                      "as types) is not supported; write the config in the dict format (_base_ = [...], "
                      "type='Name'), as MMPose's other config files are")


def _called_name(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _exec_python(tree: ast.Module, path: Path, bases: dict) -> dict:
    namespace: dict[str, Any] = {"__file__": str(path), "_base_": BaseView(bases, str(path))}
    try:
        exec(compile(tree, str(path), "exec"), namespace)
    except ConfigError:
        raise
    except Exception as exc:  # any error in user code: name the file and line
        line = _error_line(exc, path)
        raise ConfigError(f"{path}:{line}: {type(exc).__name__}: {exc}") from None
    return {
        k: v
        for k, v in namespace.items()
        if not k.startswith("__")
        and k != "_base_"
        and not isinstance(v, (types.ModuleType, types.FunctionType, type, BaseView))
    }


def _error_line(exc: BaseException, path: Path) -> str:
    tb = exc.__traceback__
    line = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line


def _parse_data(text: str, path: Path) -> dict:
    import yaml

    try:
        data = json.loads(text) if path.suffix == ".json" else (yaml.safe_load(text) or {})
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}: cannot parse json config: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: cannot parse yaml config: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping at top level")
    return data
