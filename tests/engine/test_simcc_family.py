"""RTMPose's parts through the unchanged engine: a tiny CSPNeXt + RTMCCHead + SimCCLabel model
trains on generated data, validates through the flip test and the codec, resumes, and exports to
ONNX with its two SimCC outputs checked against the eager model."""
import json
import textwrap

import onnx
import pytest
import torch

from mlpose import registry as R
from mlpose.engine.jobs import TrainOptions, train
from mlpose.engine.predict import export


@pytest.fixture
def one_thread():
    # 2 shared cores: two spinning OpenMP threads under contention made these steps ~30x slower
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _config(tmp_path, tiny_data) -> str:
    path = tmp_path / "rtmpose-tiny.py"
    path.write_text(textwrap.dedent(f"""
        _base_ = ['{R.__file__.rsplit('/mlpose/', 1)[0]}/experiments/tiny.py']
        simcc = dict(type='SimCCLabel', input_size=(48, 64), sigma=(4.9, 5.66), simcc_split_ratio=2.0,
                     normalize=False, use_dark=False)
        model = dict(
            backbone=dict(_delete_=True, _scope_='mmdet', type='CSPNeXt', arch='P5', expand_ratio=0.5,
                          deepen_factor=0.167, widen_factor=0.125, out_indices=(4, ), channel_attention=True,
                          norm_cfg=dict(type='SyncBN'), act_cfg=dict(type='SiLU')),
            head=dict(_delete_=True, type='RTMCCHead', in_channels=128, out_channels=17,
                      input_size=simcc['input_size'], in_featuremap_size=(2, 2),
                      simcc_split_ratio=simcc['simcc_split_ratio'], final_layer_kernel_size=7,
                      gau_cfg=dict(hidden_dims=32, s=16, expansion_factor=2, dropout_rate=0., drop_path=0.,
                                   act_fn='SiLU', use_rel_bias=False, pos_enc=False),
                      loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True),
                      decoder=simcc),
            test_cfg=dict(_delete_=True, flip_test=True))
        train_dataloader = dict(batch_size=4, num_workers=0, dataset=dict(data_root='{tiny_data}/', pipeline=[
            dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
            dict(type='RandomFlip', direction='horizontal'),
            dict(type='TopdownAffine', input_size=simcc['input_size']),
            dict(type='GenerateTarget', encoder=simcc), dict(type='PackPoseInputs')]))
        val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(data_root='{tiny_data}/', pipeline=[
            dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
            dict(type='TopdownAffine', input_size=simcc['input_size']), dict(type='PackPoseInputs')]))
        test_dataloader = val_dataloader
        val_evaluator = dict(ann_file='{tiny_data}/annotations/person_keypoints_val.json')
        test_evaluator = val_evaluator
        optim_wrapper = dict(optimizer=dict(type='AdamW', lr=4e-3, weight_decay=0.05))
        train_cfg = dict(max_epochs=2, val_interval=1)
        param_scheduler = [dict(type='LinearLR', begin=0, end=5, start_factor=0.1, by_epoch=False)]
        default_hooks = dict(logger=dict(interval=2), checkpoint=dict(interval=1))
        tracking = dict(enabled=False)
    """))
    return str(path)


def test_rtmpose_trains_resumes_and_exports_two_simcc_outputs(tmp_path, tiny_data, one_thread):
    config, work = _config(tmp_path, tiny_data), tmp_path / "work"
    first = train(config, TrainOptions(work_dir=str(work), cfg_options=["train_cfg.max_epochs=1"]))
    assert 0.0 <= first["metrics"]["coco/AP"] <= 1.0  # flip test of the SimCC vectors, decoded by the codec
    resumed = train(config, TrainOptions(work_dir=str(work), resume="auto"))
    assert (work / "epoch_2.pth").exists() and "coco/AP" in resumed["metrics"]
    logged = [json.loads(line) for path in work.glob("*/vis_data/scalars.json") for line in path.read_text().splitlines()]
    steps = [row for row in logged if "loss_kpt" in row]
    assert steps and all(0.0 <= row["acc_pose"] <= 1.0 and row["loss"] == row["loss_kpt"] for row in steps)

    report = export(str(work / "epoch_2.pth"), "onnx", str(tmp_path / "rtmpose.onnx"))
    assert max(report.max_abs_diff.values()) <= 1e-4
    graph = onnx.load(str(tmp_path / "rtmpose.onnx")).graph
    assert [o.name for o in graph.output] == ["simcc_x", "simcc_y"]
    dims = [[d.dim_value for d in o.type.tensor_type.shape.dim][1:] for o in graph.output]
    assert dims == [[17, 96], [17, 128]]
