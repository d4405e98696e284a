"""The ``visualizer`` config section: scalars, images and the config text sent to backends.

``visualizer = dict(type='PoseLocalVisualizer', vis_backends=[dict(type='LocalVisBackend'),
dict(type='TensorboardVisBackend')], name='visualizer')`` writes under
``WORK_DIR/TIMESTAMP/vis_data``: ``scalars.json`` (JSON lines), ``config.py``,
``vis_image/*.png`` and TensorBoard event files (``tensorboard --logdir .../vis_data``).
Only rank 0 writes; on other ranks every method does nothing.
"""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Mapping

import cv2
import numpy as np
import torch

from mlpose.errors import ConfigError
from mlpose.registry import VISBACKENDS, build
from mlpose.runtime import dist
from mlpose.visualization.draw import draw_pose

# Types a ``visualizer`` config may name; they all mean this class (MMPose uses the first).
VISUALIZER_TYPES = ("PoseLocalVisualizer", "Visualizer")


def _scalar(value) -> float | int:
    """A JSON/TensorBoard-friendly number from a python/numpy/0-dim torch value."""
    if isinstance(value, torch.Tensor):
        value = value.detach().item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"scalar values must be numbers, got {type(value).__name__}")
    return value


@VISBACKENDS.register()
class LocalVisBackend:
    """Plain files in ``save_dir``: ``scalars.json`` (one JSON object per line, with ``step``),
    ``config.py`` and images as ``vis_image/{name}_{step}.png``."""

    def __init__(self, save_dir: str, img_save_dir: str = "vis_image", config_save_file: str = "config.py",
                 scalar_save_file: str = "scalars.json"):
        self.save_dir = Path(save_dir)
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self.img_dir = self.save_dir / img_save_dir
        self.config_file = self.save_dir / config_save_file
        self.scalar_file = self.save_dir / scalar_save_file

    def add_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        # NaN/inf are written as null so the file stays strict JSON.
        row = {k: (v if math.isfinite(v) else None) for k, v in scalars.items()}
        row["step"] = step
        with open(self.scalar_file, "a") as f:
            f.write(json.dumps(row) + "\n")

    def add_image(self, name: str, img: np.ndarray, step: int) -> None:
        self.img_dir.mkdir(parents=True, exist_ok=True)
        safe = name.replace("/", "_").replace("\\", "_")
        cv2.imwrite(str(self.img_dir / f"{safe}_{step}.png"), img)

    def add_config(self, text: str) -> None:
        self.config_file.write_text(text)

    def close(self) -> None:
        pass


@VISBACKENDS.register()
class TensorboardVisBackend:
    """TensorBoard event files in ``save_dir`` (via ``torch.utils.tensorboard.SummaryWriter``)."""

    def __init__(self, save_dir: str, flush_secs: int = 30):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise ConfigError(f"TensorboardVisBackend needs the tensorboard package ({exc}); "
                              "pip install tensorboard, or remove it from visualizer.vis_backends") from None
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        self.writer = SummaryWriter(log_dir=str(save_dir), flush_secs=flush_secs)

    def add_scalars(self, scalars: Mapping[str, float], step: int) -> None:
        for key, value in scalars.items():
            self.writer.add_scalar(key, value, step)
        # Logged at the log interval only, so flushing here is cheap and keeps the board current.
        self.writer.flush()

    def add_image(self, name: str, img: np.ndarray, step: int) -> None:
        self.writer.add_image(name, np.ascontiguousarray(img[..., ::-1]), step, dataformats="HWC")

    def add_config(self, text: str) -> None:
        # Markdown code block keeps the config's indentation in TensorBoard's text tab.
        self.writer.add_text("config", "```python\n" + text + "\n```", 0)

    def close(self) -> None:
        self.writer.close()


class Visualizer:
    """Fans scalars, images and the config out to the configured backends (rank 0 only).

    Args:
        vis_backends: backend configs, e.g. ``[dict(type='LocalVisBackend')]``; each gets
            ``save_dir`` unless it sets its own. None or [] writes nothing.
        save_dir: the directory backends write to, normally ``WORK_DIR/TIMESTAMP/vis_data``.
        name: a label (MMPose configs set ``'visualizer'``).
        radius: keypoint radius for :meth:`draw_pose` (pixels; None: by image size).
        line_width: link thickness for :meth:`draw_pose` (pixels; None: by image size).
        alpha: accepted for MMPose config compatibility; drawing is opaque.
        kpt_thr: score threshold for drawing predicted keypoints.
    """

    def __init__(self, vis_backends: list[dict] | None = None, save_dir: str | None = None,
                 name: str = "visualizer", radius: int | None = None, line_width: int | None = None,
                 alpha: float = 1.0, kpt_thr: float = 0.3):
        self.name, self.save_dir = name, save_dir
        self.radius, self.line_width, self.alpha, self.kpt_thr = radius, line_width, alpha, kpt_thr
        self.backends: list = []
        if vis_backends and save_dir is None:
            raise ConfigError("visualizer: vis_backends are set but no save_dir was given")
        if not isinstance(vis_backends or [], list):
            raise ConfigError(f"visualizer.vis_backends: expected a list of dict(type=...), got {vis_backends!r}")
        if dist.is_main():
            for i, cfg in enumerate(vis_backends or []):
                self.backends.append(build(cfg, VISBACKENDS, f"visualizer.vis_backends[{i}]", save_dir=save_dir))

    def add_scalars(self, scalars: Mapping[str, object], step: int) -> None:
        """Record numbers (python, numpy or 0-dim tensors; ``.item()`` happens here) at ``step``."""
        if not self.backends:
            return
        values = {k: _scalar(v) for k, v in scalars.items()}
        for backend in self.backends:
            backend.add_scalars(values, int(step))

    def add_image(self, name: str, img: np.ndarray, step: int = 0) -> None:
        """Record a ``(H, W, 3)`` BGR uint8 image."""
        for backend in self.backends:
            backend.add_image(name, img, int(step))

    def add_config(self, text: str) -> None:
        """Record the config text (a python config file's content)."""
        for backend in self.backends:
            backend.add_config(text)

    def draw_pose(self, img: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None = None,
                  **kwargs) -> np.ndarray:
        """:func:`mlpose.visualization.draw.draw_pose` with this visualizer's radius/width/threshold."""
        kwargs.setdefault("radius", self.radius)
        kwargs.setdefault("thickness", self.line_width)
        kwargs.setdefault("kpt_thr", self.kpt_thr)
        return draw_pose(img, keypoints, scores, **kwargs)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()
        self.backends = []


def build_visualizer(cfg: dict | None, save_dir: str, path: str = "visualizer") -> Visualizer:
    """Make a :class:`Visualizer` from the ``visualizer`` config section.

    Args:
        cfg: the section (its ``type`` must be one of ``VISUALIZER_TYPES`` or absent); None
            gives a visualizer without backends.
        save_dir: default output directory (``WORK_DIR/TIMESTAMP/vis_data``); a ``save_dir``
            key in ``cfg`` overrides it.

    Raises:
        ConfigError: for an unknown visualizer type, key or backend.
    """
    cfg = dict(cfg or {})
    kind = cfg.pop("type", VISUALIZER_TYPES[0])
    if kind not in VISUALIZER_TYPES:
        raise ConfigError(f"{path}.type: unknown {kind!r}; use one of {', '.join(VISUALIZER_TYPES)}")
    cfg["save_dir"] = cfg.get("save_dir") or save_dir
    return build(dict(type=Visualizer, **cfg), VISBACKENDS, path)
