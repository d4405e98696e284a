"""COCO-size annotation and detection files over a few hundred rendered images, re-used.

``write_coco_size(out_dir, num_train=200, num_val=50)`` renders that many images with
:func:`~mlpose.datasets.synth.writer.generate`, then writes annotation files with COCO 2017's
counts (:data:`COCO_2017`: listed images, images with people, labelled people, all person
annotations, and the ~104k person detections of MMPose's val detection file) whose images
re-use the rendered ones: every image entry names one rendered file, and its annotations are
that file's people (same pixels, same boxes and keypoints, new ids). The files are the size of
COCO's (each annotation also carries a polygon ``segmentation``, as COCO's do), so loading,
memory, DataLoader workers and evaluation meet the sizes users meet, without COCO's images.

Layout under ``out_dir`` (the COCO recipes' names, so ``data_root=out_dir`` works)::

    annotations/person_keypoints_{train,val}2017.json
    person_detection_results/COCO_val2017_detections_AP_H_56_person.json
    train2017 -> images/train,  val2017 -> images/val      (symbolic links)

(plus the rendered set's own small files, see ``generate``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mlpose.errors import ConfigError

from .writer import ANNOTATION_FILES, generate, refuse_to_overwrite

DETECTION_FILE = "person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
COCO_SIZE_FILES = ("annotations/person_keypoints_train2017.json", "annotations/person_keypoints_val2017.json",
                   DETECTION_FILE)


@dataclass(frozen=True)
class SplitSize:
    """The counts of one split's person-keypoint annotation file.

    Attributes:
        images: image entries listed (COCO lists every image, with people or not).
        person_images: images with at least one person annotation.
        labelled_images: images with at least one person with labelled keypoints.
        labelled: person annotations with keypoints (the instances top-down training uses).
        annotations: all person annotations (the rest have no keypoints: small, crowds).
        detections: person boxes in the detection file (0: none written).
    """

    images: int
    person_images: int
    labelled_images: int
    labelled: int
    annotations: int
    detections: int = 0


#: COCO 2017 person keypoints: train2017 and val2017 (``labelled_images`` of val: about 2,346).
COCO_2017 = {
    "train": SplitSize(118_287, 64_115, 56_599, 149_813, 262_465),
    "val": SplitSize(5_000, 2_693, 2_346, 6_352, 11_004, detections=104_125),
}
POLYGON_VERTICES = 40  # COCO's person polygons average a few dozen vertices


def write_coco_size(out_dir, num_train: int = 200, num_val: int = 50, seed: int = 0,
                    image_size: tuple[int, int] = (256, 256), progress: bool = True,
                    sizes: dict[str, SplitSize] | None = None, difficulty: str = "normal",
                    overwrite: bool = False) -> dict:
    """Render ``num_train``/``num_val`` images and write COCO-size files re-using them.

    Args:
        out_dir: destination folder (created).
        num_train, num_val: rendered images per split (a few hundred are enough).
        seed: random seed (rendering and the re-use plan).
        image_size: (width, height) of the rendered images.
        progress: show the rendering progress bar.
        difficulty: the rendered scenes' preset (see ``generate``).
        sizes: per-split counts; default :data:`COCO_2017`.
        overwrite: replace the files of a dataset already in ``out_dir``; else it is refused.

    Returns:
        summary: per split the counts written and the file size in bytes, and ``detections``.
    """
    sizes = sizes or COCO_2017
    out = Path(out_dir)
    if not overwrite:
        refuse_to_overwrite(out, (*ANNOTATION_FILES, *COCO_SIZE_FILES))
    generate(out, num_train=num_train, num_val=num_val, seed=seed, image_size=image_size,
             progress=progress, difficulty=difficulty, overwrite=True)
    summary: dict = {"out_dir": str(out), "splits": {}}
    for stream, split in enumerate(("train", "val")):
        rng = np.random.default_rng([seed, 7, stream])
        source = json.loads((out / "annotations" / f"person_keypoints_{split}.json").read_text())
        dataset = _scaled_split(rng, source, sizes[split])
        path = out / "annotations" / f"person_keypoints_{split}2017.json"
        path.write_text(json.dumps(dataset, separators=(",", ":")))
        summary["splits"][split] = dict(
            images=len(dataset["images"]), annotations=len(dataset["annotations"]),
            labelled=sum(a["num_keypoints"] > 0 for a in dataset["annotations"]),
            bytes=path.stat().st_size)
        if sizes[split].detections:
            dets = _detections(rng, dataset, sizes[split].detections)
            det_path = out / DETECTION_FILE
            det_path.parent.mkdir(parents=True, exist_ok=True)
            det_path.write_text(json.dumps(dets, separators=(",", ":")))
            summary["detections"] = dict(count=len(dets), bytes=det_path.stat().st_size)
        link = out / f"{split}2017"
        if not link.exists():
            os.symlink(Path("images") / split, link)
    return summary


def _by_image(source: dict) -> list[tuple[dict, list[dict], list[dict]]]:
    """(image, labelled annotations, other annotations) of each rendered image."""
    anns: dict[int, list[dict]] = {}
    for ann in source["annotations"]:
        anns.setdefault(ann["image_id"], []).append(ann)
    out = []
    for img in source["images"]:
        own = anns.get(img["id"], [])
        labelled = [a for a in own if a["num_keypoints"] > 0 and not a["iscrowd"]]
        out.append((img, labelled, [a for a in own if a not in labelled]))
    return out


def _plan_counts(rng, sources: list[int], counts: np.ndarray, size: SplitSize) -> tuple[list[int], list[int]]:
    """Which rendered image each labelled image re-uses, and how many of its people it keeps,
    so the labelled people add up to ``size.labelled`` exactly.

    Sources are drawn with more people while the running total is below its share and with
    fewer while above, so the mean comes out at COCO's; the surplus left at the end is taken
    off images with more than one person (those people stay in the pixels, unlabelled, as in
    COCO).
    """
    rich = [s for s in sources if counts[s] * size.labelled_images >= size.labelled]
    if not rich:
        raise ConfigError(f"coco-size: {size.labelled} labelled people in {size.labelled_images} images "
                          f"need images of {size.labelled / size.labelled_images:.1f} people on average; "
                          f"the rendered ones hold at most {counts.max()}")
    poor = [s for s in sources if s not in rich] or rich
    rng.shuffle(rich)
    rng.shuffle(poor)
    chosen, total = [], 0
    for j in range(size.labelled_images):
        below = total * size.labelled_images < size.labelled * (j + 1)
        queue = rich if below else poor
        chosen.append(queue[j % len(queue)])
        total += counts[chosen[-1]]
    keep = [int(counts[s]) for s in chosen]
    richest = max(sources, key=lambda s: counts[s])
    j = len(chosen) - 1
    while total < size.labelled and j >= 0:  # short (rare): the last images take the richest source
        total += counts[richest] - keep[j]
        chosen[j], keep[j] = richest, int(counts[richest])
        j -= 1
    j = 0
    while total > size.labelled:
        if keep[j % len(keep)] > 1:
            keep[j % len(keep)] -= 1
            total -= 1
        j += 1
    if total != size.labelled:
        raise ConfigError(f"coco-size: cannot reach {size.labelled} labelled people from these images")
    return chosen, keep


def _polygon(bbox: list[float]) -> list[list[float]]:
    """An ellipse inscribed in the box, as one COCO polygon of POLYGON_VERTICES points."""
    x, y, w, h = bbox
    t = np.linspace(0, 2 * np.pi, POLYGON_VERTICES, endpoint=False)
    xy = np.stack([x + w / 2 * (1 + np.cos(t)), y + h / 2 * (1 + np.sin(t))], -1)
    return [np.round(xy, 2).reshape(-1).tolist()]


def _small_person(rng, ann_id: int, img: dict, k: int) -> dict:
    """A person annotation without keypoints (COCO has ~110k of them: small people)."""
    w, h = rng.uniform(6, 40), rng.uniform(12, 80)
    x, y = rng.uniform(0, img["width"] - w), rng.uniform(0, img["height"] - h)
    bbox = [round(x, 2), round(y, 2), round(w, 2), round(h, 2)]
    return dict(id=ann_id, image_id=img["id"], category_id=1, keypoints=[0] * 3 * k, num_keypoints=0,
                bbox=bbox, area=round(0.6 * w * h, 2), iscrowd=0)


def _scaled_split(rng, source: dict, size: SplitSize) -> dict:
    """The COCO-size annotation dict of one split, re-using the rendered images of ``source``."""
    rendered = _by_image(source)
    counts = np.array([len(lab) for _, lab, _ in rendered])
    sources = [i for i, n in enumerate(counts) if n > 0]
    if not sources:
        raise ConfigError("coco-size: the rendered images hold no labelled person; render more")
    chosen, keep = _plan_counts(rng, sources, counts, size)
    k = len(source["annotations"][0]["keypoints"]) // 3
    ids = rng.permutation(size.images) + 1  # which image ids hold people: spread over the file
    images, anns = [], []

    def add_image(img_id: int, src: int) -> dict:
        img = dict(rendered[src][0], id=int(img_id), license=int(rng.integers(1, 9)),
                   date_captured="2013-11-14 16:28:13")
        images.append(img)
        return img

    def add_ann(ann: dict, img: dict) -> None:
        anns.append(dict(ann, id=len(anns) + 1, image_id=img["id"], segmentation=_polygon(ann["bbox"])))

    person_imgs, empty_people = [], size.person_images - size.labelled_images
    for j, (src, n) in enumerate(zip(chosen, keep)):
        img = add_image(ids[j], src)
        person_imgs.append(img)
        for ann in rendered[src][1][:n]:
            add_ann(ann, img)
        for ann in rendered[src][2]:  # its crowds and tiny people, while there is room
            if len(anns) < size.annotations - empty_people:
                add_ann(ann, img)
    for j in range(size.labelled_images, size.images):
        img = add_image(ids[j], int(rng.integers(len(rendered))))
        if j < size.person_images:
            person_imgs.append(img)
            add_ann(_small_person(rng, 0, img, k), img)
    # The rest of the annotations without keypoints, spread over the images with people.
    for j in rng.integers(len(person_imgs), size=size.annotations - len(anns)):
        img = person_imgs[j]
        add_ann(_small_person(rng, 0, img, k), img)
    images.sort(key=lambda im: im["id"])
    return dict(info=dict(description="mlpose synthetic people at COCO 2017 size"), images=images,
                annotations=anns, categories=source["categories"])


def _detections(rng, dataset: dict, total: int) -> list[dict]:
    """``total`` person detections: 1-3 jittered boxes per person, the rest false alarms."""
    sizes = {img["id"]: (img["width"], img["height"]) for img in dataset["images"]}
    boxes, scores, image_ids = [], [], []
    for ann in dataset["annotations"]:
        if ann["iscrowd"]:
            continue
        x, y, w, h = ann["bbox"]
        labelled = ann["num_keypoints"] > 0
        for copy in range(int(rng.choice([1, 2, 3], p=[0.5, 0.3, 0.2]))):
            jitter = 0.05 if copy == 0 else 0.15
            cx, cy = x + w / 2 + rng.normal(0, jitter * w), y + h / 2 + rng.normal(0, jitter * h)
            w2, h2 = w * np.exp(rng.normal(0, jitter)), h * np.exp(rng.normal(0, jitter))
            boxes.append([cx - w2 / 2, cy - h2 / 2, w2, h2])
            top = 0.99 if labelled else 0.7
            scores.append(rng.uniform(0.5, top) / (copy + 1))
            image_ids.append(ann["image_id"])
    del boxes[total:], scores[total:], image_ids[total:]
    ids = list(sizes)
    for img_id in rng.choice(ids, size=total - len(boxes)):  # false alarms, anywhere, low scores
        width, height = sizes[img_id]
        w, h = rng.uniform(0.03, 0.4) * width, rng.uniform(0.05, 0.6) * height
        boxes.append([rng.uniform(0, width - w), rng.uniform(0, height - h), w, h])
        scores.append(rng.uniform(0.01, 0.5))
        image_ids.append(int(img_id))
    dets = []
    for img_id, (x, y, w, h), score in zip(image_ids, boxes, scores):
        width, height = sizes[img_id]
        x1, y1 = max(0.0, x), max(0.0, y)
        x2, y2 = min(width - 1.0, x + w), min(height - 1.0, y + h)
        x2, y2 = max(x2, x1 + 2), max(y2, y1 + 2)
        dets.append(dict(image_id=int(img_id), category_id=1, score=round(float(score), 6),
                         bbox=[round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]))
    dets.sort(key=lambda d: d["image_id"])
    return dets
