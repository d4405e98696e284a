# SimpleBaseline SEResNet-50 on COCO, 256x192: MMPose's td-hm_seresnet50_8xb64-210e_coco-256x192
# (COCO val AP 0.729 in MMPose's model zoo). The res50 recipe with a squeeze-and-excitation gate in
# every bottleneck (se_ratio=16). MMPose starts the backbone from mmpretrain's ImageNet weights
# (mmcls://se-resnet50); to do the same, set model.backbone.init_cfg=dict(type='Pretrained',
# checkpoint=LOCAL_COPY) in a config that inherits this one.
_base_ = ['td-hm_res50_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(type='SEResNet'))
