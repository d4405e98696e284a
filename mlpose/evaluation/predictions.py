"""Prediction dump files (``mlpose test --dump``) and COCO keypoint results, for ``mlpose evaluate``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mlpose.errors import ConfigError

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


def write_predictions(preds: list[dict], path: str | Path) -> None:
    """Write prediction dicts (numpy arrays as lists) to a JSON dump."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps({"format": DUMP_FORMAT, "predictions": [_plain(p) for p in preds]}))


def read_predictions(path: str | Path, dataset=None) -> list[dict]:
    """Read a ``--dump`` file, or a COCO keypoint results list (``image_id, category_id,
    keypoints [x, y, v]*K, score``) converted to prediction dicts.

    COCO results carry no annotation id or area: each result gets a running ``id``, its
    ``score`` as ``bbox_score`` (keypoint scores from the ``v`` column) and the area of the
    keypoints' bounding box, which is what rescoring and OKS-NMS need; a result's ``bbox``
    (x, y, w, h, as MMPose's results files have) is kept as the prediction's ``bbox``.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read predictions ({exc})") from None
    if isinstance(data, dict) and data.get("format") == DUMP_FORMAT:
        return [{k: np.asarray(v) if k in ("keypoints", "keypoint_scores", "center", "scale") else v
                 for k, v in p.items()} for p in data["predictions"]]
    if not isinstance(data, list) or (data and "keypoints" not in data[0]):
        raise ConfigError(f"{path}: neither an mlpose --dump file nor a COCO keypoint results list")
    dataset_name = (getattr(dataset, "metainfo", None) or {}).get("dataset_name", "coco")
    preds = []
    for i, res in enumerate(data):
        kpts = np.asarray(res["keypoints"], dtype=np.float32).reshape(-1, 3)
        lo, hi = kpts[:, :2].min(0), kpts[:, :2].max(0)
        preds.append({
            "id": i, "img_id": res["image_id"], "category_id": res.get("category_id", 1),
            "keypoints": kpts[:, :2], "keypoint_scores": kpts[:, 2], "bbox_score": float(res.get("score", 1.0)),
            "area": float(np.prod(hi - lo)), "center": (lo + hi) / 2, "scale": hi - lo, "dataset_name": dataset_name,
        })
        if res.get("bbox"):  # x, y, w, h (MMPose writes it): the evaluation takes the area from it
            x, y, w, h = (float(v) for v in res["bbox"][:4])
            preds[-1]["bbox"] = np.array([x, y, x + w, y + h], np.float32)
    return preds
