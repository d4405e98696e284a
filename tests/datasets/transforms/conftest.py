"""Transform-test helpers (as fixtures: tests run with --import-mode=importlib)."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
UPPER = list(range(11))
LOWER = list(range(11, 17))


def textured_image(h: int = 120, w: int = 100, seed: int = 0) -> np.ndarray:
    """Smooth BGR image with no left/right or up/down symmetry (gradients plus blobs)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xx / w * 200, yy / h * 180, (xx * yy) / (w * h) * 250], axis=-1)
    rng = np.random.default_rng(seed)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(4, 12)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    return cv2.GaussianBlur(img, (5, 5), 1.0).clip(0, 255).astype(np.uint8)


def make_item(img_path="", k: int = 17, seed: int = 0, img_size=(100, 120)) -> dict:
    """A dataset item as the datasets produce it (one instance, COCO-like metainfo)."""
    rng = np.random.default_rng(seed)
    w, h = img_size
    kp = rng.uniform([20, 15], [w - 20, h - 15], size=(1, k, 2)).astype(np.float32)
    return dict(
        img_path=str(img_path),
        img_id=7,
        id=70,
        category_id=1,
        bbox=np.array([[15, 10, w - 15, h - 10]], np.float32),
        bbox_score=np.ones(1, np.float32),
        keypoints=kp,
        keypoints_visible=np.ones((1, k), np.float32),
        area=np.float32(1234.0),
        dataset_name="coco",
        flip_indices=COCO_FLIP[:k] if k == 17 else list(range(k)),
        upper_body_ids=UPPER,
        lower_body_ids=LOWER,
    )


@pytest.fixture
def tf():
    """The helpers above: ``tf.make_item``, ``tf.textured_image``, ``tf.COCO_FLIP``."""
    return SimpleNamespace(make_item=make_item, textured_image=textured_image, COCO_FLIP=COCO_FLIP)


@pytest.fixture
def jpeg_path(tmp_path):
    """A 100x120 textured JPEG on disk."""
    path = tmp_path / "person.jpg"
    cv2.imwrite(str(path), textured_image(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path
