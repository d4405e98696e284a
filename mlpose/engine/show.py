"""``--show-dir`` / ``--show``: draw predicted (and ground-truth) keypoints on the original image."""
from __future__ import annotations

import os

import cv2
import numpy as np

from mlpose.engine import dist
from mlpose.engine.draw import draw_pose
from mlpose.registry import ConfigError


def check_display() -> None:
    """Fail early and clearly when ``--show`` cannot open a window."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise ConfigError("--show needs a display ($DISPLAY is not set); use --show-dir DIR to save the pictures instead")
    if "GTK" not in cv2.getBuildInformation() and "QT" not in cv2.getBuildInformation().upper():
        raise ConfigError("--show needs an OpenCV with a GUI backend (opencv-python-headless has none); use --show-dir DIR")


def show_predictions(s, metas: list[dict], preds: list[dict], batch_index: int) -> None:
    """Save/show every ``s.vis_interval``-th sample of a batch; rank 0 only."""
    if not dist.is_main():
        return
    base = batch_index * len(metas)
    for j, (meta, pred) in enumerate(zip(metas, preds)):
        if (base + j) % max(s.vis_interval, 1):
            continue
        img = cv2.imread(str(meta["img_path"]))
        if img is None:
            continue
        out = draw_pose(img, np.asarray(pred["keypoints"])[None], np.asarray(pred["keypoint_scores"])[None],
                        skeleton=s.skeleton, gt_keypoints=np.asarray(meta["keypoints"])[None])
        if s.show_dir:
            s.show_dir.mkdir(parents=True, exist_ok=True)
            path = s.show_dir / f"{meta['img_id']}_{meta['id']}.jpg"
            cv2.imwrite(str(path), out)
            if s.tracker is not None:
                s.tracker.log_artifact(str(path), "show")
        if s.show:
            cv2.imshow("mlpose", out)
            cv2.waitKey(max(int(s.wait_time * 1000), 1))
