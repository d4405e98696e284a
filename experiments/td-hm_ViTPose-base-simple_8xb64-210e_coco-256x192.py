# ViTPose-B with the simple decoder: MMPose's td-hm_ViTPose-base-simple_8xb64-210e_coco-256x192.
# The classic recipe, but the decoder is ReLU + x4 bilinear upsampling (the FeatureMapProcessor
# neck) and one 3x3 conv to the heatmaps instead of two deconvolutions.
_base_ = ['td-hm_ViTPose-base_8xb64-210e_coco-256x192.py']

model = dict(
    neck=dict(type='FeatureMapProcessor', scale_factor=4.0, apply_relu=True),
    head=dict(deconv_out_channels=[], deconv_kernel_sizes=[], final_layer=dict(kernel_size=3, padding=1)))
