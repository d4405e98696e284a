"""RTMPose's head (Jiang et al. 2023): a large-kernel conv to K maps, a linear token embedding
per keypoint, a Gated Attention Unit across the K keypoint tokens, and one linear classifier per
axis. Parameter names equal MMPose's ``RTMCCHead`` (``final_layer``, ``mlp.0.g``, ``mlp.1``,
``gau.*``, ``cls_x``, ``cls_y``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.models.heads.rtmcc_block import RTMCCBlock, ScaleNorm
from mlpose.models.heads.simcc_head import SimCCHeadBase
from mlpose.registry import MODELS

GAU_DEFAULTS = dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0.0, drop_path=0.0,
                    act_fn="ReLU", use_rel_bias=False, pos_enc=False)


@MODELS.register()
class RTMCCHead(SimCCHeadBase):
    """SimCC head of RTMPose.

    Args:
        in_channels: channels of the backbone's last feature map (one int).
        out_channels: number of keypoints K (the GAU's tokens).
        input_size: ``(w, h)`` of the input crop in pixels.
        in_featuremap_size: ``(w, h)`` of the backbone's last feature map (input_size / 32
            for CSPNeXt).
        simcc_split_ratio: bins per input pixel; ``Wx = int(w * ratio)``.
        final_layer_kernel_size: kernel of the conv to K maps ("same" padding); RTMPose uses 7.
        gau_cfg: ``hidden_dims`` (token width), ``s`` (query/key width), ``expansion_factor``,
            ``dropout_rate``, ``drop_path``, ``act_fn`` ('SiLU' or 'ReLU'), ``use_rel_bias``,
            ``pos_enc``; keys left out take MMPose's defaults.
        loss: loss config (``KLDiscretLoss``).
        decoder: codec config (``SimCCLabel``) that :meth:`decode` uses.
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH)``; a pose checkpoint's ``head.*`` keys.

    Input: a tuple of feature maps (the last is used). Output ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: tuple[int, int],
        in_featuremap_size: tuple[int, int],
        simcc_split_ratio: float = 2.0,
        final_layer_kernel_size: int = 1,
        gau_cfg: dict | None = None,
        loss: dict = dict(type="KLDiscretLoss", use_target_weight=True),
        decoder: dict | None = None,
        init_cfg: dict | None = None,
    ):
        if not isinstance(in_channels, int):
            raise ConfigError(f"RTMCCHead.in_channels={in_channels!r}: expected one int (the last feature map's width)")
        if not isinstance(final_layer_kernel_size, int) or final_layer_kernel_size % 2 == 0:
            raise ConfigError(f"RTMCCHead.final_layer_kernel_size={final_layer_kernel_size!r}: expected an odd int")
        unknown = set(gau_cfg or {}) - set(GAU_DEFAULTS)
        if unknown:
            raise ConfigError(f"RTMCCHead.gau_cfg: unknown keys {sorted(unknown)}; accepted: {', '.join(GAU_DEFAULTS)}")
        gau = {**GAU_DEFAULTS, **(gau_cfg or {})}
        super().__init__("RTMCCHead", out_channels, input_size, in_featuremap_size, simcc_split_ratio, loss,
                         decoder, init_cfg)
        self.in_channels = in_channels
        flatten_dims = self.in_featuremap_size[0] * self.in_featuremap_size[1]
        hidden = gau["hidden_dims"]
        self.final_layer = nn.Conv2d(in_channels, out_channels, final_layer_kernel_size, 1,
                                     final_layer_kernel_size // 2)
        self.mlp = nn.Sequential(ScaleNorm(flatten_dims), nn.Linear(flatten_dims, hidden, bias=False))
        self.gau = RTMCCBlock(out_channels, hidden, hidden, s=gau["s"], expansion_factor=gau["expansion_factor"],
                              dropout_rate=gau["dropout_rate"], drop_path=gau["drop_path"], act_fn=gau["act_fn"],
                              use_rel_bias=gau["use_rel_bias"], pos_enc=gau["pos_enc"])
        self.cls_x = nn.Linear(hidden, self.simcc_size[0], bias=False)
        self.cls_y = nn.Linear(hidden, self.simcc_size[1], bias=False)
        self.reset_parameters()

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))`` from the last feature map ``(B, C, h, w)``."""
        x = feats if isinstance(feats, Tensor) else feats[-1]
        self.check_feature_size((x.shape[-1], x.shape[-2]))
        tokens = self.gau(self.mlp(torch.flatten(self.final_layer(x), 2)))  # (B, K, hidden)
        return self.cls_x(tokens), self.cls_y(tokens)
