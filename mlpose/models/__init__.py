"""Models: ResNet-family, HRNet and ViT backbones, necks, heads, losses and the top-down estimator.

Importing this package registers every component in ``mlpose.registry.MODELS``; build a model
with ``build(cfg['model'], MODELS, 'model')`` and call ``model.init_weights()`` once for a fresh
run to load configured pretrained weights.
"""
from mlpose.models.accuracy import heatmap_argmax, pose_accuracy
from mlpose.models.backbones import HRNet, ResNet, ResNetV1d, ResNeXt, SEResNet, VisionTransformer
from mlpose.models.estimator import TopdownPoseEstimator
from mlpose.models.heads import HeatmapHead, flip_heatmaps
from mlpose.models.losses import KeypointMSELoss
from mlpose.models.necks import FeatureMapProcessor
from mlpose.models.preprocessor import PoseDataPreprocessor

__all__ = [
    "FeatureMapProcessor",
    "HRNet",
    "HeatmapHead",
    "KeypointMSELoss",
    "PoseDataPreprocessor",
    "ResNeXt",
    "ResNet",
    "ResNetV1d",
    "SEResNet",
    "TopdownPoseEstimator",
    "VisionTransformer",
    "flip_heatmaps",
    "heatmap_argmax",
    "pose_accuracy",
]
