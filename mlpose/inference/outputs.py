"""What predictions become: COCO keypoint results (what ``mlpose evaluate`` reads), the pyfunc
model's JSON answer, and pictures with skeletons."""
from __future__ import annotations

import cv2
import numpy as np

from mlpose.inference.predictor import Person
from mlpose.visualization import draw_pose

BOX_COLOR = (255, 200, 0)  # BGR


def coco_results(people: list[Person], image_id: int, file_name: str | None = None) -> list[dict]:
    """COCO keypoint results of one image: ``{image_id, category_id: 1, keypoints: [x, y,
    score] * K, score, bbox: [x, y, w, h]}`` (plus ``file_name``), pixel coordinates.

    ``score`` is the box's (detector) score: ``mlpose evaluate`` rescores it with the keypoint
    scores and applies OKS-NMS as the config's evaluator does, the way ``mlpose test`` scores the
    same boxes of a ``bbox_file``.
    """
    out = []
    for p in people:
        kpts = np.concatenate([p.keypoints, p.keypoint_scores[:, None]], axis=1)
        result = {"image_id": int(image_id), "category_id": 1, "keypoints": [round(float(v), 6) for v in kpts.ravel()],
                  "score": round(float(p.bbox_score), 6), "bbox": [round(float(v), 3) for v in p.bbox]}
        if file_name is not None:
            result["file_name"] = file_name
        out.append(result)
    return out


def pose_answer(people: list[Person]) -> dict:
    """The pyfunc model's answer for one image: ``{"poses": [{"keypoints": [[x, y, score]] * K,
    "bbox": [x, y, w, h], "bbox_score": s}, ...]}`` in image pixels, full float precision."""
    return {"poses": [{"keypoints": np.concatenate([p.keypoints, p.keypoint_scores[:, None]], 1).astype(float).tolist(),
                       "bbox": p.bbox.astype(float).tolist(), "bbox_score": float(p.bbox_score)} for p in people]}


def draw_people(image: np.ndarray, people: list[Person], metainfo: dict, kpt_thr: float = 0.3) -> np.ndarray:
    """``image`` (BGR uint8) with each person's box and skeleton drawn (keypoints scoring below
    ``kpt_thr`` left out), coloured as the dataset's metainfo says."""
    out = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 400))
    for p in people:
        x, y, w, h = (int(round(float(v))) for v in p.bbox)
        cv2.rectangle(out, (x, y), (x + w, y + h), BOX_COLOR, thickness, cv2.LINE_AA)
    if not people:
        return out
    return draw_pose(out, np.stack([p.keypoints for p in people]), np.stack([p.keypoint_scores for p in people]),
                     skeleton=metainfo.get("skeleton", ()), kpt_thr=kpt_thr,
                     kpt_colors=metainfo.get("keypoint_colors"), link_colors=metainfo.get("skeleton_colors"))
