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

# channels_last: None = NHWC on CPUs (faster in fp32 and bf16) and for AMP on GPUs; True/False forces it.
# cudnn_benchmark: cuDNN picks the fastest kernels for the fixed input size (off with deterministic).
# compile: torch.compile the training forward: True, or its keyword arguments, e.g. dict(mode='max-autotune').
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'), channels_last=None, compile=False)

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
    enabled=True,              # False: no MLflow run at all (files in the work dir only)
    uri=None,
    experiment=None,           # None -> the config's name
    log_checkpoints='best_last',  # 'all' uploads every epoch_N.pth too; 'none' uploads none
    log_model=True,            # the best and the last checkpoint as MLflow pose models ('all': every one)
    register_model=None,       # a name registers them in the Model Registry (aliases best, last)
    system_metrics=True,       # MLflow's system metrics (CPU, memory, disk, network; GPU with nvidia-ml-py), rank 0
    system_metrics_interval=10,  # seconds between samples ($MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL overrides)
    # At each validation, per dataset prefix (step images <prefix>/samples, /failures, /per_keypoint):
    num_step_images=8,         # the same validation samples every time, predicted + GT skeletons (0: off)
    num_failure_images=8,      # the samples of lowest OKS (0: off)
    log_breakdown=True,        # per-keypoint PCK/error chart + table, per-sample table (<prefix>_samples.json)
    flush_timeout=30)          # s a job waits at its end for an absent server (the rest: mlpose sync)

# skip_bad_images: a missing, empty or undecodable training image is skipped (warned once per file,
# counted in the log and as the metric data/skipped_images) instead of stopping the run.
data_cfg = dict(skip_bad_images=False)
# strict_config: a top-level name within edit distance 2 of a known section (trian_cfg) fails the
# load instead of only warning (the CLI's --strict does the same).
strict_config = False
