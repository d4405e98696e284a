"""``mlpose export``: the network as an ONNX or TorchScript file, checked against the eager model.

The exported graph is the model's ``forward``: uint8 BGR crops ``(B, 3, H, W)``, as the test
pipeline cuts them (``input_size`` of the codec), to the head's float32 outputs, named as the
head names them (``heatmaps`` ``(B, K, h, w)``; SimCC heads: ``simcc_x`` ``(B, K, Wx)`` and
``simcc_y`` ``(B, K, Wy)``); the normalisation is inside, the batch size is dynamic, flip test
and decoding (the codec, described in the file's metadata) are left to the caller. Right after
writing, the file is run (onnxruntime, ``torch.jit.load``) on real crops at batch sizes 1 and 3
and compared with the eager fp32 model: the largest absolute difference of any output must stay
within :data:`TOLERANCE` (heatmap peaks are about 0.3 to 1).
"""
from __future__ import annotations

import copy
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mlpose.errors import ConfigError
from mlpose.inference.predictor import ImageTask, PosePredictor
from mlpose.inference.sources import example_person
from mlpose.models.heads.base import as_tuple

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-4  # max |exported - eager| output value, fp32
CHECK_BATCH_SIZES = (1, 3)


@dataclass
class ExportReport:
    """What was written and how closely it reproduces the eager model.

    Attributes:
        path: the file.
        format: ``'onnx'`` or ``'torchscript'``.
        max_abs_diff: batch size -> largest absolute output difference to the eager model.
    """

    path: str
    format: str
    max_abs_diff: dict[int, float]

    def summary(self) -> str:
        diffs = ", ".join(f"batch {b}: {d:.1e}" for b, d in self.max_abs_diff.items())
        return (f"wrote {self.path} ({self.format}); its outputs match the eager model within {TOLERANCE:g} "
                f"(max |difference| {diffs})")


def example_crops(predictor: PosePredictor, count: int = max(CHECK_BATCH_SIZES)) -> torch.Tensor:
    """``count`` uint8 crops ``(count, 3, H, W)`` of a rendered person through the test pipeline
    (its box, then slightly shifted and scaled copies)."""
    image, (x, y, w, h) = example_person()
    boxes = [[x + 0.05 * i * w, y - 0.03 * i * h, w * (1 + 0.1 * i), h * (1 - 0.05 * i)] for i in range(count)]
    task = ImageTask("example", image)
    return torch.stack([predictor.crop(task, np.asarray(b), 1.0, i)["inputs"] for i, b in enumerate(boxes)])


def metadata(predictor: PosePredictor) -> dict[str, str]:
    """What a consumer of the file needs to know, as strings (ONNX metadata, TorchScript extra file)."""
    head = predictor.model.head
    codec = head.decoder
    decoder = (((predictor.cfg or {}).get("model") or {}).get("head") or {}).get("decoder") or {}
    return {"mlpose.input": "uint8 BGR crops (batch, 3, height, width), as mlpose's test pipeline cuts them",
            "mlpose.output": f"float32 {', '.join(head.output_names)} of {type(head).__name__}, per keypoint; "
                             "no flip test, not decoded (decode with the codec below)",
            "mlpose.outputs": json.dumps(list(head.output_names)),
            "mlpose.input_size": json.dumps(list(codec.input_size)),
            "mlpose.codec": type(codec).__name__,
            "mlpose.codec_config": json.dumps(dict(decoder), default=list),
            "mlpose.keypoint_names": json.dumps(predictor.metainfo.get("keypoint_names", [])),
            "mlpose.flip_indices": json.dumps(predictor.metainfo.get("flip_indices", []))}


def export_model(predictor: PosePredictor, fmt: str, out: str | os.PathLike,
                 crops: torch.Tensor | None = None) -> ExportReport:
    """Write the predictor's network to ``out`` as ``fmt`` and check it on ``crops``.

    Args:
        crops: uint8 ``(N, 3, H, W)`` test-pipeline crops, N >= 3 (default :func:`example_crops`).

    Raises:
        ConfigError: an unknown format, or a file that does not reproduce the eager heatmaps.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r}: use one of {', '.join(FORMATS)}")
    crops = example_crops(predictor) if crops is None else crops
    net = copy.deepcopy(predictor.model).cpu().float().eval().to(memory_format=torch.contiguous_format)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    example = crops[:2]  # batch 2: a batch of 1 would let the exporter fix the batch size
    names = list(predictor.model.head.output_names)
    (_export_onnx if fmt == "onnx" else _export_torchscript)(net, example, out, metadata(predictor), names)
    run = _onnx_runner(out) if fmt == "onnx" else _torchscript_runner(out)
    diffs = {}
    with torch.no_grad():
        for size in CHECK_BATCH_SIZES:
            batch = crops[:size]
            pairs = zip(run(batch), as_tuple(net(batch)), strict=True)
            diffs[size] = max(float(np.abs(got - want.numpy()).max()) for got, want in pairs)
    report = ExportReport(str(out), fmt, diffs)
    if max(diffs.values()) > TOLERANCE:
        raise ConfigError(f"{out}: the exported {fmt} outputs differ from the eager model's by "
                          f"{max(diffs.values()):.2e} > {TOLERANCE:g}; the file is not usable as it is")
    return report


def _export_onnx(net: torch.nn.Module, example: torch.Tensor, out: Path, meta: dict[str, str],
                 names: list[str]) -> None:
    import onnx

    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # it warns about torchvision ops that a pose network never uses
    try:
        torch.onnx.export(net, (example,), str(out), dynamo=True, input_names=["inputs"], output_names=names,
                          dynamic_shapes={"inputs": {0: torch.export.Dim("batch", min=1, max=4096)}},
                          external_data=False, verbose=False)
    finally:
        quiet.setLevel(level)
    model = onnx.load(str(out))
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(out))


def _export_torchscript(net: torch.nn.Module, example: torch.Tensor, out: Path, meta: dict[str, str],
                        names: list[str]) -> None:
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the input shape check becomes a constant
        traced = torch.jit.trace(net, example)
    torch.jit.save(traced, str(out), _extra_files={"mlpose.json": json.dumps(meta)})


def _onnx_runner(path: Path):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda batch: session.run(None, {"inputs": batch.numpy()})


def _torchscript_runner(path: Path):
    module = torch.jit.load(str(path), map_location="cpu")
    return lambda batch: [t.numpy() for t in as_tuple(module(batch))]
