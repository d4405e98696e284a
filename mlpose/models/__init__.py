"""Models: ResNet-family, HRNet, ViT, CSPNeXt and MobileNetV2 backbones, necks, heatmap and SimCC
heads, losses and the top-down estimator.

Importing this package registers every component in ``mlpose.registry.MODELS``; build a model
with ``build(cfg['model'], MODELS, 'model')`` and call ``model.init_weights()`` once for a fresh
run to load configured pretrained weights.
"""
from mlpose.models.accuracy import heatmap_argmax, pose_accuracy, simcc_accuracy
from mlpose.models.backbones import (CSPNeXt, HRNet, MobileNetV2, ResNet, ResNetV1d, ResNeXt, SEResNet,
                                     VisionTransformer)
from mlpose.models.estimator import TopdownPoseEstimator
from mlpose.models.heads import HeatmapHead, RTMCCHead, SimCCHead, flip_heatmaps, flip_vectors
from mlpose.models.losses import KeypointMSELoss
from mlpose.models.losses_simcc import KLDiscretLoss
from mlpose.models.necks import FeatureMapProcessor
from mlpose.models.preprocessor import PoseDataPreprocessor

__all__ = [
    "CSPNeXt",
    "FeatureMapProcessor",
    "HRNet",
    "HeatmapHead",
    "KLDiscretLoss",
    "KeypointMSELoss",
    "MobileNetV2",
    "PoseDataPreprocessor",
    "RTMCCHead",
    "ResNeXt",
    "ResNet",
    "ResNetV1d",
    "SEResNet",
    "SimCCHead",
    "TopdownPoseEstimator",
    "VisionTransformer",
    "flip_heatmaps",
    "flip_vectors",
    "heatmap_argmax",
    "pose_accuracy",
    "simcc_accuracy",
]
