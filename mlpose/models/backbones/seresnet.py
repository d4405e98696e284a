"""SE-ResNet (Hu et al. 2018): ResNet whose bottlenecks end in a squeeze-and-excitation gate."""
from __future__ import annotations

from mlpose.errors import ConfigError
from mlpose.models.backbones.resnet import BOTTLENECK_SETTINGS, ResNet, resnet_signature
from mlpose.registry import MODELS


@MODELS.register()
@resnet_signature()
class SEResNet(ResNet):
    """SE-ResNet-50/101/152; takes :class:`ResNet`'s other arguments.

    Each bottleneck gates its last BN's output per channel (``se_layer.conv1/conv2``, MMPose's
    names) before the residual sum.

    Args:
        depth: 50, 101 or 152.
        se_ratio: squeeze ratio; the gate's hidden width is ``4 * planes / se_ratio``.
    """

    arch_settings = BOTTLENECK_SETTINGS

    def __init__(self, depth: int, se_ratio: int = 16, **kwargs):
        if not isinstance(se_ratio, (int, float)) or se_ratio <= 0:
            raise ConfigError(f"SEResNet.se_ratio={se_ratio!r} must be a positive number")
        self.se_ratio = se_ratio  # read by block_options while ResNet.__init__ builds the stages
        super().__init__(depth, **kwargs)

    def block_options(self, planes: int) -> dict:
        return dict(se_ratio=self.se_ratio)
