"""Backbones: image -> tuple of feature maps."""
from mlpose.models.backbones.blocks import BasicBlock, Bottleneck
from mlpose.models.backbones.resnet import ResNet, ResNetV1d

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "ResNetV1d"]
