"""Load and parse MMPose-style dataset meta information files.

A metainfo file is plain python defining ``dataset_info = dict(dataset_name=..., keypoint_info=
{...}, skeleton_info={...}, joint_weights=[...], sigmas=[...])`` (see
``experiments/_base_/datasets/coco.py``). Datasets take ``metainfo=dict(from_file=PATH)`` or
the ``dataset_info`` dict itself, and expose the parsed form as ``dataset.metainfo``.
"""
from __future__ import annotations

import copy
import os
import runpy
from pathlib import Path

import numpy as np

from mlpose.config.packages import package_configs
from mlpose.errors import ConfigError

# The repository root: relative metainfo paths that are not found from the working
# directory are looked up here, so configs work from any cwd inside a checkout.
REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_path(path: str | os.PathLike, what: str = "file") -> Path:
    """Find ``path`` as given (absolute or relative to cwd), else relative to the repo root.

    Raises:
        ConfigError: naming the path and the places searched when it exists in neither.
    """
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if not p.is_absolute() and (REPO_ROOT / p).is_file():
        return REPO_ROOT / p
    raise ConfigError(
        f"{what} {str(path)!r} not found (looked in {os.getcwd()} and {REPO_ROOT}); "
        "fix the path"
    )


def metainfo_file(path: str | os.PathLike) -> Path:
    """A metainfo file: as given (:func:`resolve_path`), else, as MMPose falls back for its
    configs' ``configs/_base_/datasets/NAME.py``, the file of that name in mlpose's
    ``experiments/_base_/datasets/``, then in the installed MMPose's configs (found, not imported).

    Raises:
        ConfigError: naming the path and every place searched.
    """
    try:
        return resolve_path(path, "metainfo file")
    except ConfigError:
        name = Path(path).name
        configs = package_configs("mmpose")
        places = [REPO_ROOT / "experiments" / "_base_" / "datasets" / name,
                  *([configs / "_base_" / "datasets" / name] if configs else [])]
        found = next((p for p in places if p.is_file()), None)
        if found is None:
            raise ConfigError(f"metainfo file {str(path)!r} not found (looked in {os.getcwd()}, {REPO_ROOT} and at "
                              f"{', '.join(str(p) for p in places)}); fix the path") from None
        return found


def _read_file(path: str | os.PathLike) -> tuple[dict, str]:
    file = metainfo_file(path)
    try:
        namespace = runpy.run_path(str(file))
    except Exception as exc:  # a broken user file: say which one, keep the cause
        raise ConfigError(f"metainfo file {str(file)!r} failed to run: {exc}") from exc
    if not isinstance(namespace.get("dataset_info"), dict):
        raise ConfigError(f"metainfo file {str(file)!r} must define a dict named 'dataset_info'")
    return namespace["dataset_info"], str(file)


def load_metainfo(metainfo: dict | None, default_file: str) -> dict:
    """Return parsed meta information for a dataset.

    Args:
        metainfo: None (use ``default_file``), ``dict(from_file=PATH)``, or a raw
            ``dataset_info`` dict with ``keypoint_info``. Relative paths resolve from the
            working directory first, then from the repository root.
        default_file: metainfo file used when ``metainfo`` is None.

    Returns:
        dict with ``dataset_name``, ``num_keypoints``, ``keypoint_names`` (list),
        ``keypoint_name2id``, ``flip_indices`` (list[int], K), ``flip_pairs`` (list of
        [left, right] index pairs), ``skeleton`` (list of (i, j) index pairs),
        ``keypoint_colors`` (uint8 (K, 3), RGB), ``skeleton_colors`` (uint8 (L, 3)),
        ``joint_weights`` (float32 (K,)), ``sigmas`` (float32 (K,), OKS sigmas),
        ``upper_body_ids``, ``lower_body_ids`` (lists), ``paper_info`` and ``from_file``.

    Raises:
        ConfigError: for a missing file or an inconsistent ``dataset_info``.
    """
    source = "metainfo"
    if metainfo is None:
        info, source = _read_file(default_file)
    elif isinstance(metainfo, dict) and "from_file" in metainfo:
        info, source = _read_file(metainfo["from_file"])
    elif isinstance(metainfo, dict) and "keypoint_info" in metainfo:
        info = copy.deepcopy(metainfo)
    else:
        raise ConfigError(
            f"metainfo: expected dict(from_file=PATH) or a dataset_info dict with "
            f"'keypoint_info', got {metainfo!r}"
        )
    parsed = parse_metainfo(info, source)
    parsed["from_file"] = source if source != "metainfo" else None
    return parsed


def parse_metainfo(info: dict, source: str = "metainfo") -> dict:
    """Parse a raw ``dataset_info`` dict; see :func:`load_metainfo` for the result's keys."""
    for key in ("dataset_name", "keypoint_info", "sigmas"):
        if key not in info:
            raise ConfigError(f"{source}: dataset_info has no {key!r}; add it")
    kp_info = info["keypoint_info"]
    k = len(kp_info)
    ids = sorted(int(v["id"]) for v in kp_info.values())
    if ids != list(range(k)):
        raise ConfigError(f"{source}: keypoint_info ids must be 0..{k - 1}, got {ids}")
    by_id = {int(v["id"]): v for v in kp_info.values()}
    names = [by_id[i]["name"] for i in range(k)]
    name2id = {n: i for i, n in enumerate(names)}

    flip_indices, flip_pairs = [], []
    for i in range(k):
        swap = by_id[i].get("swap", "")
        if swap and swap not in name2id:
            raise ConfigError(f"{source}: keypoint {names[i]!r} swaps with unknown {swap!r}")
        j = name2id[swap] if swap else i
        flip_indices.append(j)
        if i < j:
            flip_pairs.append([i, j])

    skeleton, skeleton_colors = [], []
    for link in sorted(info.get("skeleton_info", {}).values(), key=lambda v: v["id"]):
        a, b = link["link"]
        for n in (a, b):
            if n not in name2id:
                raise ConfigError(f"{source}: skeleton link {link['link']} names unknown {n!r}")
        skeleton.append((name2id[a], name2id[b]))
        skeleton_colors.append(link.get("color", [255, 255, 255]))

    def per_keypoint(key: str, default: float | None) -> np.ndarray:
        values = info.get(key, None if default is None else [default] * k)
        arr = np.asarray(values, dtype=np.float32)
        if arr.shape != (k,):
            raise ConfigError(f"{source}: {key} needs {k} values, got shape {arr.shape}")
        return arr

    return dict(
        dataset_name=info["dataset_name"],
        paper_info=copy.deepcopy(info.get("paper_info", {})),
        num_keypoints=k,
        keypoint_names=names,
        keypoint_name2id=name2id,
        flip_indices=flip_indices,
        flip_pairs=flip_pairs,
        skeleton=skeleton,
        keypoint_colors=np.asarray([by_id[i].get("color", [255, 255, 255]) for i in range(k)],
                                   dtype=np.uint8).reshape(k, 3),
        skeleton_colors=np.asarray(skeleton_colors, dtype=np.uint8).reshape(-1, 3),
        joint_weights=per_keypoint("joint_weights", 1.0),
        sigmas=per_keypoint("sigmas", None),
        upper_body_ids=[i for i in range(k) if by_id[i].get("type") == "upper"],
        lower_body_ids=[i for i in range(k) if by_id[i].get("type") == "lower"],
    )


def dataset_info_from_meta(meta: dict, source: str) -> dict:
    """The ``dataset_info`` dict that MMPose's parsed ``dataset_meta`` (as stored in the ``meta``
    of its checkpoints: ``keypoint_id2name``, ``flip_indices``, ``skeleton_links``, colour arrays,
    ``dataset_keypoint_weights``, ``sigmas``) was parsed from; :func:`parse_metainfo` reads it.

    Raises:
        ConfigError: a ``dataset_meta`` without the keys above, or with lengths that disagree.
    """
    needed = ("dataset_name", "num_keypoints", "keypoint_id2name", "flip_indices", "sigmas")
    lacking = [key for key in needed if key not in meta]
    if lacking:
        raise ConfigError(f"{source}: meta.dataset_meta lacks {', '.join(lacking)}; give a config whose dataset "
                          "has the keypoint layout (metainfo=dict(from_file=...))")
    k = int(meta["num_keypoints"])
    names = {int(i): str(n) for i, n in meta["keypoint_id2name"].items()}
    flips = [int(j) for j in meta["flip_indices"]]
    if sorted(names) != list(range(k)) or len(flips) != k or not all(0 <= j < k for j in flips):
        raise ConfigError(f"{source}: meta.dataset_meta has {k} keypoints but {len(names)} names and "
                          f"{len(flips)} flip indices; give a config whose dataset has the keypoint layout")
    try:
        upper, lower = set(meta.get("upper_body_ids", ())), set(meta.get("lower_body_ids", ()))
        colors = np.asarray(meta.get("keypoint_colors", [[255, 128, 0]] * k)).reshape(k, 3).tolist()
        keypoint_info = {i: dict(name=names[i], id=i, color=colors[i],
                                 type="upper" if i in upper else "lower" if i in lower else "",
                                 swap=names[flips[i]] if flips[i] != i else "") for i in range(k)}
        links = [tuple(int(j) for j in link) for link in meta.get("skeleton_links", ())]
        link_colors = np.asarray(meta.get("skeleton_link_colors", [[96, 96, 255]] * len(links))).reshape(-1, 3)
        skeleton_info = {i: dict(link=(names[a], names[b]), id=i, color=link_colors[i].tolist())
                         for i, (a, b) in enumerate(links)}
        return dict(dataset_name=str(meta["dataset_name"]), keypoint_info=keypoint_info, skeleton_info=skeleton_info,
                    joint_weights=np.asarray(meta.get("dataset_keypoint_weights", [1.0] * k), np.float32).tolist(),
                    sigmas=np.asarray(meta["sigmas"], np.float32).reshape(k).tolist())
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: meta.dataset_meta is inconsistent ({type(exc).__name__}: {exc}); give a config "
                          "whose dataset has the keypoint layout") from None
