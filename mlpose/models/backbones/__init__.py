"""Backbones: image -> tuple of feature maps."""
from mlpose.models.backbones.cspnext import CSPNeXt
from mlpose.models.backbones.mobilenet_v2 import MobileNetV2
from mlpose.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mlpose.models.backbones.vit import VisionTransformer

__all__ = ["BasicBlock", "Bottleneck", "CSPNeXt", "MobileNetV2", "ResNet", "VisionTransformer"]
