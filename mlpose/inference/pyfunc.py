"""The MLflow pose model: a ``mlflow.pyfunc`` model that takes encoded images and person boxes
and answers keypoints in image pixels, with every pre- and post-processing step inside.

    model = mlflow.pyfunc.load_model('models:/pose@best')        # no mlpose config needed
    model.predict(pd.DataFrame({'image': [jpeg_bytes], 'boxes': [[[x, y, w, h, score]]]}))
    # -> [{'poses': [{'keypoints': [[x, y, score]] * K, 'bbox': [x, y, w, h], 'bbox_score': s}]}]

Input rows (the signature): ``image`` binary, JPEG/PNG/... bytes (base64 in JSON requests);
``boxes`` optional, a list of ``[x, y, w, h]`` or ``[x, y, w, h, score]`` person boxes in pixels
(COCO's xywh); a missing or null ``boxes`` means the whole image is one box, an empty list means
no people. Output: one ``{"poses": [...]}`` per row, one pose per box, in the boxes' order.
A row that cannot be used (an image that does not decode, a malformed box or one outside the
image) fails the request with one line naming the row: HTTP 400 from ``mlflow models serve``.

The model folder holds ``artifacts/checkpoint.pth`` (weights, the redacted config, meta and the
train state; no optimizer) and ``pose_model.py`` (MLflow's models-from-code: it imports
:class:`PoseModel` from mlpose, so the serving machine needs mlpose installed). The same
:class:`~mlpose.inference.predictor.PosePredictor` runs ``mlpose infer``. ``model_config`` keys
at load time: ``cfg_options`` (``--cfg-options`` list), ``batch_size`` (crops per forward, 32).
"""
from __future__ import annotations

import base64
import binascii
import os
import tempfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types.schema import AnyType, Array, ColSpec, DataType, Object, Property, Schema

from mlpose import __version__
from mlpose.datasets.transforms import decode_image
from mlpose.inference.outputs import pose_answer
from mlpose.inference.predictor import ImageTask, PosePredictor, check_boxes
from mlpose.inference.sources import example_person

CHECKPOINT_ARTIFACT = "checkpoint"
# boxes is Any, checked by request_tasks: MLflow's Array(Array(double)) refuses int64 (JSON clients
# write 10.0 as 10) and the NaN pandas puts in rows of dataframe_records without "boxes".
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec(DataType.binary, "image"), ColSpec(AnyType(), "boxes", required=False)]),
    outputs=Schema([ColSpec(Array(Object([Property("keypoints", Array(Array(DataType.double))),
                                          Property("bbox", Array(DataType.double)),
                                          Property("bbox_score", DataType.double)])), "poses")]))
_CODE = ("# mlpose pose model (MLflow models-from-code); the model class lives in mlpose.\n"
         "import mlflow\n\nfrom mlpose.inference.pyfunc import PoseModel\n\nmlflow.models.set_model(PoseModel())\n")


class PoseModel(mlflow.pyfunc.PythonModel):
    """``load_context`` builds the predictor from the model's checkpoint; ``predict`` answers rows."""

    def load_context(self, context) -> None:
        config = context.model_config or {}
        self.batch_size = int(config.get("batch_size", 32))
        self.predictor = PosePredictor.from_checkpoint(context.artifacts[CHECKPOINT_ARTIFACT],
                                                       cfg_options=list(config.get("cfg_options") or []))

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> list[dict]:
        tasks = request_tasks(model_input)
        return [pose_answer(people) for _, people in self.predictor.predict(tasks, self.batch_size)]


def _bad(row: int, message: str) -> MlflowException:
    return MlflowException.invalid_parameter_value(f"row {row}: {message}")


def request_tasks(frame: pd.DataFrame) -> list[ImageTask]:
    """One :class:`ImageTask` per row, or an ``INVALID_PARAMETER_VALUE`` error naming the row."""
    tasks = []
    boxes_col = frame["boxes"] if "boxes" in frame.columns else [None] * len(frame)
    for row, (data, boxes) in enumerate(zip(frame["image"], boxes_col)):
        if isinstance(data, str):
            try:
                data = base64.b64decode(data, validate=False)
            except (binascii.Error, ValueError):
                raise _bad(row, "image: a string must be base64-encoded image bytes") from None
        image = decode_image(bytes(data), "auto") if isinstance(data, (bytes, bytearray)) and data else None
        if image is None:
            size = len(data) if isinstance(data, (bytes, bytearray)) else 0
            raise _bad(row, f"image: {size} bytes that do not decode as an image (send JPEG or PNG bytes, "
                            "base64-encoded in JSON)")
        task = ImageTask(row, image, *_boxes(row, boxes))
        check_boxes(task)
        if task.problems:
            raise _bad(row, task.problems[0])
        tasks.append(task)
    return tasks


def _boxes(row: int, boxes) -> tuple[np.ndarray | None, np.ndarray | None]:
    if boxes is None or (isinstance(boxes, float) and np.isnan(boxes)):
        return None, None  # the whole image (pandas puts NaN in records without "boxes")
    found = []
    if isinstance(boxes, (list, tuple, np.ndarray)):
        for box in boxes:
            try:
                found.append(np.asarray(box, np.float64).reshape(-1))
            except (TypeError, ValueError):
                break
    if len(found) != len(boxes) or any(len(b) not in (4, 5) for b in found):
        raise _bad(row, f"boxes: {str(boxes)[:80]} is not a list of [x, y, w, h] or [x, y, w, h, score] "
                        "boxes in pixels")
    return (np.array([b[:4] for b in found]).reshape(-1, 4),
            np.array([b[4] if len(b) == 5 else 1.0 for b in found]))


def input_example() -> pd.DataFrame:
    """One rendered person (JPEG) with its box and score: the model's stored input example."""
    import cv2

    image, box = example_person()
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    return pd.DataFrame({"image": [jpeg], "boxes": [[[*box, 1.0]]]})


def slim_checkpoint(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """Write what the model needs of a training checkpoint: ``state_dict`` (the weights),
    ``config``, ``meta`` and ``state``; the optimizer, scheduler and RNG states stay behind."""
    import torch

    ckpt = torch.load(src, map_location="cpu", weights_only=True, mmap=True)  # mmap: only what is copied is read
    weights = ckpt.get("model") or ckpt.get("state_dict") or ckpt
    torch.save({"state_dict": weights, **{k: ckpt[k] for k in ("config", "meta", "state") if k in ckpt}}, dst)


def requirements() -> list[str]:
    """What the model's environment needs (mlpose brings the rest)."""
    import torch

    return [f"mlpose=={__version__}", f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"]


def save_pose_model(path: str | os.PathLike, checkpoint: str | os.PathLike, mlflow_model=None) -> None:
    """Save the pose model of the training ``checkpoint`` file as an MLflow model folder ``path``.

    Args:
        mlflow_model: the ``mlflow.models.Model`` to fill (a logged model's, carrying its id and
            run); None for a plain folder.
    """
    with tempfile.TemporaryDirectory(prefix="mlpose-pose-model-") as tmp:
        slim = Path(tmp) / "checkpoint.pth"
        slim_checkpoint(checkpoint, slim)
        code = Path(tmp) / "pose_model.py"
        code.write_text(_CODE)
        mlflow.pyfunc.save_model(path, python_model=str(code), artifacts={CHECKPOINT_ARTIFACT: str(slim)},
                                 signature=SIGNATURE, input_example=input_example(),
                                 model_config={"cfg_options": [], "batch_size": 32},
                                 pip_requirements=requirements(), mlflow_model=mlflow_model)
