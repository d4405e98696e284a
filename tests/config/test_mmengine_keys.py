"""MMEngine's runtime keys as MMPose's config files carry them: each one runs, is ignored with one
logged line, or is refused at load with one line naming the key; bottom-up configs are named as such."""
import logging

import pytest

from mlpose.config import load_config, resolve_config_path
from mlpose.config import mmengine_keys
from mlpose.errors import ConfigError

TINY = resolve_config_path("tiny").resolve()

# The runtime part of MMPose 1.x's configs/_base_/default_runtime.py, key for key (its values).
MMPOSE_RUNTIME = """
default_scope = 'mmpose'
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook', enable=False),
    badcase=dict(type='BadCaseAnalysisHook', enable=False, out_dir='badcase', metric_type='loss', badcase_thr=5))
custom_hooks = [dict(type='SyncBuffersHook')]
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='PoseLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False
backend_args = dict(backend='local')
train_cfg = dict(by_epoch=True)
val_cfg = dict()
test_cfg = dict()
"""


def _cfg(tmp_path, body, runtime=MMPOSE_RUNTIME):
    path = tmp_path / "c.py"
    path.write_text(f"_base_ = ['{TINY}']\n{runtime}\n{body}\n")
    return path


@pytest.fixture
def notes(caplog):
    """The warnings logged at load (each key is logged once per process and file: reset that)."""
    mmengine_keys._logged.clear()
    caplog.set_level(logging.WARNING, logger="mlpose")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "mlpose"]


def test_mmposes_runtime_loads_and_says_what_it_ignores(tmp_path, notes):
    cfg = load_config(_cfg(tmp_path, "default_hooks = dict(logger=dict(interval=50))"))
    assert cfg.default_scope == "mmpose" and cfg.env_cfg.dist_cfg.backend == "nccl"
    lines = notes()
    assert len(lines) == 1, lines  # the values that match what mlpose does anyway say nothing
    assert "custom_hooks.0 SyncBuffersHook is ignored: every rank trains, validates and saves rank 0's" in lines[0]
    assert lines[0].startswith(str(tmp_path / "c.py"))


@pytest.mark.parametrize("body, pattern", [
    ("default_hooks = dict(checkpoint=dict(type='Nonsense'))",
     r"c\.py: default_hooks\.checkpoint\.type='Nonsense': mlpose's loop does the job of CheckpointHook itself.*"
     r"set type='CheckpointHook'"),
    ("default_hooks = dict(logger=dict(type='mmengine.CheckpointHook'))", r"default_hooks\.logger\.type="),
    ("default_hooks = dict(checkpoint=dict(by_epoch=False))",
     r"default_hooks\.checkpoint\.by_epoch=False: mlpose saves checkpoints at the end of epochs"),
    ("default_hooks = dict(checkpoint=dict(out_dir='s3://x'))", r"default_hooks\.checkpoint\.out_dir='s3://x'.*--work-dir"),
    ("custom_hooks = [dict(type='SyncBuffersHook'), dict(type='mmengine.EarlyStoppingHook', monitor='coco/AP')]",
     r"custom_hooks\.1\.type='mmengine\.EarlyStoppingHook': not implemented; set train_cfg\.max_epochs"),
    ("custom_hooks = [dict(type='MyOwnHook')]",
     r"custom_hooks\.0\.type='MyOwnHook' is not a hook mlpose knows \(it runs: EMAHook, PipelineSwitchHook\)"),
    ("custom_hooks = [dict(type='CheckpointHook')]", r"a default hook: set it in default_hooks"),
    ("custom_hooks = [dict(type='RTMOModeSwitchHook')]", r"a hook of a bottom-up model"),
    ("custom_hooks = ['EMAHook']", r"custom_hooks\.0 must be a dict with a 'type' string"),
    ("log_processor = dict(type='Fancy')", r"log_processor\.type='Fancy' is not what mlpose runs; use LogProcessor"),
    ("train_cfg = dict(type='IterBasedTrainLoop')", r"train_cfg\.type='IterBasedTrainLoop'.*EpochBasedTrainLoop"),
    ("train_cfg = dict(by_epoch=False)", r"train_cfg\.by_epoch=False: mlpose trains by epochs"),
    ("train_cfg = dict(dynamic_intervals=[(280, 1)])", r"train_cfg\.dynamic_intervals is not implemented"),
    ("val_cfg = dict(type='MultiValLoop')", r"val_cfg\.type='MultiValLoop'.*ValLoop"),
    ("env_cfg = dict(dist_cfg=dict(backend='carrier-pigeon'))",
     r"env_cfg\.dist_cfg\.backend='carrier-pigeon': unknown backend 'carrier-pigeon'; use one of nccl, gloo"),
    ("env_cfg = dict(dist_cfg=dict(timeout=60))", r"unknown key env_cfg\.dist_cfg\.timeout"),
    ("train_dataloader = dict(sampler=dict(shuffel=False))", r"unknown key train_dataloader\.sampler\.shuffel; did you mean"),
    ("env_cfg = dict(mp_cfg=dict(mp_start_method='thread'))", r"env_cfg\.mp_cfg\.mp_start_method='thread'"),
    ("default_scope = 'mmdet'", r"default_scope='mmdet': use one of None, 'mlpose', 'mmpose'"),
    ("log_level = 'LOUD'", r"log_level='LOUD': use one of 'DEBUG', 'INFO'"),
    ("optim_wrapper = dict(type='AmpOptimWrapper', loss_scale=512.0)",
     r"optim_wrapper\.loss_scale=512\.0: only 'dynamic' \(torch's GradScaler, on CUDA\) is implemented"),
    ("optim_wrapper = dict(loss_scale='dynamic')", r"optim_wrapper\.loss_scale is a key of AmpOptimWrapper"),
    ("optim_wrapper = dict(type='AmpOptimWrapper', dtype='bfloat16')", r"optim_wrapper\.dtype='bfloat16'"),
    ("model_wrapper_cfg = dict(type='MMDistributedDataParallel')", r"model_wrapper_cfg is not an mlpose key"),
    ("compile = True", r"compile is not an mlpose key: set env_cfg\.compile=True"),
    ("data_preprocessor = dict(type='PoseDataPreprocessor')\nmodel = dict(data_preprocessor=None)",
     r"a top-level data_preprocessor is not read by mlpose; set model\.data_preprocessor"),
])
def test_refused_at_load_in_one_line(tmp_path, body, pattern):
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(_cfg(tmp_path, body))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("body, line", [
    ("default_hooks = dict(visualization=dict(enable=True))",
     "default_hooks.visualization.enable=True is ignored: MLflow step images replace it"),
    ("default_hooks = dict(badcase=dict(enable=True))", "default_hooks.badcase.enable=True is ignored: MLflow's failure"),
    ("log_processor = dict(window_size=10)", "log_processor.window_size=10 is ignored: mlpose averages"),
    ("env_cfg = dict(mp_cfg=dict(mp_start_method='spawn'))", "env_cfg.mp_cfg.mp_start_method='spawn' is ignored"),
    ("fp16 = dict(loss_scale='dynamic')", "fp16={'loss_scale': 'dynamic'} is ignored: MMPose 0.x's key"),
    ("launcher = 'slurm'", "launcher='slurm' is ignored: the launcher is --launcher"),
    ("val_dataloader = dict(sampler=dict(round_up=True))", "val_dataloader.sampler.round_up=True is ignored: mlpose never pads"),
    ("train_dataloader = dict(sampler=dict(seed=3))", "train_dataloader.sampler.seed=3 is ignored: the sampler is seeded"),
    ("test_dataloader = dict(drop_last=True)", "test_dataloader.drop_last=True is ignored: evaluation never drops"),
    ("custom_hooks = [dict(type='mmdet.CheckInvalidLossHook', interval=50)]",
     "custom_hooks.0 mmdet.CheckInvalidLossHook is ignored: mlpose stops at the first log line"),
])
def test_ignored_keys_are_logged_once(tmp_path, notes, body, line):
    path = _cfg(tmp_path, body, runtime="")
    load_config(path)
    load_config(path)
    matching = [n for n in notes() if line in n]
    assert len(matching) == 1 and matching[0].startswith(f"{path}: {line}"), notes()


def test_hooks_the_engine_runs_load_without_a_note(tmp_path, notes):
    cfg = load_config(_cfg(tmp_path, "custom_hooks = [dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, "
                                     "update_buffers=True, priority=49), dict(type='mmdet.PipelineSwitchHook', "
                                     "switch_epoch=2, switch_pipeline=[])]", runtime=""))
    assert [h.type for h in cfg.custom_hooks] == ["EMAHook", "mmdet.PipelineSwitchHook"] and notes() == []


def test_mlposes_own_recipes_log_nothing(notes):
    for path in sorted(TINY.parent.glob("*.py")):
        load_config(path)
    assert notes() == []


@pytest.mark.parametrize("body, shown", [
    ("model = dict(type='BottomupPoseEstimator', head=dict(type='CIDHead'))", "model.type='BottomupPoseEstimator'"),
    ("data_mode = 'bottomup'\nmodel = dict(head=dict(type='CIDHead'))", "data_mode='bottomup'"),
    ("train_dataloader = dict(dataset=dict(data_mode='bottomup'))\nmodel = dict(head=dict(type='CIDHead'))",
     "train_dataloader.dataset.data_mode='bottomup'"),
])
def test_bottom_up_configs_are_named_before_anything_else(tmp_path, body, shown):
    # the unknown head would be reported first otherwise: the family is what the user must know
    path = _cfg(tmp_path, body)
    with pytest.raises(ConfigError, match="shows a bottom-up") as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: {shown} shows a bottom-up (whole-image) pose model; "
                                      "mlpose trains and tests top-down models only")


def test_pure_python_configs_are_one_line(tmp_path):
    text = ("from mmengine.config import read_base\n\nwith read_base():\n    from ._base_.default_runtime import *\n\n"
            "from {0} import {1}\nmodel = dict(type={1})\n")
    top_down = tmp_path / "td.py"
    top_down.write_text(text.format("mmpose.models", "TopdownPoseEstimator"))
    with pytest.raises(ConfigError, match=r"td\.py:3: MMEngine's pure-Python config format .* is not supported"):
        load_config(top_down)
    bottom_up = tmp_path / "bu.py"
    bottom_up.write_text(text.format("mmpose.models", "BottomupPoseEstimator"))
    with pytest.raises(ConfigError, match=r"bu\.py:6: importing BottomupPoseEstimator shows a bottom-up"):
        load_config(bottom_up)
