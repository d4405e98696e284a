# ViTPose-L (classic decoder): MMPose's td-hm_ViTPose-large_8xb64-210e_coco-256x192.
# The ViTPose-B recipe with ViT-L/16 (24 layers, 1024 wide), more drop path and a slower lr decay.
_base_ = ['td-hm_ViTPose-base_8xb64-210e_coco-256x192.py']

optim_wrapper = dict(paramwise_cfg=dict(num_layers=24, layer_decay_rate=0.8))

model = dict(
    backbone=dict(
        arch='large',
        drop_path_rate=0.5,
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmpose/v1/pretrained_models/mae_pretrain_vit_large_20230913.pth')),
    head=dict(in_channels=1024))
