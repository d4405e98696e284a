"""Declarative configs: MMEngine-style files, ``--cfg-options`` overrides, checked at load.

    cfg = load_config('res50', ['optim_wrapper.optimizer.lr=1e-3'])
    cfg.train_cfg.max_epochs, cfg.filename, cfg.name
"""
from __future__ import annotations

import json
import pprint
from pathlib import Path

from mlpose.errors import ConfigError

from .configdict import ConfigDict, unwrap
from .loader import SUFFIXES, read_file, read_text
from .options import apply_options, flat_keys, parse_options, parse_value, split_options
from .typos import check_typos
from .validate import validate

__all__ = [
    "Config", "ConfigDict", "ConfigError", "load_config", "config_from_text", "resolve_config_path", "dump_config",
    "config_text", "parse_options", "parse_value", "split_options", "apply_options", "flat_keys", "experiments_dirs",
]


class Config(ConfigDict):
    """A loaded config: a ConfigDict plus where it came from (``filename``, ``name``)."""

    filename: str
    name: str

    def __init__(self, data: dict | None = None, filename: str = "", name: str = ""):
        super().__init__(data or {})
        object.__setattr__(self, "filename", filename)
        object.__setattr__(self, "name", name or Path(filename).stem)

    def __deepcopy__(self, memo: dict) -> "Config":
        return Config(ConfigDict.__deepcopy__(self, memo), self.filename, self.name)

    def __reduce__(self):
        return (Config, (self.to_dict(), self.filename, self.name))


def experiments_dirs() -> list[Path]:
    """Where short config names are looked up: ./experiments, then the repository's."""
    repo = Path(__file__).resolve().parents[2] / "experiments"
    local = Path.cwd() / "experiments"
    return [local] if local.resolve() == repo.resolve() else [local, repo]


def resolve_config_path(name: str | Path) -> Path:
    """A path as given, or a short name such as ``res50`` -> ``experiments/res50.py``."""
    path = Path(name)
    if path.is_file():
        return path
    if path.suffix not in SUFFIXES:
        for folder in experiments_dirs():
            for suffix in SUFFIXES:
                candidate = folder / f"{name}{suffix}"
                if candidate.is_file():
                    return candidate
    known = sorted({p.stem for d in experiments_dirs() if d.is_dir() for p in d.glob("*.py")})
    raise ConfigError(
        f"config {str(name)!r} not found: not a file and not a name in experiments/ "
        f"(known names: {', '.join(known) or 'none'})"
    )


def load_config(name: str | Path, cfg_options: list[str] | dict | None = None, check: bool = True,
                strict: bool | None = None) -> Config:
    """Read a config by path or short name, apply ``--cfg-options``, validate it.

    Args:
        name: a file path (.py/.yaml/.yml/.json) or a short name from ``experiments/``.
        cfg_options: ``['key=value', ...]`` as given on the command line, or a parsed dict.
        check: validate sections, registry types and component arguments.
        strict: a top-level name that looks like a misspelt section (``trian_cfg``) is an error,
            not a warning; None follows the config's ``strict_config``.
    """
    path = resolve_config_path(name)
    cfg = Config(read_file(path), str(path.resolve()), path.stem)
    if cfg_options:
        options = parse_options(cfg_options) if isinstance(cfg_options, (list, tuple)) else cfg_options
        apply_options(cfg, options, str(path))
    if check:
        check_typos(cfg, str(path), strict)
        validate(cfg, str(path))
    return cfg


def config_from_text(text: str, name: str, cfg_options: list[str] | dict | None = None,
                     source: str | None = None, keys: tuple[str, ...] | None = None) -> Config:
    """A resolved config from the Python text :func:`config_text` writes (e.g. the ``config``
    entry a checkpoint carries), with ``--cfg-options`` applied, validated like a file.

    Args:
        text: Python config text without ``_base_``.
        name: the config's name (``cfg.name``).
        source: what error messages call the text (default ``'<name> config'``).
        keys: keep only these top-level keys (what a use of the config needs), so sections of
            other mlpose versions it does not need cannot fail it.
    """
    where = source or f"{name} config"
    data = read_text(text, where)
    cfg = Config({k: v for k, v in data.items() if keys is None or k in keys}, where, name)
    if cfg_options:
        options = parse_options(cfg_options) if isinstance(cfg_options, (list, tuple)) else cfg_options
        apply_options(cfg, options, where)
    validate(cfg, where)
    return cfg


def config_text(cfg: dict, fmt: str = "py") -> str:
    """Render a resolved config as Python (exact, tuples kept), JSON or YAML (tuples -> lists)."""
    data = unwrap(cfg)
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    if fmt in ("yaml", "yml"):
        import yaml

        return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False)
    if fmt == "py":
        return "".join(f"{k} = {pprint.pformat(v, sort_dicts=False, width=100)}\n" for k, v in data.items())
    raise ConfigError(f"unknown config format {fmt!r}; use py, json or yaml")


def dump_config(cfg: dict, path: str | Path) -> Path:
    """Write ``cfg`` to ``path``; the format follows the suffix. ``load_config(path)`` reads it back."""
    path = Path(path)
    fmt = path.suffix.lstrip(".")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_text(cfg, "yaml" if fmt == "yml" else fmt))
    return path
