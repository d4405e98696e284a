"""Backbones: image -> tuple of feature maps."""
from mlpose.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mlpose.models.backbones.vit import VisionTransformer

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "VisionTransformer"]
