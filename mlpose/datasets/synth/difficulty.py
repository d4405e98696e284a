"""How hard the generated scenes are: one frozen set of knobs per named preset.

``normal`` is the full variety the dataset is meant to have (crowded images, people standing
close, border cuts, occluders, limb-like sticks in the background, back views, people lying
down). ``easy`` keeps every kind of hard case but makes each rarer or milder. ``simple`` (the
demo's) leaves out occluders, people in front of each other, border cuts and back views, so a
small model learns the task within minutes. Probabilities are per person unless noted.
"""
from __future__ import annotations

from dataclasses import dataclass

from mlpose.errors import ConfigError


@dataclass(frozen=True)
class Difficulty:
    """Scene knobs.

    Attributes:
        people: how many labelled-size people an image holds, as values...
        people_p: ...and their probabilities.
        close_p: a person stands next to the previous one (person-person occlusion).
        overlap: other people may be placed over one another; else a free spot is looked for.
        fit: people larger than the image (arms up, a wide stance) are shrunk to fit it.
        cut_p: a person hangs over an image border by 15-60%.
        big_p: a person is drawn larger than the image (always cut).
        min_log_scale: body height is ``image height * exp(U(min_log_scale, 0))``.
        occluder_p: per image, the chance of occluders over the labelled people...
        max_occluders: ...and at most this many of them.
        background_shapes: ``(min, max)`` number of background shapes (max exclusive).
        sticks: background shapes may be limb-like sticks (hard negatives).
        front_p: the body yaw is ``N(0, front_yaw)`` degrees (towards the camera)...
        other_yaw: ...else uniform in ``[-other_yaw, other_yaw]`` degrees (180: back views).
        front_yaw: see ``front_p``.
        head_turn: the head turns from the body by ``N(0, head_turn)`` degrees.
        upright_p: the roll is ``N(0, 6)`` degrees, else uniform in +-70.
        lying_p: the person lies on the floor (roll +-90).
        style_p: probabilities of the pose styles in :data:`~.pose.STYLES`.
    """

    people: tuple[int, ...] = (1, 2, 3, 4, 5)
    people_p: tuple[float, ...] = (0.25, 0.3, 0.25, 0.12, 0.08)
    close_p: float = 0.35
    overlap: bool = True
    fit: bool = False
    cut_p: float = 0.25
    big_p: float = 0.1
    min_log_scale: float = -1.2
    occluder_p: float = 0.35
    max_occluders: int = 2
    background_shapes: tuple[int, int] = (6, 22)
    sticks: bool = True
    front_p: float = 0.55
    other_yaw: float = 180.0
    front_yaw: float = 35.0
    head_turn: float = 30.0
    upright_p: float = 0.85
    lying_p: float = 0.03
    style_p: tuple[float, ...] = (0.3, 0.25, 0.15, 0.12, 0.18)


PRESETS = {
    "normal": Difficulty(),
    # Every hard case stays (several people, occlusion, border cuts, occluders, crowds, side
    # views), only rarer: no back views (left/right of a back view cannot be told apart
    # when both sides wear the same colours) and no limb-like background sticks.
    "easy": Difficulty(
        people=(1, 2, 3), people_p=(0.5, 0.35, 0.15), close_p=0.15, cut_p=0.12, big_p=0.04,
        min_log_scale=-1.0, occluder_p=0.2, max_occluders=1, background_shapes=(4, 12),
        sticks=False, front_p=0.8, other_yaw=90.0, upright_p=0.95, lying_p=0.0,
        style_p=(0.35, 0.3, 0.15, 0.12, 0.08)),
    # The demo's data: one or two whole people per image, side by side, upright, facing the
    # camera, standing, walking or with arms up (arms still cross the body and hide points),
    # on a calmer background: what a 4M-parameter model learns to COCO AP 0.9 within minutes
    # on a CPU.
    "simple": Difficulty(
        people=(1, 2), people_p=(0.6, 0.4), close_p=0.0, overlap=False, fit=True, cut_p=0.0, big_p=0.0,
        min_log_scale=-0.7, occluder_p=0.0, max_occluders=1, background_shapes=(4, 12),
        sticks=False, front_p=1.0, other_yaw=0.0, front_yaw=20.0, head_turn=15.0,
        upright_p=1.0, lying_p=0.0, style_p=(0.45, 0.4, 0.15, 0.0, 0.0)),
}


def get_difficulty(name: str) -> Difficulty:
    """The preset called ``name``; a ConfigError names the choices for an unknown one."""
    if name not in PRESETS:
        raise ConfigError(f"synth: difficulty {name!r} is unknown; use one of {sorted(PRESETS)}")
    return PRESETS[name]
