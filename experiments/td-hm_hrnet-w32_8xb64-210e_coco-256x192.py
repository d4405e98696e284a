# HRNet-W32 on COCO, 256x192: MMPose's td-hm_hrnet-w32_8xb64-210e_coco-256x192 (COCO val AP 0.746 in
# MMPose's model zoo). The res50 recipe's schedule, data and codec; HRNet's high-resolution branch
# is already at 1/4 of the input, so the head is only the final 1x1 conv (no deconvolutions).
# MMPose starts the backbone from ImageNet weights (download.openmmlab.com/mmpose/pretrain_models/
# hrnet_w32-36af842e.pth); to do the same, set model.backbone.init_cfg=dict(type='Pretrained',
# checkpoint=LOCAL_COPY) in a config that inherits this one. Without them it trains from scratch.
_base_ = ['td-hm_res50_8xb64-210e_coco-256x192.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4, ), num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4, 4), num_channels=(32, 64)),
            stage3=dict(
                num_modules=4, num_branches=3, block='BASIC', num_blocks=(4, 4, 4), num_channels=(32, 64, 128)),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(32, 64, 128, 256)))),
    head=dict(in_channels=32, deconv_out_channels=None))
