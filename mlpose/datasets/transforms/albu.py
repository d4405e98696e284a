"""Pixel-level augmentations from the ``albumentations`` library (MMPose's ``Albumentation``).

mlpose pins albumentations 1.4.x: it accepts the 1.x argument names MMPose's configs write
(``CoarseDropout(max_holes=..., max_height=...)``, ``GridDropout(unit_size_min=...)``) with their
1.x meaning, where 2.x only warns that they are "not valid" and trains with its defaults.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import os
import random
import re
import warnings

import numpy as np

from mlpose.errors import ConfigError
from mlpose.registry import TRANSFORMS

REQUIREMENT = "albumentations>=1.4.24,<2"
#: transforms that change pixel values without moving them, besides albumentations'
#: ImageOnlyTransform and dropout families (which are checked by class)
_PIXEL_DUAL = {"PixelDropout", "Morphological", "NoOp"}


def import_albumentations():
    """The albumentations module, imported without its start-up check for a newer release
    (a network request: training machines are often offline, and an import must not wait)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    try:
        return importlib.import_module("albumentations")
    except ImportError:
        raise ConfigError(f"Albumentation needs the albumentations library: pip install '{REQUIREMENT}'") from None


def build_albu(cfg, path: str):
    """Build one albumentations transform (or composition) from ``dict(type=NAME, **args)``.

    Only pixel-level transforms are accepted: one that moves or resizes pixels would leave the
    keypoints behind (MMPose documents the same restriction but only warns).

    Args:
        cfg: the transform's config; ``transforms`` of a composition (``OneOf``...) are built
            recursively.
        path: its key path in the config, for error messages (``train_pipeline.6.transforms.2``).

    Raises:
        ConfigError: unknown transform or argument, bad value, or a geometric transform.
    """
    A = import_albumentations()
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ConfigError(f"{path}: expected dict(type=<albumentations transform>, ...), got {cfg!r}")
    args = dict(cfg)
    name = args.pop("type")
    cls = getattr(A, name, None) if isinstance(name, str) else name
    if not (isinstance(cls, type) and issubclass(cls, (A.BasicTransform, A.BaseCompose))):
        names = [n for n in dir(A) if isinstance(getattr(A, n), type)]
        close = difflib.get_close_matches(str(name), names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"{path}: {name!r} is not an albumentations {A.__version__} transform{hint}")
    _check_pixel_level(A, cls, path)
    _check_arg_names(A, cls, args, path)
    if issubclass(cls, A.BaseCompose):
        children = args.get("transforms") or []
        args["transforms"] = [build_albu(t, f"{path}.transforms.{i}") for i, t in enumerate(children)]
    with warnings.catch_warnings(record=True) as caught:
        # albumentations 1.4 flags the 1.x names MMPose's configs use as deprecated: they are
        # what this pin supports, so that warning would only be noise in every worker
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("always", UserWarning)
        try:
            built = cls(**args)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: {cls.__name__}: {_one_line(str(exc))}") from None
    # a UserWarning here is albumentations replacing a bad value ("blur_limit ... adjusted")
    adjusted = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    if adjusted:
        raise ConfigError(f"{path}: {cls.__name__}: {_one_line(adjusted[0])}")
    return built


def _one_line(message: str) -> str:
    """A pydantic validation report as one line: field and reason, without its links."""
    lines = [ln.strip() for ln in message.strip().splitlines()]
    lines = [re.sub(r"\s*\[type=.*$", "", ln) for ln in lines
             if ln and not re.match(r"\d+ validation errors? for|For further information", ln)]
    # pydantic writes each error as a location line ("p", "blur_limit.int") then its reason
    joined = "; ".join(f"{ln}:" if " " not in ln else ln for ln in lines).replace(":; ", ": ")
    return joined or message


def _check_pixel_level(A, cls: type, path: str) -> None:
    dropout = importlib.import_module("albumentations.augmentations.dropout.transforms").BaseDropout
    if issubclass(cls, (A.ImageOnlyTransform, A.BaseCompose, dropout)) or cls.__name__ in _PIXEL_DUAL:
        return
    raise ConfigError(f"{path}: {cls.__name__} moves or resizes pixels, and the keypoints would not follow; "
                      "Albumentation takes pixel-level transforms only (geometry: RandomFlip, "
                      "RandomBBoxTransform, TopdownAffine)")


def _check_arg_names(A, cls: type, args: dict, path: str) -> None:
    params = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    for key in args:
        if key not in params:
            close = difflib.get_close_matches(key, list(params), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            pin = f"; MMPose's configs need {REQUIREMENT}" if not A.__version__.startswith("1.") else ""
            raise ConfigError(f"{path}: {cls.__name__} (albumentations {A.__version__}) has no argument "
                              f"{key!r}{hint}; accepted: {', '.join(params)}{pin}")


def _check_list(transforms, keymap, path: str) -> None:
    if not isinstance(transforms, (list, tuple)) or not transforms:
        raise ConfigError(f"{path}.transforms: expected a non-empty list of dict(type=...), got {transforms!r}")
    if keymap is not None and not (isinstance(keymap, dict) and all(isinstance(v, str) for v in keymap.values())):
        raise ConfigError(f"{path}.keymap: expected a dict like {{'img': 'image'}}, got {keymap!r}")


@TRANSFORMS.register()
class Albumentation:
    """Apply a list of albumentations pixel-level transforms to the crop (MMPose semantics).

    MMPose's configs put it after ``TopdownAffine``, so it works on the ``uint8`` BGR network
    input (colour transforms that assume RGB see BGR, as in MMPose). Randomness: each call seeds
    the transforms' own generators from numpy's global RNG, which ``SeededDataset`` seeds per
    sample, so a sample gets the same augmentation whatever the workers or a resume.

    Required keys: the keys of ``keymap`` (default: img).
    Modified keys: the same.

    Args:
        transforms: albumentations transform configs, e.g. ``[dict(type='Blur', p=0.1),
            dict(type='CoarseDropout', max_holes=1, max_height=0.4, ...)]``; compositions
            (``OneOf``, ``SomeOf``...) take their own ``transforms`` list.
        keymap: results key -> albumentations key; default ``{'img': 'image'}``.
    """

    def __init__(self, transforms: list[dict], keymap: dict | None = None):
        _check_list(transforms, keymap, "Albumentation")
        self.transforms = transforms
        self.keymap = dict(keymap) if keymap else {"img": "image"}
        A = import_albumentations()
        self._aug = A.Compose([build_albu(t, f"Albumentation.transforms.{i}") for i, t in enumerate(transforms)])

    @staticmethod
    def validate_args(kwargs: dict, path: str) -> None:
        """Config-load check (see ``registry.check_args``): every entry is built once."""
        _check_list(kwargs.get("transforms"), kwargs.get("keymap"), path)
        for i, t in enumerate(kwargs["transforms"]):
            build_albu(t, f"{path}.transforms.{i}")

    def __call__(self, results: dict) -> dict:
        # albumentations draws from generators of its own, not numpy's or python's global ones:
        # reseeding them from numpy's (seeded per sample) keeps the augmentation repeatable
        seed = int(np.random.randint(0, 2**32, dtype=np.int64))
        self._aug.set_random_state(np.random.default_rng(seed), random.Random(seed))
        out = self._aug(**{albu_key: results[key] for key, albu_key in self.keymap.items()})
        for key, albu_key in self.keymap.items():
            results[key] = out[albu_key]
        return results

    def __repr__(self) -> str:
        return f"Albumentation(transforms={self.transforms}, keymap={self.keymap})"
