# The tiny recipe: a half-width ResNet-18 at 128x96 on data made by
# `mlpose data synth data/synth --difficulty simple` (what `make demo` generates and trains).
# 32 epochs of the 1500 simple images (~2,100 people) are ~67k crops: about 5.5 minutes, with
# validation, on 2 CPU cores with --amp (~210 crops/s), to COCO AP ~0.94 (48 epochs: 0.97, 8 min).
_base_ = ['td-hm_res50_8xb64-210e_coco-256x192.py']

train_cfg = dict(max_epochs=32, val_interval=4)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=32, T_max=32, eta_min=2e-5, by_epoch=True),
]
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=4, max_keep_ckpts=2, save_best='coco/AP', rule='greater'))
log_processor = dict(window_size=20)  # the log line averages over its interval
randomness = dict(seed=0)

# UDP at 64x48 heatmaps (a fourth, narrower deconvolution): the face keypoints' OKS tolerance
# is ~2 image pixels, a third of a 32x24 heatmap pixel of a mid-sized person here; UDP's
# corner-aligned crops also make the flip test exact (no one-pixel shift, no half-pixel bias).
codec = dict(type='UDPHeatmap', input_size=(96, 128), heatmap_size=(48, 64), sigma=2)
model = dict(
    backbone=dict(type='ResNet', depth=18, base_channels=32),
    head=dict(in_channels=256, deconv_out_channels=(128, 128, 64, 64),
              deconv_kernel_sizes=(4, 4, 4, 4), decoder=codec),
    test_cfg=dict(shift_heatmap=False))

data_root = 'data/synth/'
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    # Milder than the COCO recipe (x0.5-1.5 scale, 80 degrees, half bodies): the people here
    # stand upright, and a short schedule has no epochs to spare for heavy augmentation.
    dict(type='RandomBBoxTransform', scale_factor=(0.75, 1.25), rotate_factor=15.0),
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
train_dataloader = dict(
    batch_size=32,
    drop_last=True,  # full batches only (MMEngine's default, False, ends each epoch on a partial one)
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type='CocoDataset',
        data_root=data_root,
        ann_file='annotations/person_keypoints_train.json',
        data_prefix=dict(img='images/train/'),
        pipeline=train_pipeline))
# Validation on ground-truth boxes (the synthetic detections file is used by the coco recipes).
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    dataset=dict(
        _delete_=True,
        type='CocoDataset',
        data_root=data_root,
        ann_file='annotations/person_keypoints_val.json',
        data_prefix=dict(img='images/val/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/person_keypoints_val.json')
test_evaluator = val_evaluator
