"""Backbones: image -> tuple of feature maps."""
from mlpose.models.backbones.blocks import BasicBlock, Bottleneck
from mlpose.models.backbones.hrnet import HRNet
from mlpose.models.backbones.resnet import ResNet, ResNetV1d
from mlpose.models.backbones.resnext import ResNeXt
from mlpose.models.backbones.seresnet import SEResNet
from mlpose.models.backbones.vit import VisionTransformer

__all__ = ["BasicBlock", "Bottleneck", "HRNet", "ResNeXt", "ResNet", "ResNetV1d", "SEResNet", "VisionTransformer"]
