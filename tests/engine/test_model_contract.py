"""The model contract holds for a codec family the engine has never seen.

A toy coordinate-regression family (a codec, a head and its loss, defined here and registered
only for these tests) trains, validates, resumes and exports through the unchanged engine: the
loop, the batch, the flip test, the predictor and export name no target or output kind.
"""
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from mlpose import registry as R
from mlpose.engine.jobs import TrainOptions, train
from mlpose.engine.predict import export
from mlpose.models.heads.base import PoseHead


class ToyPointCodec:
    """Keypoints as coordinates in [0, 1] of the crop; all targets per instance."""

    corner_aligned = True  # the tiny recipe's crops are UDP crops
    target_keys = ("coords", "keypoint_weights")
    instance_keys = ("coords", "keypoint_weights")

    def __init__(self, input_size):
        self.input_size = tuple(input_size)

    def encode(self, keypoints, keypoints_visible=None):
        size = np.asarray(self.input_size, np.float32) - 1
        visible = np.ones(keypoints.shape[:2], np.float32) if keypoints_visible is None else keypoints_visible
        return dict(coords=(keypoints / size).astype(np.float32), keypoint_weights=(visible > 0.5).astype(np.float32))

    def decode(self, coords):
        keypoints = coords * (np.asarray(self.input_size, np.float32) - 1)
        return keypoints.astype(np.float32), np.ones(coords.shape[:2], np.float32)


class ToyPointHead(PoseHead):
    """Global average pool and a linear layer to K (x, y) pairs in [0, 1]."""

    output_names = ("coords",)
    test_cfg_defaults = dict(mirror=True)

    def __init__(self, in_channels, out_channels, decoder=None):
        super().__init__(decoder)
        self.fc = nn.Linear(in_channels, out_channels * 2)
        self.num_keypoints = out_channels

    def forward(self, feats):
        return self.fc(feats[-1].mean((2, 3))).view(-1, self.num_keypoints, 2).sigmoid()

    def loss(self, outputs, targets):
        weights = targets["keypoint_weights"][..., None]
        error = ((outputs - targets["coords"]).abs() * weights).sum() / weights.sum().clamp(min=1)
        return dict(loss_kpt=error, acc_pose=(error < 0.05).float())

    def flip_outputs(self, outputs, flip_indices, test_cfg):
        flipped = outputs[:, list(flip_indices)] if flip_indices is not None else outputs
        return torch.stack([1 - flipped[..., 0], flipped[..., 1]], -1) if test_cfg["mirror"] else flipped


@pytest.fixture
def toy_family(monkeypatch):
    monkeypatch.setitem(R.CODECS._table, "ToyPointCodec", ToyPointCodec)
    monkeypatch.setitem(R.MODELS._table, "ToyPointHead", ToyPointHead)


@pytest.fixture
def toy_config(tmp_path, tiny_data):
    path = tmp_path / "toy.py"
    path.write_text(textwrap.dedent(f"""
        _base_ = ['{R.__file__.rsplit('/mlpose/', 1)[0]}/experiments/tiny.py']
        toy_codec = dict(type='ToyPointCodec', input_size=(96, 128))
        model = dict(
            backbone=dict(base_channels=8),
            head=dict(_delete_=True, type='ToyPointHead', in_channels=64, out_channels=17, decoder=toy_codec),
            test_cfg=dict(_delete_=True, flip_test=True, mirror=True))
        train_dataloader = dict(batch_size=4, num_workers=0, dataset=dict(data_root='{tiny_data}/', pipeline=[
            dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
            dict(type='RandomFlip', direction='horizontal'),
            dict(type='TopdownAffine', input_size=toy_codec['input_size'], use_udp=True),
            dict(type='GenerateTarget', encoder=toy_codec), dict(type='PackPoseInputs')]))
        val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(data_root='{tiny_data}/'))
        test_dataloader = val_dataloader
        val_evaluator = dict(ann_file='{tiny_data}/annotations/person_keypoints_val.json')
        test_evaluator = val_evaluator
        train_cfg = dict(max_epochs=2, val_interval=1)
        param_scheduler = [dict(type='LinearLR', begin=0, end=5, start_factor=0.1, by_epoch=False)]
        default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1))
        tracking = dict(enabled=False)
    """))
    return str(path)


def test_a_new_codec_family_trains_resumes_and_exports_through_the_engine(toy_family, toy_config, tmp_path):
    work = tmp_path / "work"
    result = train(toy_config, TrainOptions(work_dir=str(work), cfg_options=["train_cfg.max_epochs=1"]))
    assert 0.0 <= result["metrics"]["coco/AP"] <= 1.0  # predicted through flip test, decoded by the codec
    resumed = train(toy_config, TrainOptions(work_dir=str(work), resume="auto"))
    assert (work / "epoch_2.pth").exists() and "coco/AP" in resumed["metrics"]

    report = export(str(work / "epoch_2.pth"), "onnx", str(tmp_path / "toy.onnx"))
    assert max(report.max_abs_diff.values()) <= 1e-4
    import onnx

    graph = onnx.load(str(tmp_path / "toy.onnx")).graph
    assert [o.name for o in graph.output] == ["coords"]
