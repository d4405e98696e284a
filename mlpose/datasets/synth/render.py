"""Drawing: cluttered backgrounds, stick-figure people with volume, occluders.

Every drawn pixel of a person also goes into a ``uint16`` owner map as
``slot * 32 + part + 1`` (0 is background, OCCLUDER an occluder), so visibility flags are
read off what was actually painted.
"""
from __future__ import annotations

import cv2
import numpy as np

from .pose import P

SHIFT = 4  # cv2 fixed-point bits: integer coordinates are pixel centres, drawn at 1/16 px
ONE = 1 << SHIFT
OCCLUDER = 65535
PARTS = ("torso", "neck", "head", "left_upper_arm", "right_upper_arm", "left_forearm",
         "right_forearm", "left_hand", "right_hand", "left_thigh", "right_thigh",
         "left_shin", "right_shin", "left_foot", "right_foot")
PART = {name: i for i, name in enumerate(PARTS)}
# Limb parts: (part, from point, to point, thickness / body height, colour key).
LIMBS = tuple(
    (f"{s}_{part}", f"{s}_{a}", f"{s}_{b}", t, col)
    for s in ("left", "right")
    for part, a, b, t, col in (
        ("upper_arm", "shoulder", "elbow", 0.055, "top"),
        ("forearm", "elbow", "wrist", 0.045, "sleeve"),
        ("thigh", "hip", "knee", 0.075, "bottom"),
        ("shin", "knee", "ankle", 0.058, "shin"),
        ("foot", "ankle", "toe", 0.04, "shoe"),
    )
)
# Ears sit on the sides of the head: one stays in view until it is this many head radii
# behind the head's centre (about 35 degrees of head turn).
EAR_BEHIND = 0.6
SKIN_TONES = ((60, 80, 120), (90, 120, 170), (120, 160, 210), (150, 190, 230), (40, 60, 90))


def fx(p) -> tuple[int, int]:
    """A float pixel position as cv2 fixed-point (x, y)."""
    return int(round(p[0] * ONE)), int(round(p[1] * ONE))


def random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    return tuple(int(c) for c in rng.integers(0, 256, 3))


def background(rng: np.random.Generator, width: int, height: int,
               num_shapes: tuple[int, int] = (6, 22), sticks: bool = True) -> np.ndarray:
    """A gradient with random shapes and lines on it: BGR uint8 (height, width, 3).

    ``num_shapes`` is the (min, max exclusive) number of shapes; ``sticks`` allows thick
    limb-like lines among them.
    """
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    ang = rng.uniform(0, 2 * np.pi)
    # A smooth gradient: computed on a coarse grid and upsampled, which is much cheaper.
    grid = np.linspace(0.0, 1.0, 8)
    t = grid[None, :] * np.cos(ang) + grid[:, None] * np.sin(ang)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    coarse = (c0 + t[..., None] * (c1 - c0)).astype(np.float32)
    img = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    size = max(width, height)
    for _ in range(int(rng.integers(*num_shapes))):
        kind = rng.integers(0, 5) if sticks else rng.choice([0, 1, 3, 4])
        col = random_color(rng)
        p = rng.uniform(-0.1, 1.1, 2) * (width, height)
        r = rng.uniform(0.03, 0.3) * size
        if kind == 0:
            q = p + rng.uniform(-1, 1, 2) * r * 2
            cv2.rectangle(img, fx(p), fx(q), col, -1, cv2.LINE_AA, SHIFT)
        elif kind == 1:
            cv2.circle(img, fx(p), int(r * ONE), col, -1, cv2.LINE_AA, SHIFT)
        elif kind == 2:  # thick sticks look like limbs: hard negatives for the model
            q = p + rng.uniform(-1, 1, 2) * r * 2
            cv2.line(img, fx(p), fx(q), col, max(1, int(rng.uniform(0.01, 0.06) * size)),
                     cv2.LINE_AA, SHIFT)
        elif kind == 3:
            pts = (p + rng.uniform(-1, 1, (int(rng.integers(3, 7)), 2)) * r) * ONE
            cv2.fillPoly(img, [pts.astype(np.int32)], col, cv2.LINE_AA, SHIFT)
        else:
            axes = (int(r * ONE), int(r * rng.uniform(0.2, 1.0) * ONE))
            cv2.ellipse(img, fx(p), axes, rng.uniform(0, 180), 0, 360, col, -1,
                        cv2.LINE_AA, SHIFT)
    return img


def appearance(rng: np.random.Generator) -> dict:
    """Random clothing and skin colours (BGR) of one person."""
    skin = np.clip(np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))]) + rng.normal(0, 12, 3),
                   0, 255)
    top, bottom = random_color(rng), random_color(rng)
    return dict(skin=tuple(skin), top=top, bottom=bottom,
                sleeve=top if rng.random() < 0.5 else tuple(skin),
                shin=bottom if rng.random() < 0.7 else tuple(skin),
                shoe=tuple(int(c) for c in rng.integers(0, 90, 3)),
                hair=tuple(int(c) for c in rng.integers(0, 70, 3) + (0, 10, 20)))


def _shade(col, factor: float) -> tuple:
    return tuple(float(min(255.0, c * factor)) for c in col)


def part_depths(proj: dict, scale: float) -> np.ndarray:
    """Depth (pixels, larger is farther) used to order and occlude each of PARTS."""
    d = proj["depth"]
    out = np.zeros(len(PARTS))
    # The torso is a volume, not a plane: arms at its sides should be drawn over it.
    out[PART["torso"]] = d[[P["left_shoulder"], P["right_shoulder"], P["left_hip"],
                            P["right_hip"]]].mean() + 0.02 * scale
    out[PART["neck"]] = d[[P["neck"], P["head"]]].mean() + 0.01 * scale
    out[PART["head"]] = d[P["head"]]
    for s in ("left", "right"):
        out[PART[f"{s}_hand"]] = d[P[f"{s}_hand"]]
    for part, a, b, _, _ in LIMBS:
        out[PART[part]] = 0.5 * (d[P[a]] + d[P[b]])
    return out


def draw_person(img: np.ndarray, owner: np.ndarray, proj: dict, scale: float, app: dict,
                slot: int) -> np.ndarray:
    """Paint one projected person far-to-near into ``img`` and ``owner``.

    Args:
        img: BGR uint8 (H, W, 3), modified.
        owner: uint16 (H, W) owner map, modified.
        proj: from :func:`~mlpose.datasets.synth.pose.project`.
        scale: body height in pixels.
        app: from :func:`appearance`.
        slot: the person's owner-map slot (< 2000).

    Returns:
        (len(PARTS),) part depths, pixels.
    """
    xy, depths = proj["xy"], part_depths(proj, scale)
    ref = proj["depth"][P["pelvis"]]
    for part in np.argsort(-depths, kind="stable"):
        name, tag = PARTS[part], slot * 32 + int(part) + 1
        # Farther parts are darker: a cue to which side is which.
        shade = float(np.clip(1.0 - 1.2 * (depths[part] - ref) / scale, 0.65, 1.15))
        if name == "torso":
            _draw_torso(img, owner, xy, scale, _shade(app["top"], shade), tag)
        elif name == "neck":
            th = max(1, int(0.05 * scale))
            for canvas, c in ((img, _shade(app["skin"], shade)), (owner, tag)):
                cv2.line(canvas, fx(xy[P["neck"]]), fx(xy[P["head"]]), c, th,
                         cv2.LINE_AA if canvas is img else cv2.LINE_8, SHIFT)
        elif name == "head":
            _draw_head(img, owner, proj, app, tag)
        elif name.endswith("hand"):
            r = int(max(1.0, 0.028 * scale) * ONE)
            c = _shade(app["skin"], shade)
            cv2.circle(img, fx(xy[P[name]]), r, c, -1, cv2.LINE_AA, SHIFT)
            cv2.circle(owner, fx(xy[P[name]]), r, tag, -1, cv2.LINE_8, SHIFT)
        else:
            _, a, b, t, key = next(limb for limb in LIMBS if limb[0] == name)
            col, th = _shade(app[key], shade), max(1, int(round(t * scale)))
            cv2.line(img, fx(xy[P[a]]), fx(xy[P[b]]), col, th, cv2.LINE_AA, SHIFT)
            cv2.line(owner, fx(xy[P[a]]), fx(xy[P[b]]), tag, th, cv2.LINE_8, SHIFT)
            if name.endswith(("forearm", "shin")):  # a darker knob marks elbows and knees
                r = int(max(1.0, 0.45 * th) * ONE)
                cv2.circle(img, fx(xy[P[a]]), r, _shade(col, 0.8), -1, cv2.LINE_AA, SHIFT)
    return depths


def _draw_torso(img, owner, xy, scale, col, tag) -> None:
    pelvis = xy[P["pelvis"]]
    hips = [pelvis + 1.5 * (xy[P[f"{s}_hip"]] - pelvis) for s in ("right", "left")]
    poly = np.array([fx(xy[P["left_shoulder"]]), fx(xy[P["right_shoulder"]]),
                     fx(hips[0]), fx(hips[1])], np.int32)
    # Seen from the side the polygon collapses; the thick spine line keeps the body's depth.
    spine = max(1, int(0.12 * scale))
    edge = max(1, int(0.04 * scale))
    for canvas, c, lt in ((img, col, cv2.LINE_AA), (owner, tag, cv2.LINE_8)):
        cv2.fillPoly(canvas, [poly], c, lt, SHIFT)
        cv2.polylines(canvas, [poly], True, c, edge, lt, SHIFT)
        cv2.line(canvas, fx(xy[P["neck"]]), fx(pelvis), c, spine, lt, SHIFT)


def _draw_head(img, owner, proj, app, tag) -> None:
    xy, r = proj["xy"], proj["head_radius"]
    left, up, fwd = proj["head_axes"]
    c = xy[P["head"]]
    angle = float(np.degrees(np.arctan2(-up[1], up[0]))) + 90.0
    axes = (int(r * ONE), int(1.15 * r * ONE))
    cv2.ellipse(img, fx(c), axes, angle, 0, 360, app["hair"], -1, cv2.LINE_AA, SHIFT)
    cv2.ellipse(owner, fx(c), axes, angle, 0, 360, tag, -1, cv2.LINE_8, SHIFT)
    if fwd[2] < -0.3:  # facing away: only hair shows
        return
    # The face is the front part of the head: it shifts the way the head turns.
    fc = c + r * (0.3 * np.array([fwd[0], -fwd[1]]) - 0.1 * np.array([up[0], -up[1]]))
    face_axes = (int(0.82 * r * ONE), int(0.95 * r * ONE))
    cv2.ellipse(img, fx(fc), face_axes, angle, 0, 360, app["skin"], -1, cv2.LINE_AA, SHIFT)
    depth_c = proj["depth"][P["head"]]
    dark = _shade(app["skin"], 0.6)
    for name, rad, col in (("left_ear", 0.22, dark), ("right_ear", 0.22, dark),
                           ("left_eye", 0.13, (20, 20, 20)), ("right_eye", 0.13, (20, 20, 20)),
                           ("nose", 0.12, dark)):
        behind = EAR_BEHIND * r if name.endswith("ear") else 0.0
        if proj["depth"][P[name]] < depth_c + behind:
            cv2.circle(img, fx(xy[P[name]]), int(max(0.6, rad * r) * ONE), col, -1,
                       cv2.LINE_AA, SHIFT)


def draw_occluder(rng: np.random.Generator, img: np.ndarray, owner: np.ndarray,
                  box: np.ndarray) -> None:
    """Paint a random rectangle or ellipse overlapping ``box`` (x1, y1, x2, y2)."""
    w, h = box[2] - box[0], box[3] - box[1]
    centre = box[:2] + rng.uniform(0.1, 0.9, 2) * (w, h)
    half = rng.uniform(0.15, 0.45, 2) * (w, h)
    col = random_color(rng)
    if rng.random() < 0.6:
        p, q = fx(centre - half), fx(centre + half)
        cv2.rectangle(img, p, q, col, -1, cv2.LINE_AA, SHIFT)
        cv2.rectangle(owner, p, q, OCCLUDER, -1, cv2.LINE_8, SHIFT)
        if rng.random() < 0.5:  # stripes, so occluders are not all flat
            step = max(2, int(half[1] / 3))
            for y in range(int(centre[1] - half[1]), int(centre[1] + half[1]), 2 * step):
                cv2.line(img, (int(centre[0] - half[0]), y), (int(centre[0] + half[0]), y),
                         random_color(rng), max(1, step // 2))
    else:
        axes = (int(half[0] * ONE), int(half[1] * ONE))
        ang = rng.uniform(0, 180)
        cv2.ellipse(img, fx(centre), axes, ang, 0, 360, col, -1, cv2.LINE_AA, SHIFT)
        cv2.ellipse(owner, fx(centre), axes, ang, 0, 360, OCCLUDER, -1, cv2.LINE_8, SHIFT)
