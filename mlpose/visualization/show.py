"""``--show-dir`` / ``--show``: draw predicted (and ground-truth) keypoints on the original image."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from mlpose.errors import ConfigError
from mlpose.runtime import dist
from mlpose.visualization.draw import draw_pose


def check_display() -> None:
    """Fail early and clearly when ``--show`` cannot open a window."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise ConfigError("--show needs a display ($DISPLAY is not set); use --show-dir DIR to save the pictures instead")
    if "GTK" not in cv2.getBuildInformation() and "QT" not in cv2.getBuildInformation().upper():
        raise ConfigError("--show needs an OpenCV with a GUI backend (opencv-python-headless has none); use --show-dir DIR")


class PredictionShow:
    """Saves (``show_dir``) and/or shows (``show``) every ``interval``-th evaluated sample; rank 0 only.

    Args:
        show_dir: folder for the pictures (``IMGID_ANNID.jpg``), or None; each is also logged
            to the tracker under ``show/``.
        show: open a window per picture for ``wait_time`` seconds (fails now without a display).
        interval: draw every ``interval``-th sample of the evaluation.
        wait_time: seconds a ``--show`` window stays up.
        skeleton: keypoint index pairs to link (the dataset's ``skeleton``).
    """

    def __init__(self, show_dir: Path | None = None, show: bool = False, interval: int = 1,
                 wait_time: float = 1.0, skeleton: Sequence[tuple[int, int]] = ()):
        if show:
            check_display()
        self.show_dir, self.show, self.interval, self.wait_time = show_dir, show, interval, wait_time
        self.skeleton = skeleton

    @property
    def enabled(self) -> bool:
        return bool(self.show_dir or self.show) and dist.is_main()

    def __call__(self, metas: list[dict], preds: list[dict], batch_index: int, tracker) -> None:
        """Draw the due samples of one batch (``batch_index`` counts the evaluation's batches)."""
        if not self.enabled:
            return
        base = batch_index * len(metas)
        for j, (meta, pred) in enumerate(zip(metas, preds)):
            if (base + j) % max(self.interval, 1):
                continue
            img = cv2.imread(str(meta["img_path"]))
            if img is None:
                continue
            out = draw_pose(img, np.asarray(pred["keypoints"])[None], np.asarray(pred["keypoint_scores"])[None],
                            skeleton=self.skeleton, gt_keypoints=np.asarray(meta["keypoints"])[None])
            if self.show_dir:
                self.show_dir.mkdir(parents=True, exist_ok=True)
                path = self.show_dir / f"{meta['img_id']}_{meta['id']}.jpg"
                cv2.imwrite(str(path), out)
                tracker.log_artifact(str(path), "show")
            if self.show:
                cv2.imshow("mlpose", out)
                cv2.waitKey(max(int(self.wait_time * 1000), 1))
