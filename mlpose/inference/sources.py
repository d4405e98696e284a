"""What ``mlpose infer`` reads: image files, folders of images, video files, and person boxes
from a COCO-results detections file.

Each input becomes :class:`Frame` objects in order; a bad input (a missing path, an image that
does not decode, a folder without images, a video that does not open) becomes one frame with a
``problem`` line and no image, so the rest still runs.

Image ids (the ``image_id`` of the results) are unique within one call (:class:`ImageIds`): an
image whose file name is a number keeps that number (COCO's ``000000397133.jpg`` is 397133), and
a video that is the only input numbers its frames by frame index (0, 1, ...), so detections files
made for them match; every other image or frame gets the smallest number from 1 up that no
input of the call has (a second image named with the same number too, with a warning).
Detections are matched to a frame by ``file_name`` when the entries have one (a video frame's
name is ``clip.mp4#000012``), else by ``image_id``.
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
        image_id: the results' ``image_id`` (see the module docstring); -1 with a ``problem``.
        vis_name: relative path of its picture under ``--vis-dir``.
        image: uint8 BGR ``(H, W, 3)``; None with a ``problem``.
        problem: why this input is skipped (one line), else None.
        note: something the user should know about a frame that is used (one line), else None.
    """

    name: str
    image_id: int
    vis_name: str
    image: np.ndarray | None = None
    problem: str | None = None
    note: str | None = None


class ImageIds:
    """The image ids of one call, unique within it (rules: the module docstring).

    Args:
        paths: :func:`expand_inputs` output; the numbers in image file names are reserved first,
            so an image without one never takes the number of one that comes later.
    """

    def __init__(self, paths: list[tuple[Path, str | None]]):
        usable = [p for p, problem in paths if not problem]
        images = [p for p in usable if p.suffix.lower() not in VIDEO_SUFFIXES]
        self.frame_indices = len(usable) == 1 and not images  # one video and nothing else
        self.owners: dict[int, Path] = {}  # a number in a file name -> the first file with it
        for path in images:
            if _number_in_name(path) is not None:
                self.owners.setdefault(_number_in_name(path), path)
        self.used: set[int] = set()
        self._next = 1

    def for_image(self, path: Path) -> tuple[int, str | None]:
        """``(id, note)`` of an image file; the note says why a numbered name did not keep its number."""
        number = _number_in_name(path)
        if number is None:
            return self._fresh(), None
        if self.owners.get(number) == path and number not in self.used:
            return self._take(number), None
        new = self._fresh()
        return new, f"{path}: image id {number} is taken by {self.owners[number]}; this image gets id {new}"

    def for_frame(self, index: int) -> int:
        """The id of frame ``index`` of a video."""
        return self._take(index) if self.frame_indices else self._fresh()

    def claim(self, name: str, current: int, wanted: int) -> tuple[int, str | None]:
        """``(id, note)`` for a frame whose detections name ``wanted`` as its id; it keeps
        ``current`` when another input has ``wanted``."""
        if wanted == current:
            return current, None
        owner = self.owners.get(wanted)
        if wanted in self.used or (owner is not None and str(owner) != name):
            return current, (f"{name}: its detections say image_id {wanted}, which another input of this "
                             f"call has; it keeps image id {current}")
        return self._take(wanted), None

    def _fresh(self) -> int:
        while self._next in self.used or self._next in self.owners:
            self._next += 1
        return self._take(self._next)

    def _take(self, number: int) -> int:
        self.used.add(number)
        return number


def _number_in_name(path: Path) -> int | None:
    """The number a file is named by (``000000397133.jpg``: 397133), else None."""
    return int(path.stem) if path.stem.isascii() and path.stem.isdigit() else None


def expand_inputs(inputs: list[str]) -> list[tuple[Path, str | None]]:
    """``(path, problem)`` per image or video to read: folders become their images (sorted)."""
    found: list[tuple[Path, str | None]] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            try:
                images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            except OSError as exc:
                found.append((path, f"folder {raw} cannot be read ({exc.strerror or exc})"))
                continue
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


def read_frames(paths: list[tuple[Path, str | None]], every: int = 1, ids: ImageIds | None = None) -> Iterator[Frame]:
    """Frames of the inputs in order; a video yields every ``every``-th frame (0, every, ...).

    Args:
        ids: the call's :class:`ImageIds` (default: new ones for ``paths``).
    """
    if every < 1:
        raise ConfigError(f"--every must be >= 1, got {every}")
    ids = ids or ImageIds(paths)
    for path, problem in paths:
        name = str(path)
        if problem:
            yield Frame(name, -1, "", problem=problem)
        elif path.suffix.lower() in VIDEO_SUFFIXES:
            yield from _video_frames(path, every, ids)
        else:
            image = _read_image(path)
            if isinstance(image, str):
                yield Frame(name, -1, "", problem=image)
            else:
                image_id, note = ids.for_image(path)
                yield Frame(name, image_id, f"{path.stem}.jpg", image=image, note=note)


def _read_image(path: Path) -> np.ndarray | str:
    """The decoded image, or the problem line. Decoded as ``LoadImage`` decodes it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"image {path} cannot be read ({exc.strerror or exc})"
    if not data:
        return f"image {path} is empty (0 bytes)"
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its [ERROR] lines: the problem line says it
    try:
        image = decode_image(data, "auto")
    except cv2.error:  # OpenCV raises instead of returning None for some bytes (an empty buffer)
        image = None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if image is None:
        return f"image {path} is not a readable image ({len(data)} bytes; JPEG, PNG, BMP, WebP, TIFF)"
    return image


def _video_frames(path: Path, every: int, ids: ImageIds) -> Iterator[Frame]:
    video = cv2.VideoCapture(str(path))
    if not video.isOpened():
        yield Frame(str(path), -1, "", problem=f"video {path} cannot be opened by OpenCV")
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
                    yield Frame(name, ids.for_frame(index), f"{path.stem}/{index:06d}.jpg", image=image)
                else:
                    yield Frame(name, -1, "", problem=f"frame {index} of video {path} cannot be decoded")
            index += 1
    finally:
        video.release()
    if index == 0:
        yield Frame(str(path), -1, "", problem=f"video {path} has no frames OpenCV can read")


class Detections:
    """Person boxes of a COCO-results detections file, by file name and by image id.

    The file is a JSON list of ``{"image_id": int, "bbox": [x, y, w, h], "score": float,
    "category_id": 1}`` (optional ``file_name``); entries of other categories and below
    ``score_thr`` are left out. It remembers which entries matched a frame, for
    :meth:`matching`.

    Raises:
        ConfigError: an unreadable file or a malformed entry (one line naming the entry).
    """

    def __init__(self, path: str, score_thr: float = 0.0):
        try:
            entries = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"--boxes {path}: cannot read a detections JSON file ({exc})") from None
        if not isinstance(entries, list):
            raise ConfigError(f"--boxes {path}: expected a COCO-results list of detections "
                              '[{"image_id": ..., "bbox": [x, y, w, h], "score": ...}, ...]')
        self.path, self.score_thr = path, score_thr
        self.by_name: dict[str, list] = {}
        self.by_id: dict[int, list] = {}
        self.num_entries, self.best_score = len(entries), None
        for i, det in enumerate(entries):
            box, score, image_id = _entry(path, i, det)
            if det.get("category_id", 1) != 1:
                continue
            self.best_score = score if self.best_score is None else max(score, self.best_score)
            if score < score_thr:
                continue
            if "file_name" in det:
                self.by_name.setdefault(Path(str(det["file_name"])).name, []).append((box, score, image_id))
            else:
                self.by_id.setdefault(image_id, []).append((box, score, image_id))
        self.matched: set = set()  # the by_name / by_id keys that a frame took

    def boxes_for(self, frame: Frame) -> tuple[np.ndarray, np.ndarray, int]:
        """``(boxes (N, 4) xywh, scores (N,), image_id)`` of ``frame`` (N may be 0)."""
        name = Path(frame.name).name
        if name in self.by_name:
            entries, key = self.by_name[name], ("file_name", name)
        else:
            entries, key = self.by_id.get(frame.image_id, []), ("image_id", frame.image_id)
        if entries:
            self.matched.add(key)
        image_id = next((e[2] for e in entries if e[2] is not None), frame.image_id)
        boxes = np.array([e[0] for e in entries], np.float64).reshape(-1, 4)
        return boxes, np.array([e[1] for e in entries], np.float64), int(image_id)

    def unmatched(self) -> list[str]:
        """``file_name X`` / ``image_id N`` of the kept detections that no frame took."""
        keys = [("file_name", k) for k in self.by_name] + [("image_id", k) for k in sorted(self.by_id)]
        return [f"{kind} {key}" for kind, key in keys if (kind, key) not in self.matched]

    def matching(self, num_images: int, num_matched: int) -> tuple[str | None, str | None]:
        """``(warning, error)`` lines about how the detections met ``num_images`` predicted
        images, ``num_matched`` of which had boxes; None where all is well."""
        kept = len(self.by_name) + len(self.by_id)
        if not kept:
            why = (f"none of its {self.num_entries} entries is a person box scoring >= --bbox-thr {self.score_thr:g}"
                   + (f" (the best score is {self.best_score:g})" if self.best_score is not None else ""))
            return f"--boxes {self.path}: {why}; every image gets 0 people", None
        missed = self.unmatched()
        listed = ", ".join(missed[:5]) + (f" and {len(missed) - 5} more" if len(missed) > 5 else "")
        if not num_matched:
            return None, (f"--boxes {self.path}: no input matched its detections ({listed}); give the "
                          "entries a file_name, or name each image by its image id (000000397133.jpg)")
        if missed and num_matched < num_images:
            return (f"--boxes {self.path}: detections matched {num_matched} of {num_images} images; "
                    f"{len(missed)} of its images match no input ({listed}); the other images get 0 people"), None
        return None, None


def _entry(path: str, i: int, det) -> tuple[list[float], float, int | None]:
    """``(box xywh, score, image_id)`` of detection entry ``i``, checked."""
    ok = isinstance(det, dict) and ("image_id" in det or "file_name" in det)
    box = det.get("bbox") if ok else None
    score = det.get("score", 1.0) if ok else None
    image_id = det.get("image_id") if ok else None
    if not (ok and isinstance(box, list) and len(box) == 4 and all(_number(v) for v in box) and _number(score)
            and (image_id is None or (_number(image_id) and float(image_id).is_integer()))):
        shown = json.dumps(det)[:120]
        raise ConfigError(f"--boxes {path}: entry {i} {shown} needs image_id (an integer) or file_name, "
                          "bbox [x, y, w, h] (numbers) and a numeric score")
    return [float(v) for v in box], float(score), None if image_id is None else int(image_id)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def example_person() -> tuple[np.ndarray, list[float]]:
    """A rendered 192x256 image of one person and its box ``[x, y, w, h]`` (deterministic): the
    pyfunc model's input example and the crops ``mlpose export`` checks its file on."""
    from mlpose.datasets.synth.difficulty import get_difficulty
    from mlpose.datasets.synth.scene import compose

    image, people, _ = compose(np.random.default_rng(0), 192, 256, crowd=False, tiny=False,
                               difficulty=get_difficulty("simple"))
    x1, y1, x2, y2 = (float(v) for v in people[0]["bbox"])
    return image, [round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1)]
