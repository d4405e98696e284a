# SimpleBaseline ResNetV1d-50 on COCO, 256x192: MMPose's td-hm_resnetv1d50_8xb64-210e_coco-256x192
# (COCO val AP 0.722 in MMPose's model zoo). The res50 recipe with ResNet-D: a deep stem of three
# 3x3 convs and average-pooled downsampling shortcuts. MMPose starts the backbone from mmpretrain's
# ImageNet weights (mmcls://resnet50_v1d); to do the same, set model.backbone.init_cfg=
# dict(type='Pretrained', checkpoint=LOCAL_COPY) in a config that inherits this one.
_base_ = ['td-hm_res50_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(type='ResNetV1d'))
