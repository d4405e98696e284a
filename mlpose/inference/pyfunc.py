"""The MLflow pose model: a ``mlflow.pyfunc`` model that takes encoded images and person boxes
and answers keypoints in image pixels, with every pre- and post-processing step inside.

    model = mlflow.pyfunc.load_model('models:/pose@best')        # no mlpose config needed
    model.predict(pd.DataFrame({'image': [jpeg_bytes], 'boxes': [[[x, y, w, h, score]]]}))
    # -> [{'poses': [{'keypoints': [[x, y, score]] * K, 'bbox': [x, y, w, h], 'bbox_score': s}]}]

Input rows: ``image``, JPEG/PNG/... bytes (base64 text in JSON and CSV requests); ``boxes``
optional, a list of ``[x, y, w, h]`` or ``[x, y, w, h, score]`` person boxes in pixels (COCO's
xywh; JSON text in a CSV request); a missing or null ``boxes`` means the whole image is one box,
an empty list means no people. Output: one ``{"poses": [...]}`` per row, one pose per box, in
the boxes' order; no rows, no answers. A row that cannot be used (no image, not base64, bytes
that do not decode, a malformed box or one outside the image) fails the request with one line
naming the row and the field: HTTP 400 from ``mlflow models serve``, never a stack trace.

The signature declares the output only. With an input schema MLflow checks and converts the
rows before the model sees them, and says less than the model can: a ``binary`` image column is
base64-decoded by the scoring server, whose error names neither the row nor the field; a
required column turns an empty request into "missing inputs" while an optional one lets MLflow
drop unknown columns, so a row without ``image`` would silently get no answer; a column of type
``Any`` or array makes every CSV request fail inside MLflow with a stack trace in the answer. So
the model checks every row itself (:func:`request_tasks`) and the inputs are documented here.
MLflow's CSV and Parquet readers still answer a body they cannot parse at all (an empty or
ragged CSV) with their own 400, traceback included; no MLflow setting turns that off
(``mlflow.pyfunc.scoring_server.parse_csv_input``, MLflow 3.17).

The model folder holds ``artifacts/checkpoint.pth`` (weights, the redacted config, meta and the
train state; no optimizer) and ``pose_model.py`` (MLflow's models-from-code: it imports
:class:`PoseModel` from mlpose, so the serving machine needs mlpose installed). The same
:class:`~mlpose.inference.predictor.PosePredictor` runs ``mlpose infer``. ``model_config`` keys
at load time: ``cfg_options`` (``--cfg-options`` list), ``batch_size`` (crops per forward, 32).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import tempfile
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR
from mlflow.types.schema import Array, ColSpec, DataType, Object, Property, Schema

from mlpose import __version__
from mlpose.errors import first_line
from mlpose.datasets.transforms import decode_image
from mlpose.inference.outputs import pose_answer
from mlpose.inference.predictor import ImageTask, PosePredictor, check_boxes
from mlpose.inference.sources import example_person
from mlpose.runtime.foreign import model_weights

CHECKPOINT_ARTIFACT = "checkpoint"
# The output only: the inputs are checked by request_tasks (module docstring).
SIGNATURE = ModelSignature(
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
        try:
            tasks = request_tasks(model_input)
            return [pose_answer(people) for _, people in self.predictor.predict(tasks, self.batch_size)]
        except MlflowException:
            raise
        except Exception as exc:  # a fault of the model, not of the request: one line out, the trace in the log
            logging.getLogger(__name__).exception("pose model failed")
            raise MlflowException(f"the pose model failed on this request ({type(exc).__name__}: "
                                  f"{first_line(exc)}); the server log has the details",
                                  error_code=INTERNAL_ERROR) from None


def _bad(row: int, message: str) -> MlflowException:
    return MlflowException.invalid_parameter_value(f"row {row}: {message}")


def request_tasks(rows) -> list[ImageTask]:
    """One :class:`ImageTask` per row, or an ``INVALID_PARAMETER_VALUE`` error naming the row
    and the field. No rows: no tasks.

    Args:
        rows: a DataFrame (``dataframe_records``/``dataframe_split``/CSV requests, Python
            callers), a dict of columns (``inputs``/``instances``) or a list of row dicts.
    """
    frame = _as_frame(rows)
    if len(frame) and "image" not in frame.columns:
        others = f" (it has {', '.join(map(str, frame.columns))})" if len(frame.columns) else ""
        raise _bad(0, f"image: missing{others}; each row needs an image: JPEG or PNG bytes, base64 text in JSON")
    tasks = []
    boxes_col = frame["boxes"] if "boxes" in frame.columns else [None] * len(frame)
    for row, (data, boxes) in enumerate(zip(frame["image"] if len(frame) else [], boxes_col)):
        task = ImageTask(row, _image(row, data), *_boxes(row, boxes))
        check_boxes(task)
        if task.problems:
            raise _bad(row, task.problems[0])
        tasks.append(task)
    return tasks


def _as_frame(rows) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    try:
        if isinstance(rows, dict):  # columns; nested lists became arrays, kept per row
            return pd.DataFrame({k: list(np.asarray(v, dtype=object)) if np.ndim(v) else [v] for k, v in rows.items()})
        return pd.DataFrame(list(rows))
    except (TypeError, ValueError) as exc:
        raise MlflowException.invalid_parameter_value(
            f"the request is not a table of rows with an image field ({first_line(exc)}); send "
            '{"dataframe_records": [{"image": BASE64, "boxes": [[x, y, w, h]]}, ...]}') from None


def _image(row: int, data) -> np.ndarray:
    """The decoded image of one row's ``image`` value (bytes, or base64 text)."""
    if data is None or (isinstance(data, float) and np.isnan(data)):
        raise _bad(row, "image: missing (null); send JPEG or PNG bytes, base64 text in JSON")
    if isinstance(data, str):
        try:
            data = base64.b64decode(data, validate=False)  # as MLflow's binary columns: newlines allowed
        except (binascii.Error, ValueError) as exc:
            raise _bad(row, f"image: {len(data)} characters that are not base64 ({exc}); send the image bytes "
                            "base64-encoded") from None
    if not isinstance(data, (bytes, bytearray)):
        raise _bad(row, f"image: a value of type {type(data).__name__} where JPEG or PNG bytes (base64 text in JSON) "
                        "belong")
    try:
        image = decode_image(bytes(data), "auto") if data else None
    except cv2.error:  # OpenCV raises instead of returning None for some bytes
        image = None
    if image is None:
        raise _bad(row, f"image: {len(data)} bytes that do not decode as an image (send JPEG or PNG bytes, "
                        "base64-encoded in JSON)")
    return image


def _boxes(row: int, boxes) -> tuple[np.ndarray | None, np.ndarray | None]:
    if boxes is None or (isinstance(boxes, float) and np.isnan(boxes)):
        return None, None  # the whole image (pandas puts NaN in records without "boxes")
    if isinstance(boxes, str):  # a CSV request carries the list as JSON text
        try:
            boxes = json.loads(boxes)
        except json.JSONDecodeError:
            pass
    found = []
    listed = isinstance(boxes, (list, tuple, np.ndarray))
    for box in boxes if listed else ():
        try:
            found.append(np.asarray(box, np.float64).reshape(-1))
        except (TypeError, ValueError):
            break
    if not listed or len(found) != len(boxes) or any(len(b) not in (4, 5) for b in found):
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
    weights = model_weights(ckpt)
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
