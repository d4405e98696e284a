"""Backbones: image -> tuple of feature maps."""
from mlpose.models.backbones.blocks import BasicBlock, Bottleneck
from mlpose.models.backbones.cspnext import CSPNeXt
from mlpose.models.backbones.hrnet import HRNet
from mlpose.models.backbones.mobilenet_v2 import MobileNetV2
from mlpose.models.backbones.resnet import ResNet, ResNetV1d
from mlpose.models.backbones.resnext import ResNeXt
from mlpose.models.backbones.seresnet import SEResNet
from mlpose.models.backbones.vit import VisionTransformer

__all__ = ["BasicBlock", "Bottleneck", "CSPNeXt", "HRNet", "MobileNetV2", "ResNeXt", "ResNet", "ResNetV1d",
           "SEResNet", "VisionTransformer"]
