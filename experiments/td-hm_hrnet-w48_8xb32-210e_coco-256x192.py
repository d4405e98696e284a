# HRNet-W48 on COCO, 256x192: MMPose's td-hm_hrnet-w48_8xb32-210e_coco-256x192 (COCO val AP 0.756).
# The W32 recipe with every branch 1.5x wider and 32 crops per GPU. MMPose keeps
# auto_scale_lr.base_batch_size at 512 although 8 x 32 = 256: so does this recipe. ImageNet
# weights as MMPose: pretrain_models/hrnet_w48-8ef0771d.pth (see the W32 recipe).
_base_ = ['td-hm_hrnet-w32_8xb64-210e_coco-256x192.py']

model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384)))),
    head=dict(in_channels=48))
train_dataloader = dict(batch_size=32)
