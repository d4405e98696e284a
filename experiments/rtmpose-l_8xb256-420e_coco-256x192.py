# RTMPose-l on COCO, 256x192 (MMPose's rtmpose-l_8xb256-420e_coco-256x192; COCO AP 0.758 there):
# the RTMPose-m recipe with a CSPNeXt-l backbone.
_base_ = ['rtmpose-m_8xb256-420e_coco-256x192.py']

model = dict(
    backbone=dict(
        deepen_factor=1.,
        widen_factor=1.,
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/'
                      'cspnext-l_udp-aic-coco_210e-256x192-273b7631_20230130.pth')),
    head=dict(in_channels=1024))
