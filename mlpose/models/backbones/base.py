"""MMPose's ``frozen_stages`` and ``norm_eval``, shared by every backbone."""
from __future__ import annotations

from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class FreezableBackbone(nn.Module):
    """A backbone whose first stages can be frozen and whose BatchNorms can keep their statistics.

    A subclass sets ``frozen_stages`` and ``norm_eval`` and lists, in :meth:`frozen_modules`, the
    modules ``frozen_stages`` freezes (its stem and first stages); it calls :meth:`freeze_stages`
    after building and after loading pretrained weights. Frozen modules stay in eval mode (their
    BatchNorm statistics and drop paths fixed) with no gradient, also after ``model.train()``;
    with ``norm_eval`` every BatchNorm stays in eval mode while training.
    """

    frozen_stages: int = -1
    norm_eval: bool = False

    def frozen_modules(self) -> list[nn.Module]:
        """The modules ``frozen_stages`` freezes (none by default)."""
        return []

    def freeze_stages(self) -> None:
        for module in self.frozen_modules():
            module.eval()
            module.requires_grad_(False)

    def train(self, mode: bool = True) -> "FreezableBackbone":
        """Switch mode, keeping frozen stages (and all BatchNorms under ``norm_eval``) in eval mode."""
        super().train(mode)
        self.freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self
