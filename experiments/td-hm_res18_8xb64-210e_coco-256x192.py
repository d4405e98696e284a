# SimpleBaseline ResNet-18 on COCO, 256x192: the res50 recipe with a ResNet-18 backbone.
_base_ = ['td-hm_res50_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(depth=18), head=dict(in_channels=512))
