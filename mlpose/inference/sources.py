"""What ``mlpose infer`` reads: image files, folders of images, video files, and person boxes
from a COCO-results detections file.

Each input becomes :class:`Frame` objects in order; a bad input (a missing path, an image that
does not decode, a folder without images, a video that does not open) becomes one frame with a
``problem`` line and no image, so the rest still runs.

Image ids (the ``image_id`` of the results): a file named like COCO's ``000000397133.jpg`` has
the number in its name; any other image gets its position among the inputs (1, 2, ...); a video
frame its frame index (0-based). Detections are matched to a frame by ``file_name`` when the
entries have one, else by ``image_id``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from mlpose.datasets.transforms import decode_image
from mlpose.errors import ConfigError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v")


@dataclass
class Frame:
    """One picture to predict, or one bad input.

    Attributes:
        name: the file name (``video.mp4#000012`` for a video frame), for messages and results.
        image_id: the results' ``image_id`` (see the module docstring).
        vis_name: relative path of its picture under ``--vis-dir``.
        image: uint8 BGR ``(H, W, 3)``; None with a ``problem``.
        problem: why this input is skipped (one line), else None.
    """

    name: str
    image_id: int
    vis_name: str
    image: np.ndarray | None = None
    problem: str | None = None


def _image_id(path: Path, position: int) -> int:
    return int(path.stem) if path.stem.isdigit() else position


def expand_inputs(inputs: list[str]) -> list[tuple[Path, str | None]]:
    """``(path, problem)`` per image or video to read: folders become their images (sorted)."""
    found: list[tuple[Path, str | None]] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            found += [(p, None) for p in images] or [
                (path, f"folder {raw} has no images ({', '.join(IMAGE_SUFFIXES)})")]
        elif not path.exists():
            found.append((path, f"{raw} does not exist"))
        else:
            found.append((path, None))
    return found


def count_frames(paths: list[tuple[Path, str | None]], every: int) -> int:
    """How many frames :func:`read_frames` yields (videos by their frame count), for a progress bar."""
    total = 0
    for path, problem in paths:
        if problem is None and path.suffix.lower() in VIDEO_SUFFIXES:
            video = cv2.VideoCapture(str(path))
            total += max(1, -(-int(video.get(cv2.CAP_PROP_FRAME_COUNT)) // every))
            video.release()
        else:
            total += 1
    return total


def read_frames(paths: list[tuple[Path, str | None]], every: int = 1) -> Iterator[Frame]:
    """Frames of the inputs in order; a video yields every ``every``-th frame (0, every, ...)."""
    if every < 1:
        raise ConfigError(f"--every must be >= 1, got {every}")
    for position, (path, problem) in enumerate(paths, start=1):
        name = str(path)
        if problem:
            yield Frame(name, position, "", problem=problem)
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            yield from _video_frames(path, every)
        else:
            image = _read_image(path)
            vis = f"{path.stem}.jpg"
            if isinstance(image, str):
                yield Frame(name, _image_id(path, position), vis, problem=image)
            else:
                yield Frame(name, _image_id(path, position), vis, image=image)


def _read_image(path: Path) -> np.ndarray | str:
    """The decoded image, or the problem line. Decoded as ``LoadImage`` decodes it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"image {path} cannot be read ({exc.strerror or exc})"
    image = decode_image(data, "auto")
    if image is None:
        return f"image {path} is not a readable image ({len(data)} bytes; JPEG, PNG, BMP, WebP, TIFF)"
    return image


def _video_frames(path: Path, every: int) -> Iterator[Frame]:
    video = cv2.VideoCapture(str(path))
    if not video.isOpened():
        yield Frame(str(path), 0, "", problem=f"video {path} cannot be opened by OpenCV")
        return
    index = 0
    try:
        while True:
            ok = video.grab()
            if not ok:
                break
            if index % every == 0:
                ok, image = video.retrieve()
                name = f"{path}#{index:06d}"
                if ok:
                    yield Frame(name, index, f"{path.stem}/{index:06d}.jpg", image=image)
                else:
                    yield Frame(name, index, "", problem=f"frame {index} of video {path} cannot be decoded")
            index += 1
    finally:
        video.release()
    if index == 0:
        yield Frame(str(path), 0, "", problem=f"video {path} has no frames OpenCV can read")


class Detections:
    """Person boxes of a COCO-results detections file, by file name and by image id.

    The file is a JSON list of ``{"image_id": int, "bbox": [x, y, w, h], "score": float,
    "category_id": 1}`` (optional ``file_name``); entries of other categories and below
    ``score_thr`` are left out.
    """

    def __init__(self, path: str, score_thr: float = 0.0):
        try:
            entries = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--boxes {path}: cannot read a detections JSON file ({exc})") from None
        if not isinstance(entries, list):
            raise ConfigError(f"--boxes {path}: expected a COCO-results list of detections "
                              '[{"image_id": ..., "bbox": [x, y, w, h], "score": ...}, ...]')
        self.by_name: dict[str, list] = {}
        self.by_id: dict[int, list] = {}
        for i, det in enumerate(entries):
            box = det.get("bbox") if isinstance(det, dict) else None
            if not (isinstance(box, list) and len(box) == 4) or not ("image_id" in det or "file_name" in det):
                raise ConfigError(f"--boxes {path}: entry {i} needs image_id (or file_name) and bbox [x, y, w, h]")
            if det.get("category_id", 1) != 1 or float(det.get("score", 1.0)) < score_thr:
                continue
            entry = (box, float(det.get("score", 1.0)), det.get("image_id"))
            if "file_name" in det:
                self.by_name.setdefault(Path(det["file_name"]).name, []).append(entry)
            else:
                self.by_id.setdefault(int(det["image_id"]), []).append(entry)

    def boxes_for(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, int]:
        """``(boxes (N, 4) xywh, scores (N,), image_id)`` of ``frame`` (N may be 0)."""
        entries = self.by_name.get(Path(frame.name).name) or self.by_id.get(frame.image_id, [])
        image_id = next((e[2] for e in entries if e[2] is not None), frame.image_id)
        boxes = np.array([e[0] for e in entries], np.float64).reshape(-1, 4)
        return boxes, np.array([e[1] for e in entries], np.float64), int(image_id)


def example_person() -> tuple[np.ndarray, list[float]]:
    """A rendered 192x256 image of one person and its box ``[x, y, w, h]`` (deterministic): the
    pyfunc model's input example and the crops ``mlpose export`` checks its file on."""
    from mlpose.datasets.synth.difficulty import get_difficulty
    from mlpose.datasets.synth.scene import compose

    image, people, _ = compose(np.random.default_rng(0), 192, 256, crowd=False, tiny=False,
                               difficulty=get_difficulty("simple"))
    x1, y1, x2, y2 = (float(v) for v in people[0]["bbox"])
    return image, [round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1)]
