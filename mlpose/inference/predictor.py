"""Top-down pose prediction on whole images: boxes in, keypoints in image pixels out.

One code path for ``mlpose infer``, the MLflow pyfunc model and ``mlpose export``::

    predictor = PosePredictor.from_checkpoint('best.pth')          # the config travels inside
    for task, people in predictor.predict(tasks, batch_size=32):   # tasks: ImageTask, in order
        people[0].keypoints                                        # (K, 2) image pixels

Each box is cropped and normalised by the transforms of the config's test pipeline
(``test_dataloader.dataset.pipeline``: ``GetBBoxCenterScale``, ``TopdownAffine``,
``PackPoseInputs``, ...), exactly as ``mlpose test`` crops a box of its dataset, and the crops of
consecutive images are batched together; the model's ``predict`` decodes the heatmaps (flip
test per ``model.test_cfg``) and maps the keypoints back to image pixels.
"""
from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from mlpose.config import Config, config_from_text, load_config
from mlpose.datasets import pose_collate
from mlpose.datasets.coco import build_pipeline, item_metainfo, run_pipeline
from mlpose.datasets.metainfo import dataset_info_from_meta, load_metainfo, parse_metainfo
from mlpose.errors import ConfigError
from mlpose.models.weight_fit import weight_mismatch
from mlpose.registry import DATASETS, MODELS, build
from mlpose.runtime.checkpoint_io import load_checkpoint
from mlpose.runtime.foreign import dataset_meta, describe, model_weights


#: The parts of a checkpoint's config that inference uses (the rest may come from another version).
INFERENCE_KEYS = ("model", "test_dataloader", "val_dataloader", "env_cfg", "custom_imports", "default_scope")


@dataclass
class Person:
    """One box's prediction, in image pixels.

    Attributes:
        keypoints: float32 ``(K, 2)`` x, y.
        keypoint_scores: float32 ``(K,)`` heatmap maxima (about 0..1).
        bbox: float32 ``(4,)`` the box as given, x, y, w, h.
        bbox_score: the box's (detector) score; 1.0 for the whole image.
    """

    keypoints: np.ndarray
    keypoint_scores: np.ndarray
    bbox: np.ndarray
    bbox_score: float


@dataclass
class ImageTask:
    """One image to predict.

    Attributes:
        key: the caller's handle, returned with the results (a file name, a row number...).
        image: uint8 BGR ``(H, W, 3)`` as OpenCV decodes it.
        boxes: float ``(N, 4)`` person boxes x, y, w, h in pixels, or None for the whole image.
        scores: ``(N,)`` box scores (default 1.0 each).
        problems: filled by :meth:`PosePredictor.predict` with one line per skipped box.
    """

    key: Any
    image: np.ndarray
    boxes: np.ndarray | None = None
    scores: np.ndarray | None = None
    problems: list[str] = field(default_factory=list)


def check_boxes(task: ImageTask) -> tuple[np.ndarray, np.ndarray]:
    """The task's usable boxes ``(N, 4)`` xywh and scores ``(N,)``; a box with a non-finite or
    non-positive size, or lying wholly outside the image, is dropped with a line in ``problems``."""
    height, width = task.image.shape[:2]
    if task.boxes is None:
        return np.array([[0.0, 0.0, width, height]]), np.ones(1)
    boxes = np.asarray(task.boxes, np.float64).reshape(-1, 4)  # float64: x + w as the datasets compute it
    scores = np.ones(len(boxes)) if task.scores is None else np.asarray(task.scores, np.float64)
    keep = []
    for i, (x, y, w, h) in enumerate(boxes):
        if not (np.isfinite([x, y, w, h, scores[i]]).all() and w > 0 and h > 0):
            task.problems.append(f"box {i} [{x:g}, {y:g}, {w:g}, {h:g}] needs finite x, y and a positive "
                                 "width and height (COCO x, y, w, h)")
        elif x >= width or y >= height or x + w <= 0 or y + h <= 0:
            task.problems.append(f"box {i} [{x:g}, {y:g}, {w:g}, {h:g}] lies outside the {width}x{height} "
                                 "image")
        else:
            keep.append(i)
    return boxes[keep], scores[keep]


class PosePredictor:
    """A model, its test pipeline and its keypoint layout, ready to predict images.

    Args:
        model: a ``TopdownPoseEstimator`` (moved to ``device``, set to eval).
        pipeline: the test pipeline's transforms (dict -> dict), ending in ``PackPoseInputs``.
        metainfo: the dataset meta information (flip indices, skeleton, colours, names).
        device: where the model runs.
        amp: bfloat16 autocast (on CPUs and GPUs).
        cfg: the config the parts came from (kept for the caller).
    """

    def __init__(self, model: nn.Module, pipeline: list, metainfo: dict, device: torch.device | str = "cpu",
                 amp: bool = False, cfg: Config | None = None):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.pipeline, self.metainfo, self.amp, self.cfg = pipeline, metainfo, amp, cfg
        self._item_meta = item_metainfo(metainfo)

    @classmethod
    def from_checkpoint(cls, path: str, config: str | None = None, cfg_options: list[str] | None = None,
                        device: str | None = None, amp: bool = False) -> "PosePredictor":
        """Build the checkpoint's model from the config it carries (or ``config``) and load it.

        Model-zoo files (MMPose 1.x/0.x, MMEngine training checkpoints) carry no mlpose config and
        need ``config``; their ``meta.dataset_meta`` gives the keypoint layout when the config's
        test dataset names none (see :func:`test_layout`).

        Raises:
            ConfigError: unreadable checkpoint, no config to build from, weights that do not fit.
        """
        ckpt = load_checkpoint(path)
        cfg = checkpoint_config(ckpt, path, config, cfg_options)
        model = build(cfg.model, MODELS, "model")
        state = model_weights(ckpt)
        problem = weight_mismatch(model.state_dict(), state)
        if problem:
            raise ConfigError(f"{path}: the weights do not fit the config's model ({problem}); "
                              "give the config it was trained with")
        model.load_state_dict(state, strict=True)
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        choice = (cfg.get("env_cfg") or {}).get("channels_last")
        if choice or (choice is None and device.type == "cpu"):  # as training: NHWC is faster on CPUs
            model = model.to(memory_format=torch.channels_last)
        pipeline, metainfo = test_layout(cfg, dataset_meta(ckpt), path)
        return cls(model, pipeline, metainfo, device, amp, cfg)

    @property
    def skeleton(self) -> list[tuple[int, int]]:
        return list(self.metainfo.get("skeleton", ()))

    def crop(self, task: ImageTask, box: np.ndarray, score: float, index: int) -> dict:
        """The packed test-pipeline item of one xywh box of ``task`` (``inputs`` + ``meta``)."""
        x, y, w, h = (float(v) for v in box)
        item = {"img": task.image, "img_path": None, "img_id": None, "id": index, "category_id": 1,
                "bbox": np.array([[x, y, x + w, y + h]], np.float32), "bbox_score": np.array([score], np.float32),
                **self._item_meta}
        return run_pipeline(self.pipeline, item)

    @torch.no_grad()
    def predict_crops(self, items: list[dict]) -> list[dict]:
        """``model.predict`` on a list of packed items; one dict per item (see the model contract)."""
        batch = pose_collate(items)
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()
        with autocast:
            return self.model.predict(batch["inputs"].to(self.device, non_blocking=True), batch["meta"])

    def predict(self, tasks: Iterable[ImageTask], batch_size: int = 32) -> Iterator[tuple[ImageTask, list[Person]]]:
        """Predict every usable box of every task; yields ``(task, people)`` in the tasks' order.

        Crops of consecutive images share batches of up to ``batch_size``; a task is yielded once
        all its crops are predicted (its ``problems`` list the boxes that were skipped).
        """
        if batch_size < 1:
            raise ConfigError(f"batch size must be >= 1, got {batch_size}")
        pending: deque[tuple[ImageTask, list]] = deque()  # tasks in order, people filled in place
        items: list[dict] = []
        owners: list[tuple[list, np.ndarray, float]] = []
        for task in tasks:
            boxes, scores = check_boxes(task)
            people: list = [None] * len(boxes)
            pending.append((task, people))
            for i, (box, score) in enumerate(zip(boxes, scores)):
                items.append(self.crop(task, box, float(score), i))
                owners.append((people, box, float(score)))
                if len(items) == batch_size:
                    self._run(items, owners)
                    items, owners = [], []
            while pending and None not in pending[0][1]:
                yield pending.popleft()
        if items:
            self._run(items, owners)
        yield from pending

    def _run(self, items: list[dict], owners: list[tuple[list, np.ndarray, float]]) -> None:
        for item, pred, (people, box, score) in zip(items, self.predict_crops(items), owners):
            people[item["meta"]["id"]] = Person(np.asarray(pred["keypoints"], np.float32),
                                                np.asarray(pred["keypoint_scores"], np.float32),
                                                np.asarray(box, np.float32), score)


def checkpoint_config(ckpt: dict, path: str, config: str | None, cfg_options: list[str] | None) -> Config:
    """``config`` (a file or short name) when given, else the config text the checkpoint carries."""
    if config:
        return load_config(config, cfg_options)
    text = ckpt.get("config")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{path}: this checkpoint ({describe(ckpt)}) carries no config; give the config it was "
                          "trained with (--config CONFIG; for MMPose's files, MMPose's .py config file)")
    name = (ckpt.get("meta") or {}).get("config_name") or "checkpoint"
    return config_from_text(text, name, cfg_options, source=f"{path} (its config)", keys=INFERENCE_KEYS)


def test_layout(cfg: Config, checkpoint_meta: dict | None = None, source: str = "checkpoint") -> tuple[list, dict]:
    """``(transforms, metainfo)`` of the config's test dataset (else its validation dataset).

    Only the dataset's own ``pipeline`` is used (a CombinedDataset's is the shared test pipeline;
    its parts' pipelines convert annotations). The metainfo is the dataset's ``metainfo`` when the
    config sets one, else ``checkpoint_meta`` (an MMPose checkpoint's ``meta.dataset_meta``, as
    MMPose's ``init_model`` uses it; ``source`` names the file in errors), else the dataset type's
    default; read without the annotation files, which an inference machine need not have.
    """
    key = "test_dataloader" if cfg.get("test_dataloader") else "val_dataloader"
    dataset = dict(((cfg.get(key) or {}).get("dataset")) or {})
    if not dataset.get("pipeline"):
        raise ConfigError(f"{cfg.filename}: {key}.dataset.pipeline is not set; inference crops boxes "
                          "with the test pipeline (LoadImage, GetBBoxCenterScale, TopdownAffine, PackPoseInputs)")
    pipeline = build_pipeline(dataset["pipeline"], f"{key}.dataset.pipeline")
    if dataset.get("metainfo") is not None:
        metainfo = load_metainfo(dataset["metainfo"], "")
    elif checkpoint_meta:
        metainfo = parse_metainfo(dataset_info_from_meta(checkpoint_meta, source), f"{source} (meta.dataset_meta)")
    else:  # the dataset type's default layout: built lazily, so no annotation file is read
        metainfo = build({**dataset, "pipeline": [], "lazy_init": True}, DATASETS, f"{key}.dataset").metainfo
    return pipeline, metainfo
