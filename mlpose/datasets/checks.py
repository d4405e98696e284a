"""COCO-format annotation files, checked once when they are read.

A bad file trains or scores silently wrong: duplicate image ids pair annotations with the wrong
picture, duplicate annotation ids make perfect predictions score AP 0.95, an annotation of an
image that is not listed trains on nothing, a NaN keypoint turns the loss NaN twenty minutes in.
:func:`read_coco_columns` checks a parsed file and returns its annotations as numpy columns (the
dataset builds its instance table from them, so nothing is parsed twice); every problem is one
:class:`~mlpose.errors.ConfigError` line naming the file, the id and the field. The checks are
vectorised: a COCO-size file (262k annotations) costs about as much as building its columns.
"""
from __future__ import annotations

import dataclasses
import itertools
import os

import numpy as np

from mlpose.errors import ConfigError


@dataclasses.dataclass
class CocoColumns:
    """The annotations of a checked file, one row per annotation, in file order.

    Attributes:
        image_ids: (M,) int64 ids of ``images``, unique.
        image_sizes: (M, 2) float64 ``width, height`` of each image (NaN where not given).
        ids: (N,) int64 annotation ids, unique.
        image_of: (N,) int64 image id of each annotation, each one listed in ``images``.
        keypoints: (N, K, 3) float32 ``x, y, visibility`` (zeros for an annotation without any).
        bbox: (N, 4) float64 ``x, y, w, h`` pixels, finite, ``w, h >= 0``.
        area: (N,) float64 (``w * h`` where the file gives none).
        num_keypoints: (N,) int64 (counted from the visibilities where not given).
        iscrowd: (N,) bool.
        category_id: (N,) int64 (1 where not given).
    """

    image_ids: np.ndarray
    image_sizes: np.ndarray
    ids: np.ndarray
    image_of: np.ndarray
    keypoints: np.ndarray
    bbox: np.ndarray
    area: np.ndarray
    num_keypoints: np.ndarray
    iscrowd: np.ndarray
    category_id: np.ndarray


def read_coco_columns(dataset: dict, path: str, num_keypoints: int | None = None,
                      layout: str = "the metainfo", image_fields: tuple = ("file_name", "width", "height")
                      ) -> CocoColumns:
    """Check a parsed COCO keypoint file and return its annotations as columns.

    Args:
        dataset: the parsed json (``images``, ``annotations``).
        path: the file, named in every message.
        num_keypoints: K of the dataset's layout; None: only "the same K in every annotation".
        layout: what K comes from, for the message (e.g. ``metainfo 'coco'``).
        image_fields: what every image entry must have (a dataset reads the pictures; an
            evaluator's ground truth needs none).

    Raises:
        ConfigError: one line for the first problem found: a duplicate image or annotation id,
            an annotation of an image not in ``images``, a keypoint list of the wrong length,
            a non-finite number, or a box of negative size (zero size for a labelled person).
    """
    images, anns = dataset.get("images") or [], dataset.get("annotations") or []
    if not isinstance(images, list) or not isinstance(anns, list):
        raise ConfigError(f"{path}: 'images' and 'annotations' must be lists; is this a COCO keypoint file?")
    image_ids = _ints(images, "id", path, "image")
    _unique(image_ids, path, "image id", "in 'images'", "annotations would be paired with the wrong picture")
    for field in image_fields:
        _present(images, field, image_ids, path, image_fields)
    sizes = np.stack([_floats(images, "width"), _floats(images, "height")], -1).reshape(-1, 2)
    ids = _ints(anns, "id", path, "annotation")
    _unique(ids, path, "annotation id", "in 'annotations'", "evaluation matches by id: the AP would be wrong")
    image_of = _ints(anns, "image_id", path, "annotation", ids)
    stray = ~np.isin(image_of, image_ids)
    _fail(stray, ids, image_of, path, lambda i: f"image_id {image_of[i]} is not in 'images'",
          "add the image or remove the annotation")
    keypoints = _keypoints(anns, ids, image_of, path, num_keypoints, layout)
    crowd = np.fromiter((bool(a.get("iscrowd", 0)) for a in anns), bool, len(anns))
    bbox = _boxes(anns, ids, image_of, path)
    counted = np.count_nonzero(keypoints[:, :, 2] > 0, axis=1)
    num = np.fromiter((a.get("num_keypoints", -1) for a in anns), np.int64, len(anns))
    num = np.where(num < 0, counted, num)
    empty = ((bbox[:, 2] <= 0) | (bbox[:, 3] <= 0)) & (num > 0) & ~crowd
    _fail(empty, ids, image_of, path, lambda i: f"bbox {bbox[i].tolist()} has zero size but {num[i]} keypoints "
          "are labelled", "fix the box (x, y, w, h in pixels)")
    area = _floats(anns, "area")
    bad_area = ~np.isfinite(area) & np.fromiter(("area" in a for a in anns), bool, len(anns))
    _fail(bad_area, ids, image_of, path, lambda i: f"area is {area[i]}", "give a finite area")
    area = np.where(np.isnan(area), bbox[:, 2] * bbox[:, 3], area)
    category = np.fromiter((a.get("category_id", 1) for a in anns), np.int64, len(anns))
    return CocoColumns(image_ids, sizes, ids, image_of, keypoints, bbox, area, num, crowd, category)


def check_detections(dets: list, path: str, image_ids: np.ndarray, ann_file: str) -> None:
    """Check a detections file (COCO results: ``image_id``, ``bbox`` x, y, w, h, ``score``).

    Raises:
        ConfigError: a detection of an image not in ``ann_file``, or a box or score that is
            not a finite number (or a box of negative size), naming the detection's index.
    """
    if not isinstance(dets, list):
        raise ConfigError(f"bbox_file {path!r} must hold a list of detections")
    index = np.arange(len(dets))
    image_of = _ints(dets, "image_id", path, "detection")
    stray = ~np.isin(image_of, image_ids)
    if stray.any():
        i = int(np.argmax(stray))
        raise ConfigError(f"bbox_file {path!r}: image_id {image_of[i]} is not in {ann_file!r}")
    boxes = _flat(dets, "bbox", 4, path, index, image_of, what="detection #")
    scores = _floats(dets, "score")
    bad = ~np.isfinite(boxes).all(1) | (boxes[:, 2:] < 0).any(1) | ~np.isfinite(scores)
    _fail(bad, index, image_of, path, lambda i: f"bbox {boxes[i].tolist()} score {scores[i]} is not a finite box "
          "and score", "fix or remove that detection", what="detection #")


# ---- column builders: fast paths, and a slow search only to name the bad entry ----------------
def _ints(items: list, field: str, path: str, what: str, ids: np.ndarray | None = None) -> np.ndarray:
    try:
        return np.fromiter((item[field] for item in items), np.int64, len(items))
    except (KeyError, TypeError, ValueError, OverflowError):
        for i, item in enumerate(items):
            value = item.get(field) if isinstance(item, dict) else None
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                who = f"{what} id {ids[i]}" if ids is not None else f"{what} #{i} (of the file's list)"
                raise ConfigError(f"{path}: {who}: {field} is {value!r}; it must be an integer") from None
        raise


def _floats(items: list, field: str) -> np.ndarray:
    """The field as float64, NaN where absent (non-numbers are caught where the field matters)."""
    try:
        return np.fromiter((item.get(field, np.nan) for item in items), np.float64, len(items))
    except (TypeError, ValueError):
        return np.array([_num(item.get(field, np.nan)) for item in items], np.float64)


def _num(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan


def _present(items: list, field: str, ids: np.ndarray, path: str, needed: tuple) -> None:
    missing = np.fromiter((field not in item for item in items), bool, len(items))
    if missing.any():
        raise ConfigError(f"{path}: image id {ids[np.argmax(missing)]} has no {field!r}"
                          f"{_more(int(missing.sum()) - 1, 'image')}; every image entry needs {', '.join(needed)}")


def _flat(items: list, field: str, width: int, path: str, ids, image_of, what: str = "annotation id ") -> np.ndarray:
    """(N, width) float64 of a fixed-length list field (a bbox)."""
    lens = np.fromiter((len(item.get(field) or ()) for item in items), np.int64, len(items))
    _fail(lens != width, ids, image_of, path, lambda i: f"{field} holds {lens[i]} numbers", f"give {width}", what)
    try:
        flat = np.fromiter(itertools.chain.from_iterable(item[field] for item in items), np.float64, width * len(items))
    except (TypeError, ValueError):
        flat = np.array([_num(v) for item in items for v in item[field]], np.float64)
    return flat.reshape(-1, width)


def _boxes(anns: list, ids, image_of, path: str) -> np.ndarray:
    bbox = _flat(anns, "bbox", 4, path, ids, image_of)
    bad = ~np.isfinite(bbox).all(1) | (bbox[:, 2:] < 0).any(1)
    _fail(bad, ids, image_of, path, lambda i: f"bbox {bbox[i].tolist()} is not a box",
          "give x, y, w, h: finite pixels, w and h >= 0")
    return bbox


def _keypoints(anns: list, ids, image_of, path: str, k: int | None, layout: str) -> np.ndarray:
    """(N, K, 3) float32; an annotation without keypoints gets zeros."""
    lens = np.fromiter((len(a.get("keypoints") or ()) for a in anns), np.int64, len(anns))
    given = lens > 0
    if k is None:
        k = int(lens[given][0]) // 3 if given.any() else 0
        wrong = given & ((lens != 3 * k) | (lens % 3 != 0))
        _fail(wrong, ids, image_of, path, lambda i: f"keypoints holds {lens[i]} numbers, the file's first {3 * k}",
              "every annotation needs the same K keypoints (x, y, v each)")
    else:
        _fail(given & (lens != 3 * k), ids, image_of, path,
              lambda i: f"keypoints holds {_count(lens[i])} but {layout} has {k} keypoints",
              "fix the annotation file or the dataset's metainfo")
    out = np.zeros((len(anns), k, 3), np.float32)
    rows = np.flatnonzero(given)
    chain = itertools.chain.from_iterable(anns[i]["keypoints"] for i in rows)
    try:
        flat = np.fromiter(chain, np.float32, 3 * k * len(rows))
    except (TypeError, ValueError):
        flat = np.array([_num(v) for i in rows for v in anns[i]["keypoints"]], np.float32)
    out[rows] = flat.reshape(-1, k, 3)
    bad = ~np.isfinite(out).all((1, 2))
    _fail(bad, ids, image_of, path, lambda i: f"keypoints hold {_first_bad(anns[i]['keypoints'])}",
          "fix or remove that annotation")
    return out


def _count(length: int) -> str:
    return f"{length // 3} keypoints ({length} numbers)" if length % 3 == 0 else f"{length} numbers (not 3 per keypoint)"


def _first_bad(values: list) -> str:
    for j, v in enumerate(values):
        x = _num(v)
        if not np.isfinite(x):
            return f"{v!r} at position {j} ({'x' if j % 3 == 0 else 'y' if j % 3 == 1 else 'visibility'} " \
                   f"of keypoint {j // 3})"
    return "a value that is not a finite number"


def _fail(bad: np.ndarray, ids, image_of, path: str, problem, fix: str, what: str = "annotation id ") -> None:
    """Raise one line for the first ``bad`` row (and how many more there are)."""
    if not bad.any():
        return
    i = int(np.argmax(bad))
    where = f"{what}{ids[i]} (image id {image_of[i]})"
    kind = "detection" if what.startswith("detection") else "annotation"
    raise ConfigError(f"{path}: {where}: {problem(i)}; {fix}{_more(int(bad.sum()) - 1, kind)}")


def _unique(ids: np.ndarray, path: str, what: str, where: str, why: str) -> None:
    values, counts = np.unique(ids, return_counts=True)
    dup = counts > 1
    if dup.any():
        first = values[dup][0]
        raise ConfigError(f"{path}: {what} {first} appears {counts[dup][0]} times {where} ({why}); ids must be "
                          f"unique{_more(int(dup.sum()) - 1, what.split()[0] + ' id')}")


def _more(n: int, what: str) -> str:
    return f" ({n} more {what}{'s' if n > 1 else ''} like it)" if n > 0 else ""


_checked: set[tuple] = set()  # files this process has checked (real path, size, mtime)


def mark_checked(path: str) -> None:
    """Record that ``path`` (as it is now) passed :func:`read_coco_columns`."""
    key = _file_key(path)
    if key is not None:
        _checked.add(key)


def check_coco_file(dataset: dict, path: str) -> None:
    """:func:`read_coco_columns` for a file read elsewhere (the evaluator's ground truth),
    skipped when this process already checked the file (the dataset read the same one)."""
    key = _file_key(path)
    if key is not None and key in _checked:
        return
    read_coco_columns(dataset, path, image_fields=())
    mark_checked(path)


def _file_key(path: str) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return os.path.realpath(path), st.st_size, st.st_mtime_ns
