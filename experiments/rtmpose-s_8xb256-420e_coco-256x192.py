# RTMPose-s on COCO, 256x192 (MMPose's rtmpose-s_8xb256-420e_coco-256x192; COCO AP 0.716 there):
# the RTMPose-m recipe with a CSPNeXt-s backbone and no weight decay.
_base_ = ['rtmpose-m_8xb256-420e_coco-256x192.py']

optim_wrapper = dict(optimizer=dict(weight_decay=0.))
model = dict(
    backbone=dict(
        deepen_factor=0.33,
        widen_factor=0.5,
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/'
                      'cspnext-s_udp-aic-coco_210e-256x192-92f5a029_20230130.pth')),
    head=dict(in_channels=512))
