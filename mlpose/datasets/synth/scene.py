"""Compose one synthetic image: background, a crowd, people, occluders; label visibility."""
from __future__ import annotations

import cv2
import numpy as np

from .pose import P, POINTS, project, sample_pose, sample_view
from .difficulty import PRESETS, Difficulty
from .render import (EAR_BEHIND, OCCLUDER, PART, appearance, background, draw_occluder,
                     draw_person)

# The parts a keypoint belongs to: being painted over by one of them does not hide it.
_OWN = {
    "head": ("head",), "head_top": ("head",), "neck": ("neck", "torso", "head"),
    "nose": ("head",), "left_eye": ("head",), "right_eye": ("head",),
    "left_ear": ("head",), "right_ear": ("head",), "pelvis": ("torso",),
}
for _s in ("left", "right"):
    _OWN.update({
        f"{_s}_shoulder": ("torso", f"{_s}_upper_arm"),
        f"{_s}_elbow": (f"{_s}_upper_arm", f"{_s}_forearm"),
        f"{_s}_wrist": (f"{_s}_forearm", f"{_s}_hand"), f"{_s}_hand": (f"{_s}_hand",),
        f"{_s}_hip": ("torso", f"{_s}_thigh"), f"{_s}_knee": (f"{_s}_thigh", f"{_s}_shin"),
        f"{_s}_ankle": (f"{_s}_shin", f"{_s}_foot"), f"{_s}_toe": (f"{_s}_foot",),
    })
OWN_PARTS = [frozenset(PART[p] for p in _OWN[name]) for name in POINTS]
FACE = [P[n] for n in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
MIN_BOX = 2.0  # pixels: people whose box in the image is thinner are not drawn


def extent(proj: dict, scale: float) -> np.ndarray:
    """Unclipped box (x1, y1, x2, y2) around everything drawn for a person, with margin."""
    xy, r = proj["xy"], proj["head_radius"]
    pad = 0.04 * scale
    head = xy[P["head"]]
    lo = np.minimum(xy.min(0) - pad, head - 1.2 * r)
    hi = np.maximum(xy.max(0) + pad, head + 1.2 * r)
    return np.concatenate([lo, hi])


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.clip(box, 0, [width - 1, height - 1, width - 1, height - 1])


def _place(rng, rel: np.ndarray, width: int, height: int, cut: bool) -> np.ndarray:
    """Pick the pelvis position so that box ``rel`` (relative to the pelvis) lands in the
    image, or, with ``cut``, hangs over a random image border by 15-60%."""
    origin = np.zeros(2)
    for axis, size in ((0, width), (1, height)):
        lo, hi = -rel[axis], size - 1 - rel[axis + 2]
        origin[axis] = rng.uniform(min(lo, hi), max(lo, hi))
    if cut:
        axis, far = int(rng.integers(2)), bool(rng.integers(2))
        span = rel[axis + 2] - rel[axis]
        out = rng.uniform(0.15, 0.6) * span
        size = (width, height)[axis]
        origin[axis] = size - 1 + out - rel[axis + 2] if far else -out - rel[axis]
    return origin


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether boxes (x1, y1, x2, y2) intersect."""
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def _shrink(person: dict, factor: float) -> None:
    """Scale a person (not yet placed) by ``factor``: their box relative to the pelvis too."""
    person["scale"], person["rel"] = person["scale"] * factor, person["rel"] * factor


def _new_person(rng, scale: float, d: Difficulty) -> dict:
    pose = sample_pose(rng, d.style_p, d.head_turn)
    view = sample_view(rng, d.front_p, d.other_yaw, d.upright_p, d.lying_p, d.front_yaw)
    rel = extent(project(pose, view, scale, (0.0, 0.0)), scale)
    return dict(pose=pose, view=view, scale=scale, rel=rel, app=appearance(rng))


def visibility(proj: dict, depths: np.ndarray, slot: int, owner: np.ndarray,
               scale: float) -> np.ndarray:
    """COCO flags for every point: 2 visible, 1 hidden (by anything), 0 outside the image."""
    height, width = owner.shape
    xy, d = proj["xy"], proj["depth"]
    vis = np.zeros(len(POINTS), np.int64)
    tol = 0.05 * scale
    for i, (x, y) in enumerate(xy):
        if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
            continue
        tag = int(owner[int(round(y)), int(round(x))])
        if tag == 0:
            vis[i] = 2  # nothing painted exactly here (a joint on an outline): uncovered
        elif tag == OCCLUDER or (tag - 1) // 32 != slot:
            vis[i] = 1
        else:
            part = (tag - 1) % 32
            vis[i] = 2 if part in OWN_PARTS[i] or depths[part] >= d[i] - tol else 1
    # The face is on the front of the head: points turned away are hidden by the head.
    r = proj["head_radius"]
    for i in FACE:
        behind = d[i] > d[P["head"]] + (EAR_BEHIND * r if POINTS[i].endswith("ear") else 0.0)
        if vis[i] == 2 and behind:
            vis[i] = 1
    return vis


def compose(rng: np.random.Generator, width: int, height: int, crowd: bool,
            tiny: bool | None = None, difficulty: Difficulty = PRESETS["normal"]):
    """Render one image; ``crowd`` adds an iscrowd region, ``tiny`` a person too small to
    label (None: at random, 30% of images); ``difficulty`` sets how often the hard cases occur.

    Returns:
        (img BGR uint8 (H, W, 3), people, crowd_boxes): ``people`` is a list of dicts with
        ``xy`` (len(POINTS), 2) pixels, ``vis`` (len(POINTS),) COCO flags (all 0 for people
        too small to label), ``bbox`` clipped (x1, y1, x2, y2) and ``labelled``;
        ``crowd_boxes`` lists clipped (x1, y1, x2, y2) boxes of iscrowd regions.
    """
    d = difficulty
    img = background(rng, width, height, d.background_shapes, d.sticks)
    owner = np.zeros((height, width), np.uint16)
    todo: list[tuple[dict, np.ndarray, bool]] = []  # (person, origin, labelled)
    crowd_boxes = []
    if crowd:
        centre = rng.uniform(0.25, 0.75, 2) * (width, height)
        half = rng.uniform([0.15, 0.1], [0.28, 0.18]) * (width, height)
        members = []
        for _ in range(int(rng.integers(5, 10))):
            person = _new_person(rng, height * rng.uniform(0.12, 0.22), d)
            origin = centre + rng.uniform(-1, 1, 2) * half
            members.append((person, origin, False))
        box = np.array([min(p["rel"][0] + o[0] for p, o, _ in members),
                        min(p["rel"][1] + o[1] for p, o, _ in members),
                        max(p["rel"][2] + o[0] for p, o, _ in members),
                        max(p["rel"][3] + o[1] for p, o, _ in members)])
        crowd_boxes.append(clip_box(box, width, height))
        todo += members
    people = []
    for _ in range(int(rng.choice(d.people, p=d.people_p))):
        big = rng.random() < d.big_p
        scale = height * (rng.uniform(1.0, 1.6) if big
                          else np.exp(rng.uniform(d.min_log_scale, 0.0)))
        person = _new_person(rng, scale, d)
        if d.fit:  # shrink whoever (arms up, a wide stance) would not fit in the image
            size = person["rel"][2:] - person["rel"][:2]
            _shrink(person, min(1.0, 0.98 * min(width / size[0], height / size[1])))
        if people and rng.random() < d.close_p:  # stand close to someone: person-person occlusion
            prev, o = people[-1]
            origin = o + rng.normal(0, [0.25 * prev["scale"], 0.08 * prev["scale"]])
        else:
            cut = big or rng.random() < d.cut_p
            origin = _place(rng, person["rel"], width, height, cut)
            for attempt in range(0 if d.overlap else 30):  # look for a free spot, shrinking now and then
                if not any(_overlap(person["rel"] + np.tile(origin, 2), p["rel"] + np.tile(o, 2))
                           for p, o in people):
                    break
                if attempt % 5 == 4:
                    _shrink(person, 0.85)
                origin = _place(rng, person["rel"], width, height, cut)
        people.append((person, origin))
    if rng.random() < 0.3 if tiny is None else tiny:
        # Too small to label: a box without keypoints, as COCO has many.
        person = _new_person(rng, height * rng.uniform(0.08, 0.135), d)
        people.append((person, _place(rng, person["rel"], width, height, cut=False)))
    people.sort(key=lambda po: po[0]["scale"] * rng.uniform(0.8, 1.2))  # far ones first
    todo += [(p, o, p["scale"] >= 0.14 * height) for p, o in people]

    drawn = []
    for slot, (person, origin, labelled) in enumerate(todo):
        box = clip_box(person["rel"] + np.tile(origin, 2), width, height)
        if min(box[2] - box[0], box[3] - box[1]) < MIN_BOX:
            continue
        proj = project(person["pose"], person["view"], person["scale"], tuple(origin))
        depths = draw_person(img, owner, proj, person["scale"], person["app"], slot)
        drawn.append((slot, person, proj, depths, box, labelled))
    annotated = [x for x in drawn if x[0] >= (len(todo) - len(people))]
    if annotated and rng.random() < d.occluder_p:
        for _ in range(int(rng.integers(1, d.max_occluders + 1))):
            target = annotated[int(rng.integers(len(annotated)))][4]
            draw_occluder(rng, img, owner, target)

    out = []
    for slot, person, proj, depths, box, labelled in annotated:
        vis = visibility(proj, depths, slot, owner, person["scale"]) if labelled \
            else np.zeros(len(POINTS), np.int64)
        out.append(dict(xy=proj["xy"], vis=vis, bbox=box, labelled=labelled))
    return _finish(rng, img), out, crowd_boxes


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Camera effects: slight blur sometimes, sensor noise always."""
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (3, 3), 0)
    sigma = rng.uniform(2, 9)
    # Luminance noise, one value per pixel for all channels: a third of the random draws.
    noise = (rng.standard_normal(img.shape[:2], dtype=np.float32) * sigma).astype(np.int16)
    return np.clip(img.astype(np.int16) + noise[..., None], 0, 255).astype(np.uint8)
