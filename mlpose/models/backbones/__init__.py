"""Backbones: image -> tuple of feature maps."""
from mlpose.models.backbones.resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["BasicBlock", "Bottleneck", "ResNet"]
