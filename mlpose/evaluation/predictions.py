"""Prediction dump files (``mlpose test --dump``) and COCO keypoint results, for ``mlpose evaluate``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlpose.errors import ConfigError
from mlpose.runtime.user_files import write_output

DUMP_FORMAT = "mlpose-predictions-v1"


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def write_predictions(preds: list[dict], path: str | Path, option: str = "--dump") -> None:
    """Write prediction dicts (numpy arrays as lists) to a JSON dump, atomically (a failed write
    leaves the previous file); ``option`` names ``path`` in messages."""
    write_output(path, json.dumps({"format": DUMP_FORMAT, "predictions": [_plain(p) for p in preds]}), option)


def read_predictions(path: str | Path, dataset=None) -> list[dict]:
    """Read a ``--dump`` file, or a COCO keypoint results list (``image_id, category_id,
    keypoints [x, y, v]*K, score``) converted to prediction dicts.

    COCO results carry no annotation id or area: each result gets its entry index as ``id``, its
    ``score`` as ``bbox_score`` (keypoint scores from the ``v`` column) and the area of the
    keypoints' bounding box, which is what rescoring and OKS-NMS need; a result's ``bbox``
    (x, y, w, h, as MMPose's results files have) is kept as the prediction's ``bbox``.

    Raises:
        ConfigError: an unreadable or empty file, or an entry that is not a prediction (one
            line naming the file, the entry and the field).
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read predictions ({exc})") from None
    if isinstance(data, dict) and data.get("format") == DUMP_FORMAT and isinstance(data.get("predictions"), list):
        preds = [_dump_entry(path, i, p) for i, p in enumerate(data["predictions"])]
    elif isinstance(data, list):
        dataset_name = (getattr(dataset, "metainfo", None) or {}).get("dataset_name", "coco")
        preds = [_result_entry(path, i, res, dataset_name) for i, res in enumerate(data)]
    else:
        raise ConfigError(f"{path}: neither an mlpose --dump file nor a COCO keypoint results list")
    if not preds:
        raise ConfigError(f"{path} holds no predictions; nothing to evaluate")
    counts = {len(p["keypoints"]) for p in preds}
    if len(counts) > 1:
        first = next(i for i, p in enumerate(preds) if len(p["keypoints"]) != len(preds[0]["keypoints"]))
        raise ConfigError(f"{path}: entry {first} has {len(preds[first]['keypoints'])} keypoints but entry 0 has "
                          f"{len(preds[0]['keypoints'])}; one file holds predictions of one keypoint layout")
    return preds


def _bad(path, i: int, entry, what: str) -> ConfigError:
    return ConfigError(f"{path}: entry {i} {json.dumps(entry, default=str)[:100]} {what}")


def _result_entry(path, i: int, res, dataset_name: str) -> dict:
    """The prediction dict of COCO result ``i`` (checked)."""
    if not isinstance(res, dict) or not _integer(res.get("image_id")):
        raise _bad(path, i, res, "needs an integer image_id (a COCO keypoint result: image_id, keypoints, score)")
    flat = res.get("keypoints")
    if not (isinstance(flat, list) and flat and len(flat) % 3 == 0 and all(_number(v) for v in flat)):
        raise _bad(path, i, res, "needs keypoints [x, y, score] * K: a list of numbers, 3 per keypoint")
    if not (_number(res.get("score", 1.0)) and _integer(res.get("category_id", 1))):
        raise _bad(path, i, res, "needs a numeric score and an integer category_id")
    box = res.get("bbox")
    if box and not (isinstance(box, list) and len(box) >= 4 and all(_number(v) for v in box[:4])):
        raise _bad(path, i, res, "has a bbox that is not [x, y, w, h] (numbers)")
    kpts = np.asarray(flat, dtype=np.float32).reshape(-1, 3)
    if not np.isfinite(kpts).all():
        raise _bad(path, i, res, "has keypoints that are not finite numbers (NaN or infinity)")
    lo, hi = kpts[:, :2].min(0), kpts[:, :2].max(0)
    pred = {"id": i, "img_id": int(res["image_id"]), "category_id": int(res.get("category_id", 1)),
            "keypoints": kpts[:, :2], "keypoint_scores": kpts[:, 2], "bbox_score": float(res.get("score", 1.0)),
            "area": float(np.prod(hi - lo)), "center": (lo + hi) / 2, "scale": hi - lo, "dataset_name": dataset_name}
    if box:  # x, y, w, h (MMPose writes it): the evaluation takes the area from it
        x, y, w, h = (float(v) for v in box[:4])
        pred["bbox"] = np.array([x, y, x + w, y + h], np.float32)
    return pred


def _dump_entry(path, i: int, p) -> dict:
    """The prediction dict of ``--dump`` entry ``i`` (checked)."""
    if not isinstance(p, dict) or not all(k in p for k in ("id", "img_id", "keypoints", "keypoint_scores")):
        raise _bad(path, i, p, "needs id, img_id, keypoints (K, 2) and keypoint_scores (K,): is the file from "
                               "`mlpose test --dump`?")
    arrays = ("keypoints", "keypoint_scores", "center", "scale")
    try:
        pred = {k: np.asarray(v) if k in arrays else v for k, v in p.items()}
    except ValueError:  # ragged lists
        pred = {}
    if not pred or any(pred[k].dtype.kind not in "fiu" for k in arrays if k in pred):
        raise _bad(path, i, p, "has keypoints, scores, center or scale that are not arrays of numbers")
    k = len(pred["keypoints"]) if pred["keypoints"].ndim else -1
    if pred["keypoints"].shape != (k, 2) or pred["keypoint_scores"].shape != (k,) or not _integer(p["img_id"]):
        raise _bad(path, i, p, "needs keypoints (K, 2), keypoint_scores (K,) and an integer img_id")
    return pred


def check_predictions(preds: list[dict], path, evaluator) -> None:
    """Check predictions against what ``evaluator`` evaluates: the keypoint count of its layout
    and the image ids of its annotation file (where its metrics have one).

    Raises:
        ConfigError: one line naming the file, the first offending entry and what to do.
    """
    metrics = getattr(evaluator, "metrics", [evaluator])
    counts = {len(m.dataset_meta["sigmas"]) for m in metrics if (m.dataset_meta or {}).get("sigmas") is not None}
    if len(counts) == 1:
        (expected,) = counts
        for i, p in enumerate(preds):
            if len(p["keypoints"]) != expected:
                raise ConfigError(
                    f"{path}: entry {i} (image_id {p['img_id']}) has {len(p['keypoints'])} keypoints but the "
                    f"evaluated layout ({evaluator.dataset_meta.get('dataset_name', 'the config')}) has {expected}; "
                    "evaluate with the config of the model that made them")
    files = [(m.coco, m.ann_file) for m in metrics if getattr(m, "coco", None) is not None]
    if len(files) == 1:
        (coco, ann_file), = files
        known = set(coco.getImgIds())
        missing = [i for i, p in enumerate(preds) if int(p["img_id"]) not in known]
        if missing:
            first = missing[0]
            raise ConfigError(
                f"{path}: entry {first} has image_id {preds[first]['img_id']}, which is not in {ann_file} "
                f"({len(missing)} of {len(preds)} entries are of images not in it); evaluate against the "
                "annotation file of the predicted images (--ann-file FILE)")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value) -> bool:
    return _number(value) and float(value).is_integer()
