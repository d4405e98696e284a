"""What ``mlpose infer`` and ``mlpose export`` do: resolve the model (a checkpoint path or URL,
``runs:/``, ``models:/NAME@ALIAS``, ``models:/m-ID``), build it from the config it carries, and
predict images or write an exported file. Neither is an MLflow run: they use a model, they do
not make one."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import cv2

from mlpose.errors import ConfigError
from mlpose.inference import ImageTask, PosePredictor
from mlpose.inference.outputs import coco_results, draw_people
from mlpose.inference.sources import (VIDEO_SUFFIXES, Detections, ImageIds, count_frames, expand_inputs,
                                     read_frames)
from mlpose.runtime.launch import slow_bf16_note
from mlpose.runtime.progress import progress_bar
from mlpose.runtime.user_files import check_folder, check_output, write_output


@dataclass
class InferOptions:
    """``mlpose infer`` options (see its ``--help``)."""

    boxes: str | None = None
    whole_image: bool = False
    bbox_thr: float = 0.3
    out: str | None = None
    vis_dir: str | None = None
    batch_size: int = 32
    every: int = 1
    config: str | None = None
    cfg_options: list[str] = field(default_factory=list)
    amp: bool = False
    kpt_thr: float = 0.3  # keypoints drawn in pictures


#: ``mlpose infer``'s exit status when results were written but some inputs or boxes were skipped
PARTIAL_EXIT = 3


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def resolve_model(model: str, config: str | None = None, cfg_options: list[str] | None = None) -> str:
    """The local checkpoint file of ``model``; ``runs:/``/``models:/`` are looked up at the
    tracking URI (``$MLFLOW_TRACKING_URI``, the ``config``'s ``tracking.uri``, else
    ``sqlite:///mlflow.db``) and downloaded."""
    from mlpose.config import load_config
    from mlpose.tracking.runs import resolve_tracking_uri
    from mlpose.tracking.uris import resolve_checkpoint

    cfg = load_config(config, cfg_options) if config else None
    return resolve_checkpoint(model, tracking_uri=resolve_tracking_uri(cfg))[0]


def load_predictor(model: str, config: str | None = None, cfg_options: list[str] | None = None,
                   device: str | None = None, amp: bool = False) -> PosePredictor:
    """The predictor of ``model`` (see :func:`resolve_model`)."""
    return PosePredictor.from_checkpoint(resolve_model(model, config, cfg_options), config, cfg_options,
                                         device=device, amp=amp)


def infer(inputs: list[str], model: str, opts: InferOptions, warn: Callable[[str], None] = _warn) -> dict:
    """Predict every person box of every input; write COCO results (``opts.out``, else stdout)
    and pictures (``opts.vis_dir``). Bad inputs and boxes are reported through ``warn`` and skipped.

    Returns:
        ``dict(images, people, skipped, boxes_skipped, matched, seconds, results, summary,
        exit_code)``: ``results`` is the COCO results list, ``summary`` one line for the user,
        ``exit_code`` 0, or :data:`PARTIAL_EXIT` when an input or a box was skipped.

    Raises:
        ConfigError: a bad option, model or detections file, an output that would replace an
            input or a tracking-store file, no input that could be read, or detections that
            match no input.
    """
    if opts.boxes and opts.whole_image:
        raise ConfigError("give either --boxes DETECTIONS.json or --whole-image, not both")
    if opts.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {opts.batch_size}")
    detections = Detections(opts.boxes, opts.bbox_thr) if opts.boxes else None
    paths = expand_inputs(inputs)
    local = resolve_model(model, opts.config, opts.cfg_options)
    read = [path for path, problem in paths if not problem]
    if opts.out:
        check_output(opts.out, "--out", [*read, opts.boxes, local, opts.config])
    if opts.vis_dir:
        check_folder(opts.vis_dir, "--vis-dir", [p for p in read if p.suffix.lower() not in VIDEO_SUFFIXES])
    predictor = PosePredictor.from_checkpoint(local, opts.config, opts.cfg_options, amp=opts.amp)
    if opts.amp and (note := slow_bf16_note(predictor.device)):
        warn(note)
    done = dict(images=0, people=0, skipped=0, boxes_skipped=0, matched=0)
    results: list[dict] = []
    pictures = _Pictures(opts.vis_dir, read)
    start = time.perf_counter()
    with progress_bar(count_frames(paths, opts.every), "infer", enabled=bool(opts.out)) as advance:
        for task, people in predictor.predict(_tasks(paths, opts.every, detections, done, warn, advance),
                                              opts.batch_size):
            frame = task.key
            for problem in task.problems:
                warn(f"{frame.name}: {problem}; skipped")
            done["boxes_skipped"] += len(task.problems)
            results += coco_results(people, frame.image_id, frame.name)
            if opts.vis_dir:
                pictures.save(frame.vis_name, draw_people(frame.image, people, predictor.metainfo, opts.kpt_thr))
            done["images"] += 1
            done["people"] += len(people)
            advance()
    if not done["images"]:
        raise ConfigError(f"no image could be read from {' '.join(inputs)} (see the warnings above)")
    if detections:
        warning, error = detections.matching(done["images"], done["matched"])
        if error:
            raise ConfigError(error)
        if warning:
            warn(warning)
    _write_results(results, opts.out)
    seconds = time.perf_counter() - start
    return dict(done, seconds=seconds, results=results, summary=_summary(done, seconds, opts, bool(detections)),
                exit_code=PARTIAL_EXIT if done["skipped"] or done["boxes_skipped"] else 0)


def _tasks(paths, every: int, detections: Detections | None, done: dict, warn: Callable[[str], None],
           advance: Callable[[], None]) -> Iterator[ImageTask]:
    """The frames of ``paths`` as tasks with their boxes (None: the whole image); bad inputs are
    warned about and counted as skipped."""
    ids = ImageIds(paths)
    for frame in read_frames(paths, every, ids):
        if frame.problem:
            warn(f"{frame.problem}; skipped")
            done["skipped"] += 1
            advance()
            continue
        if frame.note:
            warn(frame.note)
        boxes = scores = None
        if detections:
            boxes, scores, wanted = detections.boxes_for(frame)
            frame.image_id, note = ids.claim(frame.name, frame.image_id, wanted)
            if note:
                warn(note)
            done["matched"] += len(boxes) > 0
        yield ImageTask(frame, frame.image, boxes, scores)


def _summary(done: dict, seconds: float, opts: InferOptions, with_boxes: bool) -> str:
    return "; ".join([f"infer: {done['images']} images, {done['people']} people in {seconds:.1f} s",
                      *([f"detections for {done['matched']} of {done['images']} images"] if with_boxes else []),
                      *([f"{done['skipped']} inputs skipped"] if done["skipped"] else []),
                      *([f"{done['boxes_skipped']} boxes skipped"] if done["boxes_skipped"] else []),
                      *([f"results: {opts.out}"] if opts.out else []),
                      *([f"pictures: {opts.vis_dir}"] if opts.vis_dir else [])])


class _Pictures:
    """Writes pictures under ``--vis-dir`` (nothing without one), never twice to one name and
    never over an input file."""

    def __init__(self, folder: str | None, inputs: list[Path]):
        self.folder = Path(folder) if folder else None
        self.used: set[str] = set()
        self.inputs = {(s.st_dev, s.st_ino) for s in (p.stat() for p in inputs if p.is_file())} if folder else set()

    def save(self, name: str, image) -> None:
        if self.folder is None:
            return
        stem, n = name[:-4], 1
        while name in self.used:
            n += 1
            name = f"{stem}_{n}.jpg"
        self.used.add(name)
        path = self.folder / name
        if path.is_file() and (path.stat().st_dev, path.stat().st_ino) in self.inputs:
            raise ConfigError(f"--vis-dir {self.folder}: the picture {path} would replace that input; "
                              "choose another folder")
        ok, data = cv2.imencode(".jpg", image)
        if not ok:
            raise ConfigError(f"--vis-dir: OpenCV cannot encode the picture {path}")
        write_output(path, data.tobytes(), "--vis-dir")


def _write_results(results: list[dict], out: str | None) -> None:
    text = json.dumps(results)
    if not out:
        print(text)
        return
    write_output(out, text, "--out")


def export(model: str, fmt: str, out: str, config: str | None = None, cfg_options: list[str] | None = None):
    """Write ``model``'s network to ``out`` as ONNX or TorchScript and check it against the eager
    model; returns the :class:`~mlpose.inference.export.ExportReport`.

    Raises:
        ConfigError: ``out`` is the model's own file (or another input, a hard-linked or a
            tracking-store file: see :func:`~mlpose.runtime.user_files.check_output`), or cannot
            be written; nothing is written then.
    """
    from mlpose.inference.export import export_model

    local = resolve_model(model, config, cfg_options)
    check_output(out, "--out", [local, config])
    return export_model(PosePredictor.from_checkpoint(local, config, cfg_options, device="cpu"), fmt, out)
