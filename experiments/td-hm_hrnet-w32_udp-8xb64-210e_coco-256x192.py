# HRNet-W32 with UDP on COCO, 256x192: MMPose's td-hm_hrnet-w32_udp-8xb64-210e_coco-256x192 (COCO
# val AP 0.762). UDP (Huang et al. 2020): crops and heatmaps corner-aligned (pixel centres, not
# edges, at the box borders), so flipping is exact: no one-pixel shift of the flipped heatmaps.
_base_ = ['td-hm_hrnet-w32_8xb64-210e_coco-256x192.py']

codec = dict(type='UDPHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
model = dict(head=dict(decoder=codec), test_cfg=dict(shift_heatmap=False))

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
