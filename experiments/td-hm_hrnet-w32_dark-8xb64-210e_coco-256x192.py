# HRNet-W32 with DARK on COCO, 256x192: MMPose's td-hm_hrnet-w32_dark-8xb64-210e_coco-256x192 (COCO
# val AP 0.757). DARK (Zhang et al. 2020): targets centred on the sub-pixel keypoint (unbiased
# encoding) and a Taylor-expansion refinement of each decoded peak.
_base_ = ['td-hm_hrnet-w32_8xb64-210e_coco-256x192.py']

codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2, unbiased=True)
model = dict(head=dict(decoder=codec))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
