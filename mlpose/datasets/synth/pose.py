"""Random 3D stick-figure people, posed by joint angles and projected to the image.

Body frame (units of body height): X is the person's left, Y is up, Z is where the person
faces. The camera looks along -Z, orthographically: image x = X, image y = -Y, and depth
(distance from the camera) = -Z, so a person at yaw 0 faces the camera with their left
side on the image's right, as in COCO.
"""
from __future__ import annotations

import numpy as np

# Every point the renderer and the annotations use, in this order.
POINTS = (
    "pelvis", "neck", "head", "head_top", "nose", "left_eye", "right_eye", "left_ear",
    "right_ear", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle", "left_toe", "right_toe",
)
P = {name: i for i, name in enumerate(POINTS)}

# Pose styles and how often they are drawn.
STYLES = ("stand", "walk", "arms_up", "crouch", "free")
STYLE_P = (0.3, 0.25, 0.15, 0.12, 0.18)


def rot_x(a: float) -> np.ndarray:
    """Rotation about X; a positive angle turns +Y towards +Z (a forward lean)."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rot_y(a: float) -> np.ndarray:
    """Rotation about the vertical axis (yaw); a positive angle turns +Z towards +X."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_z(a: float) -> np.ndarray:
    """Rotation about the viewing axis (roll)."""
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _bend(d: np.ndarray, towards: np.ndarray, angle: float) -> np.ndarray:
    """Turn unit vector ``d`` by ``angle`` towards ``towards`` (in their common plane)."""
    b = towards - np.dot(towards, d) * d
    if np.linalg.norm(b) < 1e-3:  # towards is parallel to d: bend in any perpendicular
        b = np.cross(d, [1.0, 0.0, 0.0] if abs(d[0]) < 0.9 else [0.0, 1.0, 0.0])
    return np.cos(angle) * d + np.sin(angle) * _unit(b)


def _limb_dir(abduction: float, flexion: float, side: int) -> np.ndarray:
    """Direction of a limb hanging down, swung out sideways then forwards (radians)."""
    down = np.array([0.0, -1.0, 0.0])
    return rot_x(-flexion) @ rot_z(side * abduction) @ down


def sample_pose(rng: np.random.Generator, style_p: tuple[float, ...] = STYLE_P,
                head_turn: float = 30.0) -> dict:
    """Sample a body-frame 3D pose; ``style_p`` are the probabilities of :data:`STYLES`, and
    the head turns from the body by ``N(0, head_turn)`` degrees.

    Returns:
        dict with ``points`` float64 (len(POINTS), 3) in body heights, ``head_radius``,
        ``head_axes`` (3, 3) rows = head left/up/forward unit vectors, and ``style``.
    """
    deg = np.deg2rad
    u = rng.uniform
    style = STYLES[rng.choice(len(STYLES), p=style_p)]
    pts = np.zeros((len(POINTS), 3))
    torso, sw, hw = u(0.27, 0.32), u(0.095, 0.125), u(0.06, 0.08)
    arm_up, arm_lo = u(0.16, 0.19), u(0.14, 0.17)
    leg_up, leg_lo = u(0.23, 0.26), u(0.22, 0.25)
    r_head = u(0.055, 0.068)

    lean = deg(u(20, 45) if style == "crouch" else rng.normal(0, 7))
    twist = deg(rng.normal(0, 10))
    up_t = rot_x(lean) @ np.array([0.0, 1.0, 0.0])
    left_s = rot_y(twist) @ np.array([1.0, 0.0, 0.0])
    pts[P["neck"]] = torso * up_t
    for side, name in ((1, "left"), (-1, "right")):
        pts[P[f"{name}_shoulder"]] = pts[P["neck"]] - 0.035 * up_t + side * sw * left_s
        pts[P[f"{name}_hip"]] = np.array([side * hw, 0.0, 0.0])

    # Head: its own yaw/pitch/roll on top of the torso lean.
    r_h = rot_x(lean + deg(rng.normal(0, 12))) @ rot_y(deg(rng.normal(0, head_turn))) \
        @ rot_z(deg(rng.normal(0, 10)))
    h_left, h_up, h_fwd = r_h[:, 0], r_h[:, 1], r_h[:, 2]
    c = pts[P["neck"]] + u(0.045, 0.065) * up_t + r_head * h_up
    pts[P["head"]] = c
    pts[P["head_top"]] = c + r_head * h_up
    pts[P["nose"]] = c + r_head * (1.05 * h_fwd - 0.15 * h_up)
    for side, name in ((1, "left"), (-1, "right")):
        pts[P[f"{name}_eye"]] = c + r_head * (0.85 * h_fwd + 0.2 * h_up + side * 0.38 * h_left)
        pts[P[f"{name}_ear"]] = c + r_head * (side * 1.0 * h_left - 0.05 * h_fwd)

    swing = deg(u(10, 35))
    for side, name in ((1, "left"), (-1, "right")):
        if style == "stand":
            a, f, e = u(5, 30), u(-15, 25), u(0, 45)
            ha, hf, k = u(0, 12), u(-8, 12), u(0, 15)
        elif style == "walk":
            a, f, e = u(4, 18), np.rad2deg(side * swing) + u(-8, 8), u(10, 60)
            ha, hf, k = u(0, 8), -np.rad2deg(side * swing) + u(-5, 5), u(5, 55)
        elif style == "arms_up":
            a, f, e = u(60, 170), u(-20, 60), u(0, 100)
            ha, hf, k = u(0, 20), u(-10, 25), u(0, 30)
        elif style == "crouch":
            a, f, e = u(5, 50), u(0, 80), u(20, 110)
            ha, hf, k = u(5, 30), u(50, 100), u(60, 130)
        else:
            a, f, e = u(0, 170), u(-60, 120), u(0, 150)
            ha, hf, k = u(0, 45), u(-30, 90), u(0, 120)
        d_up = _limb_dir(deg(a), deg(f), side)
        towards = np.array([rng.normal(0, 0.4), rng.normal(0.3, 0.4), 1.0])
        d_lo = _bend(d_up, _unit(towards), deg(e))
        pts[P[f"{name}_elbow"]] = pts[P[f"{name}_shoulder"]] + arm_up * d_up
        pts[P[f"{name}_wrist"]] = pts[P[f"{name}_elbow"]] + arm_lo * d_lo
        pts[P[f"{name}_hand"]] = pts[P[f"{name}_wrist"]] + 0.04 * d_lo
        t_dir = _limb_dir(deg(ha), deg(hf), side)
        s_dir = rot_x(deg(k)) @ t_dir  # knees bend backwards
        pts[P[f"{name}_knee"]] = pts[P[f"{name}_hip"]] + leg_up * t_dir
        pts[P[f"{name}_ankle"]] = pts[P[f"{name}_knee"]] + leg_lo * s_dir
        foot = rot_y(deg(side * u(0, 25))) @ _unit(np.array([0.0, -0.35, 1.0]))
        pts[P[f"{name}_toe"]] = pts[P[f"{name}_ankle"]] + 0.075 * foot
    return dict(points=pts, head_radius=r_head, head_axes=np.stack([h_left, h_up, h_fwd]),
                style=style)


def sample_view(rng: np.random.Generator, front_p: float = 0.55, other_yaw: float = 180.0,
                upright_p: float = 0.85, lying_p: float = 0.03, front_yaw: float = 35.0) -> np.ndarray:
    """A random whole-body rotation: mostly upright, mostly towards the camera. (3, 3).

    Args:
        rng: random generator.
        front_p: probability of a yaw drawn from N(0, front_yaw) degrees (facing the camera);
            otherwise it is uniform in [-other_yaw, other_yaw] degrees.
        other_yaw: see ``front_p``; 180 allows back views.
        upright_p: probability of a roll from N(0, 6) degrees, else uniform in +-70.
        lying_p: probability of lying down (roll +-90).
        front_yaw: see ``front_p``.
    """
    yaw = rng.normal(0, front_yaw) if rng.random() < front_p else rng.uniform(-other_yaw, other_yaw)
    roll = rng.normal(0, 6) if rng.random() < upright_p else rng.uniform(-70, 70)
    if rng.random() < lying_p:  # someone lying down
        roll = rng.choice([-90.0, 90.0]) + rng.normal(0, 10)
    return rot_z(np.deg2rad(roll)) @ rot_y(np.deg2rad(yaw))


def project(pose: dict, view: np.ndarray, scale: float, origin: tuple[float, float]) -> dict:
    """Rotate a body-frame pose by ``view`` and project it into the image.

    Args:
        pose: from :func:`sample_pose`.
        view: (3, 3) rotation from :func:`sample_view`.
        scale: body height in pixels.
        origin: image position (x, y) of the pelvis, pixels.

    Returns:
        dict with ``xy`` float64 (len(POINTS), 2) pixels, ``depth`` (len(POINTS),) pixels
        (larger is farther), ``head_radius`` pixels, ``head_axes`` (3, 3) camera-frame head
        left/up/forward unit vectors.
    """
    cam = pose["points"] @ view.T * scale
    xy = np.stack([cam[:, 0] + origin[0], -cam[:, 1] + origin[1]], axis=1)
    return dict(xy=xy, depth=-cam[:, 2], head_radius=pose["head_radius"] * scale,
                head_axes=pose["head_axes"] @ view.T)
