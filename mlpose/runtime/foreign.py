"""Checkpoint files written elsewhere (MMPose 0.x/1.x, MMEngine, torchvision), read without their code.

Every file is read by torch's ``weights_only`` unpickler, which builds tensors and plain values
and refuses every other global before anything is called. Model-zoo files hold a few more
objects; these are allowed, each as something inert:

- numpy arrays, dtypes and scalars (MMPose's ``meta.dataset_meta``: sigmas, colours, weights)
  load as numpy; ``datetime`` values as ``datetime``;
- objects of OpenMMLab packages (``mmengine``, ``mmcv``, ``mmpose``, ...; e.g. the ``HistoryBuffer``
  of an MMEngine ``message_hub``) load as :class:`StandIn` instances that keep their pickled state
  and run no code of those packages, which need not be installed;
- ``builtins.getattr`` on a stand-in only (``HistoryBuffer`` pickles its statistics methods that
  way), answering the attribute's name.

Anything else (``os.system``, ``eval``, ``subprocess``...) is refused with one line naming the
file and the global; it is never called.

Which weights a file holds (:func:`model_weights`):

=====================================  ==========================================================
mlpose checkpoint                      ``state_dict`` (``model`` before mlpose 0.2), with ``state``
                                       and ``rng``: MMEngine's key, so MMPose loads the file as it is
MMPose 1.x published file              ``meta`` + ``state_dict`` (``publish_model.py``, legacy
                                       non-zip serialization)
MMEngine training checkpoint           ``meta``, ``state_dict``, ``message_hub``, ``optimizer``,
                                       ``param_schedulers`` [, ``ema_state_dict``]
MMPose 0.x file                        ``state_dict`` with ``keypoint_head.*`` (renamed ``head.*``)
plain state dict                       ``name -> tensor``
=====================================  ==========================================================

EMA: MMEngine's ``EMAHook`` swaps before saving, so ``state_dict`` holds the averaged weights (what
MMPose tests and publishes) and ``ema_state_dict`` the raw ones as ``module.NAME`` plus ``steps``;
mlpose's files likewise hold the average in ``state_dict`` and the raw weights in ``ema.raw``.
"""
from __future__ import annotations

import _compat_pickle
import datetime
import io
import os
import pickle
import pickletools
import re
import zipfile
from typing import Any, Mapping

import numpy as np
import torch

from mlpose.errors import ConfigError

#: top-level packages whose pickled objects load as inert stand-ins
OPENMMLAB = ("mmengine", "mmcv", "mmpose", "mmdet", "mmpretrain", "mmcls", "mmseg", "mmyolo", "mmaction")
_REFUSED = re.compile(r"GLOBAL ([\w.]+)")
_UNBUILDABLE = re.compile(r"Can only [^\n]*?but got [^\n]*")
_TRAINING_KEYS = ("message_hub", "optimizer", "param_schedulers")


class StandIn:
    """An object of a package mlpose does not run (MMEngine...): its pickled state, nothing else.

    Attributes:
        args: what the pickle passed to the class.
        state: what the pickle set as its state (``__setstate__``), e.g. a ``HistoryBuffer``'s dict.
    """

    original = "?"  # the pickled class's full name, set per stand-in class

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.state = args, None
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<stand-in for {self.original}>"


def _stand_in_getattr(obj: Any, name: str) -> str:
    """``getattr`` as a pickle may use it on a stand-in: the attribute's name, never the attribute."""
    if isinstance(obj, StandIn) or (isinstance(obj, type) and issubclass(obj, StandIn)):
        return f"{obj.original}.{name}"
    raise pickle.UnpicklingError(f"GLOBAL builtins.getattr used on {type(obj).__name__}")


def _numpy_globals() -> list:
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray

    found = [(multiarray._reconstruct, f"{m}.multiarray._reconstruct") for m in ("numpy.core", "numpy._core")]
    found += [(multiarray.scalar, f"{m}.multiarray.scalar") for m in ("numpy.core", "numpy._core")]
    found += [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype")]
    # BUILD checks the instance's own type: np.dtype('f8') is a numpy.dtypes.Float64DType
    found += [cls for name, cls in vars(np.dtypes).items() if name.endswith("DType") and isinstance(cls, type)]
    return found


def pickle_globals(path: str | os.PathLike) -> set[str]:
    """The ``module.name`` globals a torch checkpoint file's pickle refers to (read, not run)."""
    found: set[str] = set()

    def scan(stream, count: int) -> None:
        for _ in range(count):
            for op, arg, _pos in pickletools.genops(stream):
                if op.name == "GLOBAL":
                    found.add(_python3_name(*arg.split(" ", 1)))

    with open(path, "rb") as f:
        if zipfile.is_zipfile(f):
            with zipfile.ZipFile(f) as archive:
                name = next(n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl"))
                scan(io.BytesIO(archive.read(name)), 1)
        else:  # legacy format: the pickles of the magic number, protocol, system info, then the object
            f.seek(0)
            scan(f, 4)
    return found


def _python3_name(module: str, name: str) -> str:
    """``module.name`` of a global as Python 3 spells it (protocol-2 pickles use Python 2's names:
    ``__builtin__ eval``, ``commands call``)."""
    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}"


def _stand_ins(names: set[str]) -> list:
    classes = []
    for full in sorted(names):
        if full.split(".", 1)[0] in OPENMMLAB:
            module, name = full.rsplit(".", 1)  # named as the original, so torch's messages name it too
            cls = type(name, (StandIn,), {"original": full, "__module__": module})
            classes.append((cls, full))
    return classes


def safe_load(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load`` with ``weights_only`` and the inert objects of the module docstring.

    Raises:
        ConfigError: the file refers to a global outside that set (named in the message).
        Exception: whatever torch raises for a truncated or corrupt file (the caller words it).
    """
    try:
        names = pickle_globals(path)
    except Exception:  # noqa: BLE001 - unreadable: torch.load below says how
        names = set()
    allowed = [*_numpy_globals(), *_stand_ins(names), (_stand_in_getattr, "builtins.getattr"),
               datetime.datetime, datetime.date, datetime.time, datetime.timedelta, datetime.timezone]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        refused, kind = _REFUSED.search(str(exc)), _UNBUILDABLE.search(str(exc))
        if refused is None and kind is not None:  # e.g. a dict subclass: torch fills only real dicts
            raise ConfigError(f"checkpoint {os.fspath(path)!r} holds an object mlpose does not read "
                              f"({kind.group(0)}); mlpose reads only tensors, plain values, numpy arrays and inert "
                              "OpenMMLab objects") from None
        if refused is None:
            raise
        module, _, name = refused.group(1).rpartition(".")
        wanted = _python3_name(module, name) if module else name
        shown = next((g for g in sorted(names) if g == wanted or g.endswith("." + wanted)), wanted)
        raise ConfigError(
            f"checkpoint {os.fspath(path)!r} refers to {shown}, which no checkpoint needs; mlpose "
            "reads only tensors, plain values, numpy arrays and inert OpenMMLab objects, so it refuses this "
            "file (do not load it elsewhere unless you trust where it came from)") from None


def is_mlpose_checkpoint(ckpt: Mapping) -> bool:
    """Whether ``ckpt`` is a training checkpoint mlpose wrote (any version): its train ``state``
    beside the weights (``state_dict``; ``model`` before mlpose 0.2)."""
    return "state" in ckpt and ("state_dict" in ckpt or "model" in ckpt)


def is_training_checkpoint(ckpt: Mapping) -> bool:
    """Whether ``ckpt`` is an MMEngine (or MMCV) training checkpoint rather than mlpose's own."""
    return "state_dict" in ckpt and "state" not in ckpt and any(k in ckpt for k in _TRAINING_KEYS)


def describe(ckpt: Mapping) -> str:
    """A few words naming the kind of checkpoint (for messages)."""
    if is_mlpose_checkpoint(ckpt):
        return "an mlpose checkpoint"
    if is_training_checkpoint(ckpt):
        return f"an MMEngine training checkpoint ({', '.join(k for k in ckpt if k != 'state_dict')})"
    for key in ("state_dict", "model"):
        if isinstance(ckpt.get(key), Mapping):
            if any(k.startswith("keypoint_head.") for k in ckpt[key]):
                return "an MMPose 0.x file"
            return "an MMPose/MMEngine model file (meta + state_dict)" if "meta" in ckpt else f"weights under {key!r}"
    return "a plain state dict"


def model_weights(ckpt: Mapping, ema: bool = True) -> dict:
    """The model's ``name -> tensor`` weights in any layout of the module docstring, with the key
    names of mlpose's (= MMPose 1.x's) modules.

    Args:
        ckpt: the loaded file.
        ema: for a file of a run with an EMA (MMEngine's ``ema_state_dict``, mlpose's ``ema``
            entry), the averaged weights (MMPose's choice: what ``state_dict`` / ``model`` hold);
            False gives the raw trained weights instead.
    """
    weights = next((ckpt[k] for k in ("state_dict", "model") if isinstance(ckpt.get(k), Mapping)), None)
    if weights is None:
        state = dict(ckpt)
    else:  # under EMA the averaged weights: ``ema.raw`` (mlpose) or ``ema_state_dict`` (MMEngine) hold the raw ones
        state = dict(weights)
        mine, theirs = ckpt.get("ema"), ckpt.get("ema_state_dict")
        if not ema and isinstance(mine, Mapping) and isinstance(mine.get("raw"), Mapping):
            state = dict(mine["raw"])
        elif not ema and isinstance(theirs, Mapping):  # undo EMAHook's swap: raw weights are module.NAME there
            state.update({k[len("module."):]: v for k, v in theirs.items() if k.startswith("module.")})
    if state and all(k.startswith("module.") for k in state):  # saved from a DDP wrapper
        state = {k[len("module."):]: v for k, v in state.items()}
    return {"head." + k[len("keypoint_head."):] if k.startswith("keypoint_head.") else k: v
            for k, v in state.items()}


def dataset_meta(ckpt: Mapping) -> dict | None:
    """MMPose's ``meta.dataset_meta`` (the parsed keypoint layout the model was trained on), if any."""
    meta = ckpt.get("meta")
    found = meta.get("dataset_meta") if isinstance(meta, Mapping) else None
    return dict(found) if isinstance(found, Mapping) and found.get("num_keypoints") else None
