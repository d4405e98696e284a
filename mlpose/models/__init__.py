"""Models: ResNet-family and HRNet backbones, the SimpleBaseline heatmap head, losses and the top-down estimator.

Importing this package registers every component in ``mlpose.registry.MODELS``; build a model
with ``build(cfg['model'], MODELS, 'model')`` and call ``model.init_weights()`` once for a fresh
run to load configured pretrained weights.
"""
from mlpose.models.accuracy import heatmap_argmax, pose_accuracy
from mlpose.models.backbones import HRNet, ResNet, ResNetV1d, ResNeXt, SEResNet
from mlpose.models.estimator import TopdownPoseEstimator
from mlpose.models.heads import HeatmapHead, flip_heatmaps
from mlpose.models.losses import KeypointMSELoss
from mlpose.models.preprocessor import PoseDataPreprocessor

__all__ = [
    "HRNet",
    "HeatmapHead",
    "KeypointMSELoss",
    "PoseDataPreprocessor",
    "ResNeXt",
    "ResNet",
    "ResNetV1d",
    "SEResNet",
    "TopdownPoseEstimator",
    "flip_heatmaps",
    "heatmap_argmax",
    "pose_accuracy",
]
