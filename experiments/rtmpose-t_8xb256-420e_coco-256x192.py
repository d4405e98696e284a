# RTMPose-t on COCO, 256x192 (MMPose's rtmpose-t_8xb256-420e_coco-256x192; COCO AP 0.682 there):
# the RTMPose-m recipe with a CSPNeXt-tiny backbone, no weight decay, and no EMA (MMPose turns it
# off for the tiny model); the stage-2 pipeline switch stays.
_base_ = ['rtmpose-m_8xb256-420e_coco-256x192.py']

optim_wrapper = dict(optimizer=dict(weight_decay=0.))
model = dict(
    backbone=dict(
        deepen_factor=0.167,
        widen_factor=0.375,
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/'
                      'cspnext-tiny_udp-aic-coco_210e-256x192-cbed682d_20230130.pth')),
    head=dict(in_channels=384))
custom_hooks = [
    dict(type='mmdet.PipelineSwitchHook', switch_epoch=420 - 30, switch_pipeline=_base_.train_pipeline_stage2),
]
