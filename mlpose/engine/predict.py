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
from typing import Callable

import cv2

from mlpose.errors import ConfigError
from mlpose.inference import ImageTask, PosePredictor
from mlpose.inference.outputs import coco_results, draw_people
from mlpose.inference.sources import Detections, count_frames, expand_inputs, read_frames
from mlpose.runtime.progress import progress_bar


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


def _warn(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


def load_predictor(model: str, config: str | None = None, cfg_options: list[str] | None = None,
                   device: str | None = None, amp: bool = False) -> PosePredictor:
    """The predictor of ``model``; ``runs:/``/``models:/`` are looked up at the tracking URI
    (``$MLFLOW_TRACKING_URI``, the ``config``'s ``tracking.uri``, else ``sqlite:///mlflow.db``)."""
    from mlpose.config import load_config
    from mlpose.tracking.runs import resolve_tracking_uri
    from mlpose.tracking.uris import resolve_checkpoint

    cfg = load_config(config, cfg_options) if config else None
    local, _ = resolve_checkpoint(model, tracking_uri=resolve_tracking_uri(cfg))
    return PosePredictor.from_checkpoint(local, config, cfg_options, device=device, amp=amp)


def infer(inputs: list[str], model: str, opts: InferOptions, warn: Callable[[str], None] = _warn) -> dict:
    """Predict every person box of every input; write COCO results (``opts.out``, else stdout)
    and pictures (``opts.vis_dir``). Bad inputs and boxes are reported through ``warn`` and skipped.

    Returns:
        ``dict(images, people, skipped, seconds, results, summary)``: ``results`` is the COCO
        results list, ``summary`` one line for the user.

    Raises:
        ConfigError: a bad option, model or detections file, or no input that could be read.
    """
    if opts.boxes and opts.whole_image:
        raise ConfigError("give either --boxes DETECTIONS.json or --whole-image, not both")
    if opts.batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {opts.batch_size}")
    detections = Detections(opts.boxes, opts.bbox_thr) if opts.boxes else None
    predictor = load_predictor(model, opts.config, opts.cfg_options, amp=opts.amp)
    paths = expand_inputs(inputs)
    done = dict(images=0, people=0, skipped=0)
    results: list[dict] = []
    pictures = _Pictures(opts.vis_dir)
    start = time.perf_counter()
    with progress_bar(count_frames(paths, opts.every), "infer", enabled=bool(opts.out)) as advance:

        def tasks():
            for frame in read_frames(paths, opts.every):
                if frame.problem:
                    warn(f"{frame.problem}; skipped")
                    done["skipped"] += 1
                    advance()
                    continue
                boxes, scores, frame.image_id = (detections.boxes_for(frame) if detections
                                                 else (None, None, frame.image_id))
                yield ImageTask(frame, frame.image, boxes, scores)

        for task, people in predictor.predict(tasks(), opts.batch_size):
            frame = task.key
            for problem in task.problems:
                warn(f"{frame.name}: {problem}; skipped")
            results += coco_results(people, frame.image_id, frame.name)
            if opts.vis_dir:
                pictures.save(frame.vis_name, draw_people(frame.image, people, predictor.metainfo, opts.kpt_thr))
            done["images"] += 1
            done["people"] += len(people)
            advance()
    if not done["images"]:
        raise ConfigError(f"no image could be read from {' '.join(inputs)} (see the warnings above)")
    _write_results(results, opts.out)
    seconds = time.perf_counter() - start
    summary = "; ".join([f"infer: {done['images']} images, {done['people']} people in {seconds:.1f} s",
                         *([f"{done['skipped']} inputs skipped"] if done["skipped"] else []),
                         *([f"results: {opts.out}"] if opts.out else []),
                         *([f"pictures: {opts.vis_dir}"] if opts.vis_dir else [])])
    return dict(done, seconds=seconds, results=results, summary=summary)


class _Pictures:
    """Writes pictures under ``--vis-dir`` (nothing without one), never twice to one name."""

    def __init__(self, folder: str | None):
        self.folder = Path(folder) if folder else None
        self.used: set[str] = set()

    def save(self, name: str, image) -> None:
        if self.folder is None:
            return
        stem, n = name[:-4], 1
        while name in self.used:
            n += 1
            name = f"{stem}_{n}.jpg"
        self.used.add(name)
        path = self.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), image):
            raise ConfigError(f"--vis-dir: cannot write {path}; check that the folder is writable")


def _write_results(results: list[dict], out: str | None) -> None:
    text = json.dumps(results)
    if not out:
        print(text)
        return
    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write the results ({exc.strerror or exc})") from None


def export(model: str, fmt: str, out: str, config: str | None = None, cfg_options: list[str] | None = None):
    """Write ``model``'s network to ``out`` as ONNX or TorchScript and check it against the eager
    model; returns the :class:`~mlpose.inference.export.ExportReport`."""
    from mlpose.inference.export import export_model

    return export_model(load_predictor(model, config, cfg_options, device="cpu"), fmt, out)
