"""Config files that ship inside installed OpenMMLab packages.

MMEngine's package-scoped bases, ``_base_ = ['mmpose::body_2d_keypoint/.../x.py']``, name a file
under ``<package>/.mim/configs/`` of the installed package (``mmpose``, ``mmdet``, ``mmpretrain``,
...). The package is located with :func:`importlib.util.find_spec`, never imported: mlpose does
not depend on MMPose, and importing it would pull in mmengine and mmcv.
"""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from mlpose.errors import ConfigError

#: ``scope::relative/path.py`` as MMEngine writes it (the scope is the package's import name)
SCOPED = re.compile(r"^(?P<package>[A-Za-z_][A-Za-z0-9_]*)::(?P<path>.+)$")


def package_dir(package: str) -> Path | None:
    """The folder of the installed top-level package ``package``, or None when none is installed.

    Nothing is imported: ``find_spec`` of a top-level name only searches ``sys.path``.
    """
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # ValueError: a module in sys.modules without a spec
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def package_configs(package: str) -> Path | None:
    """``<package>/.mim/configs`` of an installed package (where pip installs put its configs), or None."""
    folder = package_dir(package)
    configs = folder / ".mim" / "configs" if folder is not None else None
    return configs if configs is not None and configs.is_dir() else None


def is_scoped(ref: str) -> bool:
    """Whether a ``_base_`` entry is a package-scoped one (``mmpose::PATH``)."""
    return bool(SCOPED.match(ref))


def scoped_config(ref: str, source: Path | str) -> Path:
    """The file a package-scoped ``_base_`` entry names.

    Args:
        ref: ``PACKAGE::PATH``, e.g. ``'mmpose::_base_/default_runtime.py'``.
        source: the config file that names it (for the error message).

    Raises:
        ConfigError: one line naming the entry, and either that the package is not installed
            or the file it would be.
    """
    match = SCOPED.match(ref)
    if match is None:
        raise ConfigError(f"{source}: _base_ {ref!r} is not of the form PACKAGE::PATH")
    package, rel = match["package"], match["path"]
    folder = package_dir(package)
    if folder is None:
        raise ConfigError(f"{source}: _base_ {ref!r} names a config file of the {package} package, which is not "
                          f"installed here; install {package} (pip install {package}), or copy the file next to "
                          "the config and name it by its path")
    path = folder / ".mim" / "configs" / rel
    if not path.is_file():
        raise ConfigError(f"{source}: _base_ {ref!r}: {path} does not exist (the installed {package} has no such "
                          "config file); check the path")
    return path
