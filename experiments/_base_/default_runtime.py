# Runtime defaults shared by every recipe (MMPose's default_runtime, mlpose flavour).
default_scope = 'mlpose'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, save_best=None, max_keep_ckpts=-1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook', enable=False, interval=50, kpt_thr=0.3),
)

# channels_last: None = NHWC on CPUs (faster in fp32 and bf16) and for AMP on GPUs; True/False forces it
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'), channels_last=None)

visualizer = dict(
    type='PoseLocalVisualizer',
    vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')],
    name='visualizer')

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False

randomness = dict(seed=None, diff_rank_seed=False, deterministic=False)

# MLflow: uri None -> $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working directory.
tracking = dict(
    uri=None,
    experiment=None,           # None -> the config's name
    log_checkpoints='best_last',  # 'all' uploads every epoch_N.pth too; 'none' uploads none
    log_model=True,            # log the best checkpoint as an MLflow PyTorch model
    register_model=None,       # a name registers it in the Model Registry
    model_alias='best')
