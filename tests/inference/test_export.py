"""``mlpose export``: ONNX and TorchScript files that reproduce the eager heatmaps on real crops,
at any batch size, with what a consumer needs to know stored inside."""
import json

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from mlpose.engine.predict import export
from mlpose.errors import ConfigError
from mlpose.inference import ImageTask, PosePredictor
from mlpose.inference.export import TOLERANCE, export_model
from mlpose.inference.sources import Detections, expand_inputs, read_frames


@pytest.fixture(scope="module")
def predictor(pose_checkpoint):
    return PosePredictor.from_checkpoint(str(pose_checkpoint), device="cpu")


@pytest.fixture(scope="module")
def crops(predictor, tiny_data):
    """Test-pipeline crops of the detections of the generated validation images."""
    dets = Detections(str(tiny_data / "annotations" / "person_detection_results_val.json"))
    items = []
    for frame in read_frames(expand_inputs([str(tiny_data / "images" / "val")])):
        boxes, scores, _ = dets.boxes_for(frame)
        items += [predictor.crop(ImageTask(frame.name, frame.image), b, s, i) for i, (b, s) in enumerate(zip(boxes, scores))]
    return torch.stack([item["inputs"] for item in items])


def _eager(predictor, batch):
    with torch.no_grad():
        return predictor.model(batch).float().numpy()


def _check(run, predictor, crops):
    for size in (1, 2, 5, len(crops)):
        batch = crops[:size]
        eager = _eager(predictor, batch)
        with torch.no_grad():
            got = run(batch)
        assert got.shape == eager.shape == (size, 17, 64, 48)
        assert np.abs(got - eager).max() <= max(TOLERANCE * 1e-2, 1e-4 * np.abs(eager).max()), size


def test_onnx_file_reproduces_the_eager_heatmaps_at_any_batch_size(predictor, crops, tmp_path):
    assert len(crops) > 5
    report = export_model(predictor, "onnx", tmp_path / "pose.onnx", crops)
    assert report.format == "onnx" and set(report.max_abs_diff) == {1, 3}
    assert max(report.max_abs_diff.values()) <= TOLERANCE and "match the eager model within" in report.summary()
    session = onnxruntime.InferenceSession(str(tmp_path / "pose.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "inputs" and inp.type == "tensor(uint8)" and inp.shape[1:] == [3, 128, 96]
    assert not isinstance(inp.shape[0], int)  # a dynamic batch dimension
    _check(lambda b: session.run(None, {"inputs": b.numpy()})[0], predictor, crops)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "pose.onnx")).metadata_props}
    assert json.loads(meta["mlpose.input_size"]) == [96, 128] and meta["mlpose.codec"] == "UDPHeatmap"
    assert json.loads(meta["mlpose.flip_indices"])[1:3] == [2, 1]


def test_torchscript_file_reproduces_the_eager_heatmaps_at_any_batch_size(pose_checkpoint, predictor, crops, tmp_path):
    # through the job, as `mlpose export MODEL --format torchscript` runs it
    report = export(str(pose_checkpoint), "torchscript", str(tmp_path / "pose.pt"))
    assert max(report.max_abs_diff.values()) <= TOLERANCE
    extra = {"mlpose.json": ""}
    module = torch.jit.load(str(tmp_path / "pose.pt"), _extra_files=extra)
    info = json.loads(extra["mlpose.json"])
    assert json.loads(info["mlpose.outputs"]) == ["heatmaps"]
    assert json.loads(info["mlpose.codec_config"])["heatmap_size"] == [48, 64]
    _check(lambda b: module(b).numpy(), predictor, crops)


def test_unknown_format_is_one_line(predictor, tmp_path):
    with pytest.raises(ConfigError, match="--format 'tflite': use one of onnx, torchscript"):
        export_model(predictor, "tflite", tmp_path / "x")
