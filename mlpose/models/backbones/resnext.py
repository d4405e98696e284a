"""ResNeXt (Xie et al. 2017): ResNet whose bottlenecks use grouped 3x3 convs, MMPose's layout."""
from __future__ import annotations

from mlpose.errors import ConfigError
from mlpose.models.backbones.resnet import BOTTLENECK_SETTINGS, ResNet, resnet_signature
from mlpose.registry import MODELS


@MODELS.register()
@resnet_signature()
class ResNeXt(ResNet):
    """ResNeXt-50/101/152 (``32x4d`` by default); takes :class:`ResNet`'s other arguments.

    A stage of ``planes`` (``base_channels * 2**i``) has bottlenecks of inner width
    ``groups * width_per_group * planes / base_channels`` (256 for 32x4d's first stage) and
    ``4 * planes`` outputs, as MMPose computes them, so its checkpoints load unchanged.

    Args:
        depth: 50, 101 or 152.
        groups: groups (cardinality) of each bottleneck's 3x3 conv.
        width_per_group: channels per group at the first stage.
    """

    arch_settings = BOTTLENECK_SETTINGS

    def __init__(self, depth: int, groups: int = 32, width_per_group: int = 4, **kwargs):
        if groups < 1 or width_per_group < 1:
            raise ConfigError(f"ResNeXt: groups={groups!r} and width_per_group={width_per_group!r} must be >= 1")
        # read by block_options while ResNet.__init__ builds the stages
        self.groups = groups
        self.width_per_group = width_per_group
        super().__init__(depth, **kwargs)

    def block_options(self, planes: int) -> dict:
        if self.groups == 1:  # MMPose keeps the plain ResNet width then
            return {}
        return dict(groups=self.groups, mid_channels=self.groups * self.width_per_group * planes // self.base_channels)
