# SimpleBaseline ResNeXt-50 (32x4d) on COCO, 256x192: MMPose's td-hm_resnext50_8xb64-210e_coco-256x192
# (COCO val AP 0.715 in MMPose's model zoo). The res50 recipe with grouped 3x3 convs: 32 groups of
# 4 channels in the first stage (MMPose's defaults groups=32, width_per_group=4). MMPose starts the
# backbone from mmpretrain's ImageNet weights (mmcls://resnext50_32x4d); to do the same, set
# model.backbone.init_cfg=dict(type='Pretrained', checkpoint=LOCAL_COPY) in a config that inherits this one.
_base_ = ['td-hm_res50_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(type='ResNeXt'))
