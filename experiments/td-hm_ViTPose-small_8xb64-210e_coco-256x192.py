# ViTPose-S (classic decoder): MMPose's td-hm_ViTPose-small_8xb64-210e_coco-256x192.
# The ViTPose-B recipe with a 384-wide, 12-layer ViT (12 heads, as MMPose's config; not mmpretrain's 'small').
_base_ = ['td-hm_ViTPose-base_8xb64-210e_coco-256x192.py']

optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.8))

model = dict(
    backbone=dict(
        arch=dict(embed_dims=384, num_layers=12, num_heads=12, feedforward_channels=384 * 4),
        drop_path_rate=0.1,
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmpose/v1/pretrained_models/mae_pretrain_vit_small_20230913.pth')),
    head=dict(in_channels=384))
