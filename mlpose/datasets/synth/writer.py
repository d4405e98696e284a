"""Write the synthetic dataset: JPEG images, COCO and AIC keypoint json, detections."""
from __future__ import annotations

import errno
import json
import time
from pathlib import Path

import cv2
import numpy as np
from rich.progress import track

from mlpose.errors import ConfigError

from .difficulty import get_difficulty
from .pose import P
from .scene import compose

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# The official COCO person skeleton (1-based keypoint numbers).
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7],
                 [6, 8], [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5],
                 [4, 6], [5, 7]]
AIC_KEYPOINTS = (
    "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "head_top", "neck",
)
AIC_SKELETON = [[3, 2], [2, 1], [1, 14], [14, 4], [4, 5], [5, 6], [9, 8], [8, 7], [7, 10],
                [10, 11], [11, 12], [13, 14], [1, 7], [4, 10]]
SPLITS = {"train": (0, 0), "val": (1, 10_000_000)}  # split: (seed stream, image id base)
# Every split of 6 images or more has each hard case: images 2, 8, 14, ... hold an
# iscrowd region and images 4, 10, 16, ... a person too small to label.
CROWD_EVERY = 6
GENERATOR_VERSION = 1


def _r(x) -> float:
    return round(float(x), 2)


def _instance(ann_id: int, image_id: int, person: dict | None, box, names, crowd=False):
    k = len(names)
    kpts, num = [0] * (3 * k), 0
    if person is not None:
        kpts = []
        for name in names:
            v = int(person["vis"][P[name]])
            x, y = person["xy"][P[name]]
            kpts += [_r(x), _r(y), v] if v else [0, 0, 0]
            num += v > 0
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    # A person covers roughly 60% of their box; COCO's area is the segment area.
    return dict(id=ann_id, image_id=image_id, category_id=1, keypoints=kpts, num_keypoints=num,
                bbox=[_r(x1), _r(y1), _r(w), _r(h)], area=_r(0.6 * w * h),
                iscrowd=int(crowd))


def _detections(rng, image_id: int, anns: list[dict], width: int, height: int,
                other_class: bool) -> list[dict]:
    """Fake detector output: jittered GT boxes, misses, duplicates, false alarms, and with
    ``other_class`` one box of category 2, which person datasets must drop."""
    dets = []

    def add(box, score, category=1):
        x1, y1 = max(0.0, box[0]), max(0.0, box[1])
        x2, y2 = min(width - 1.0, box[0] + box[2]), min(height - 1.0, box[1] + box[3])
        if x2 - x1 >= 2 and y2 - y1 >= 2:
            dets.append(dict(image_id=image_id, category_id=category,
                             bbox=[_r(x1), _r(y1), _r(x2 - x1), _r(y2 - y1)],
                             score=round(float(score), 4)))

    for ann in anns:
        if ann["iscrowd"] or rng.random() < 0.07:  # detectors miss some people
            continue
        x, y, w, h = ann["bbox"]
        cx, cy = x + w / 2 + rng.normal(0, 0.05 * w), y + h / 2 + rng.normal(0, 0.05 * h)
        w2, h2 = w * np.exp(rng.normal(0, 0.08)), h * np.exp(rng.normal(0, 0.08))
        score = rng.uniform(0.55, 0.99)
        add([cx - w2 / 2, cy - h2 / 2, w2, h2], score)
        if rng.random() < 0.1:  # a duplicate that non-maximum suppression let through
            add([cx - w2 / 2 + 0.1 * w, cy - h2 / 2, w2, h2 * 0.9], score * 0.4)
    for k in range(int(rng.poisson(0.8)) + int(other_class)):
        w, h = rng.uniform(0.05, 0.4) * width, rng.uniform(0.1, 0.6) * height
        add([rng.uniform(0, width - w), rng.uniform(0, height - h), w, h],
            rng.uniform(0.02, 0.5), category=2 if other_class and k == 0 else 1)
    return dets


def _categories(names, skeleton) -> list[dict]:
    return [dict(id=1, name="person", supercategory="person", keypoints=list(names),
                 skeleton=skeleton)]


def _dump(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, separators=(",", ":")))


#: What :func:`generate` writes under ``out_dir`` besides the images.
ANNOTATION_FILES = tuple(f"annotations/{name}" for name in (
    "person_keypoints_train.json", "person_keypoints_val.json", "aic_train.json", "aic_val.json",
    "person_detection_results_val.json", "synth_info.json"))


def refuse_to_overwrite(out: Path, files: tuple[str, ...] = ANNOTATION_FILES) -> None:
    """Raise unless ``out`` is free of a dataset: none of ``files`` (relative to ``out``)
    exists and ``images/train``, ``images/val`` hold no file.

    Raises:
        ConfigError: one line naming what is there and the way out (``--overwrite``).
    """
    found = [str(out / f) for f in files if (out / f).exists()]
    for split in SPLITS:
        folder = out / "images" / split
        if folder.is_dir():
            count = sum(1 for p in folder.iterdir() if p.is_file())
            if count:
                found.append(f"{count} image(s) in {folder}")
    if found:
        more = f" and {len(found) - 2} more" if len(found) > 2 else ""
        raise ConfigError(f"synth: {out} already holds a dataset ({'; '.join(found[:2])}{more}); writing would "
                          "replace it: give a new or empty OUT, or --overwrite to replace those files")


def generate(out_dir, num_train: int = 200, num_val: int = 50, seed: int = 0,
             image_size: tuple[int, int] = (256, 256), progress: bool = True,
             difficulty: str = "normal", overwrite: bool = False) -> dict:
    """Generate the synthetic person-keypoint dataset under ``out_dir``.

    Writes ``images/{train,val}/<image id>.jpg``, ``annotations/person_keypoints_{train,
    val}.json`` (COCO, 17 keypoints), ``annotations/aic_{train,val}.json`` (the same people
    with the 14 AIC keypoints), ``annotations/person_detection_results_val.json`` (COCO
    results format) and ``annotations/synth_info.json``. The output is a deterministic
    function of the arguments (image ``i`` of a split depends only on seed, split and i).

    Args:
        out_dir: destination folder (created).
        num_train: number of training images.
        num_val: number of validation images.
        seed: random seed.
        image_size: (width, height) in pixels, each >= 32.
        progress: show a progress bar.
        difficulty: scene preset, ``"normal"`` (the full variety), ``"easy"`` (the same
            hard cases, rarer and milder) or ``"simple"`` (whole, unoccluded people; the
            demo's): see :mod:`~mlpose.datasets.synth.difficulty`.
        overwrite: replace the files of a dataset already in ``out_dir`` (files of other
            names are left); without it such a folder is refused.

    Returns:
        summary dict: ``out_dir``, per-split ``images``/``instances``/``labelled``/``crowd``
        counts, ``detections``, ``seconds`` and ``images_per_s``.

    Raises:
        ConfigError: a bad size or count, an unwritable ``out_dir``, or one that already holds a
            dataset (without ``overwrite``).
    """
    preset = get_difficulty(difficulty)
    width, height = (int(v) for v in image_size)
    if width < 32 or height < 32:
        raise ConfigError(f"synth: image_size {tuple(image_size)} is too small; use >= 32x32")
    if num_train < 0 or num_val < 0:
        raise ConfigError(f"synth: num_train={num_train}, num_val={num_val} must be >= 0")
    out = Path(out_dir)
    if not overwrite:
        refuse_to_overwrite(out)
    try:
        return _generate(out, num_train, num_val, seed, (width, height), progress, difficulty, preset)
    except OSError as exc:  # a read-only or full folder: one line, not a traceback
        where = exc.filename or out
        raise ConfigError(f"synth: cannot write {where} ({exc.strerror or exc}); choose a writable "
                          "folder for OUT") from None


def _generate(out: Path, num_train: int, num_val: int, seed: int, size: tuple[int, int], progress: bool,
              difficulty: str, preset) -> dict:
    width, height = size
    (out / "annotations").mkdir(parents=True, exist_ok=True)
    summary: dict = dict(out_dir=str(out), image_size=[width, height], seed=seed,
                         difficulty=difficulty, splits={})
    start = time.perf_counter()
    for split, count in (("train", num_train), ("val", num_val)):
        summary["splits"][split], detections = _write_split(out, split, count, seed, (width, height), preset,
                                                            progress)
        if detections is not None:
            summary["detections"] = detections
    seconds = time.perf_counter() - start
    summary.update(seconds=round(seconds, 3),
                   images_per_s=round((num_train + num_val) / max(seconds, 1e-9), 1))
    _dump(dict(generator_version=GENERATOR_VERSION, seed=seed, num_train=num_train,
               num_val=num_val, image_size=[width, height], difficulty=difficulty),
          out / "annotations" / "synth_info.json")
    return summary


def _write_split(out: Path, split: str, count: int, seed: int, size: tuple[int, int], preset,
                 progress: bool) -> tuple[dict, int | None]:
    """Render and write one split's images and annotation files.

    Returns:
        (the split's counts: images, instances, labelled, crowd; the number of detections
        written, None for a split without a detection file).
    """
    width, height = size
    stream, id_base = SPLITS[split]
    (out / "images" / split).mkdir(parents=True, exist_ok=True)
    images, coco_anns, aic_anns, dets = [], [], [], []
    steps = track(range(count), description=f"synth {split}", disable=not progress,
                  total=count, transient=True)
    for i in steps:
        rng = np.random.default_rng([seed, stream, i])
        image_id = id_base + i + 1
        img, people, crowd_boxes = compose(rng, width, height, crowd=i % CROWD_EVERY == 2,
                                           tiny=True if i % CROWD_EVERY == 4 else None,
                                           difficulty=preset)
        file_name = f"{image_id:012d}.jpg"
        target = out / "images" / split / file_name
        if not cv2.imwrite(str(target), img, [cv2.IMWRITE_JPEG_QUALITY, 92]):  # OpenCV only returns False
            raise OSError(errno.EIO, "OpenCV could not write the image", str(target))
        images.append(dict(id=image_id, file_name=file_name, width=width, height=height))
        entries = [(p, p["bbox"], False) for p in people] + \
            [(None, b, True) for b in crowd_boxes]
        img_anns = []
        for j, (person, box, crowd) in enumerate(entries):
            ann_id = image_id * 100 + j + 1
            img_anns.append(_instance(ann_id, image_id, person, box, COCO_KEYPOINTS, crowd))
            aic_anns.append(_instance(ann_id, image_id, person, box, AIC_KEYPOINTS, crowd))
        coco_anns += img_anns
        if split == "val":
            det_rng = np.random.default_rng([seed, stream, i, 1])
            dets += _detections(det_rng, image_id, img_anns, width, height,
                                other_class=i % 3 == 1)
    _dump(dict(info=dict(description=f"mlpose synthetic people ({split})",
                         version=GENERATOR_VERSION),
               images=images, annotations=coco_anns,
               categories=_categories(COCO_KEYPOINTS, COCO_SKELETON)),
          out / "annotations" / f"person_keypoints_{split}.json")
    _dump(dict(images=images, annotations=aic_anns,
               categories=_categories(AIC_KEYPOINTS, AIC_SKELETON)),
          out / "annotations" / f"aic_{split}.json")
    if split == "val":
        _dump(dets, out / "annotations" / "person_detection_results_val.json")
    counts = dict(images=count, instances=sum(1 for a in coco_anns if not a["iscrowd"]),
                  labelled=sum(1 for a in coco_anns if a["num_keypoints"] > 0),
                  crowd=sum(a["iscrowd"] for a in coco_anns))
    return counts, len(dets) if split == "val" else None
