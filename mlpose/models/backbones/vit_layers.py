"""Building blocks of the Vision Transformer, in mmpretrain's / mmcv's parameter layout.

Module names equal mmpretrain's ``TransformerEncoderLayer`` (``ln1``, ``attn.qkv``, ``attn.proj``,
``attn.gamma1``, ``ln2``, ``ffn.layers.0.0``, ``ffn.layers.1``, ``ffn.gamma2``) and mmcv's
``PatchEmbed`` (``projection``), so MAE-pretrained and ViTPose checkpoints load without renaming.
Tokens are ``(B, N, C)``: batch, tokens, embedding channels.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlpose.errors import ConfigError


class LayerScale(nn.Module):
    """Per-channel learnable scale of a residual branch (CaiT); ``weight`` starts at ``init_value``."""

    def __init__(self, dim: int, init_value: float):
        super().__init__()
        self.weight = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight


class DropPath(nn.Module):
    """Stochastic depth: zero a residual branch for a random ``drop_prob`` share of the samples
    while training, scaling the kept ones by ``1 / (1 - drop_prob)``; the identity in eval mode."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = float(drop_prob)

    def forward(self, x: Tensor) -> Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        mask = torch.empty((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


class PatchEmbed(nn.Module):
    """Image to patch tokens: one strided convolution (``projection``), flattened.

    Args:
        in_channels: image channels.
        embed_dims: token width C.
        patch_size: kernel and stride of the convolution (pixels).
        padding: an int (zero padding on every side, e.g. ViTPose's 2), or ``'corner'`` / ``'same'``
            (mmcv's adaptive padding: pad the bottom-right, or both sides, so every pixel is covered).
        bias: whether the convolution has a bias.
        input_size: ``(H, W)`` the position embedding is made for.

    Attributes:
        init_out_size: ``(h, w)`` patch grid of ``input_size``.
    """

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int, padding: int | str = "corner",
                 bias: bool = True, input_size: tuple[int, int] = (224, 224)):
        super().__init__()
        self.patch_size = patch_size
        self.adaptive = padding if isinstance(padding, str) else None
        if self.adaptive not in (None, "corner", "same"):
            raise ConfigError(f"VisionTransformer.patch_cfg.padding={padding!r}: use an int, 'corner' or 'same'")
        conv_pad = 0 if self.adaptive else padding
        self.projection = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size, conv_pad, bias=bias)
        self.init_out_size = self.grid_size(input_size)

    def _pads(self, size: tuple[int, int]) -> tuple[int, int]:
        """Adaptive padding ``(pad_h, pad_w)`` for an input of ``size`` ``(H, W)``."""
        if not self.adaptive:
            return 0, 0
        p = self.patch_size
        return tuple(max((math.ceil(s / p) - 1) * p + p - s, 0) for s in size)

    def grid_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """Patch grid ``(h, w)`` of an input of ``size`` ``(H, W)``."""
        pad = self.projection.padding
        h, w = (s + extra for s, extra in zip(size, self._pads(size)))
        return ((h + 2 * pad[0] - self.patch_size) // self.patch_size + 1,
                (w + 2 * pad[1] - self.patch_size) // self.patch_size + 1)

    def forward(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """``(B, C_in, H, W)`` -> tokens ``(B, h * w, C)`` and the grid ``(h, w)``."""
        if self.adaptive:
            pad_h, pad_w = self._pads(tuple(x.shape[-2:]))
            if pad_h or pad_w:
                left, top = (pad_w // 2, pad_h // 2) if self.adaptive == "same" else (0, 0)
                x = F.pad(x, [left, pad_w - left, top, pad_h - top])
        x = self.projection(x)
        grid = (x.shape[2], x.shape[3])
        return x.flatten(2).transpose(1, 2), grid


class MultiheadAttention(nn.Module):
    """Self-attention over tokens, computed by ``F.scaled_dot_product_attention``.

    Output: ``drop_path(gamma1(proj_drop(proj(attention))))`` of shape ``(B, N, C)``; the caller
    adds the residual.
    """

    def __init__(self, embed_dims: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, drop_path: float = 0.0, layer_scale_init_value: float = 0.0):
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f"VisionTransformer: embed_dims={embed_dims} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        self.out_drop = DropPath(drop_path)
        self.gamma1 = LayerScale(embed_dims, layer_scale_init_value) if layer_scale_init_value > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        x = self.proj(x.transpose(1, 2).reshape(b, n, c))
        return self.out_drop(self.gamma1(self.proj_drop(x)))


class FFN(nn.Module):
    """Two-layer MLP with GELU, mmcv's layout: ``layers = [[fc1, GELU, Dropout], fc2, Dropout]``.

    ``forward(x, identity)`` returns ``identity + drop_path(gamma2(layers(x)))``.
    """

    def __init__(self, embed_dims: int, feedforward_channels: int, ffn_drop: float = 0.0, drop_path: float = 0.0,
                 layer_scale_init_value: float = 0.0):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(embed_dims, feedforward_channels), nn.GELU(), nn.Dropout(ffn_drop)),
            nn.Linear(feedforward_channels, embed_dims),
            nn.Dropout(ffn_drop),
        )
        self.gamma2 = LayerScale(embed_dims, layer_scale_init_value) if layer_scale_init_value > 0 else nn.Identity()
        self.dropout_layer = DropPath(drop_path)

    def forward(self, x: Tensor, identity: Tensor) -> Tensor:
        return identity + self.dropout_layer(self.gamma2(self.layers(x)))


class TransformerEncoderLayer(nn.Module):
    """One pre-norm encoder layer: ``x + attn(ln1(x))``, then ``x + ffn(ln2(x))``.

    Args:
        embed_dims: token width C.
        num_heads: attention heads (C must divide by it).
        feedforward_channels: hidden width of the MLP.
        layer_scale_init_value: > 0 adds LayerScale to both branches, starting at this value.
        drop_rate: dropout after the attention projection and in the MLP.
        drop_path_rate: stochastic depth probability of both branches.
        qkv_bias: bias on the query/key/value projection.
        norm_eps: LayerNorm epsilon.
    """

    def __init__(self, embed_dims: int, num_heads: int, feedforward_channels: int,
                 layer_scale_init_value: float = 0.0, drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 qkv_bias: bool = True, norm_eps: float = 1e-6):
        super().__init__()
        self.ln1 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.attn = MultiheadAttention(embed_dims, num_heads, qkv_bias, proj_drop=drop_rate,
                                       drop_path=drop_path_rate, layer_scale_init_value=layer_scale_init_value)
        self.ln2 = nn.LayerNorm(embed_dims, eps=norm_eps)
        self.ffn = FFN(embed_dims, feedforward_channels, drop_rate, drop_path_rate, layer_scale_init_value)

    def reset_parameters(self) -> None:
        """mmpretrain's init of the MLP: Xavier-uniform weights, N(0, 1e-6) biases."""
        for m in self.ffn.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return self.ffn(self.ln2(x), identity=x)


def resize_pos_embed(pos_embed: Tensor, src_grid: tuple[int, int], dst_grid: tuple[int, int], mode: str = "bicubic",
                     num_extra_tokens: int = 1) -> Tensor:
    """Interpolate a position embedding to another patch grid (extra tokens kept as they are).

    Args:
        pos_embed: ``(1, num_extra_tokens + h * w, C)``.
        src_grid: ``(h, w)`` of ``pos_embed``.
        dst_grid: ``(h', w')`` wanted.
        mode: ``F.interpolate`` mode (in float32: bicubic takes no half precision).
        num_extra_tokens: leading tokens that are not on the grid (1 with a cls token).

    Returns:
        ``(1, num_extra_tokens + h' * w', C)`` in ``pos_embed``'s dtype.
    """
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    c = grid.shape[-1]
    grid = grid.reshape(1, src_grid[0], src_grid[1], c).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=tuple(dst_grid), mode=mode, align_corners=False)
    grid = grid.flatten(2).transpose(1, 2).to(pos_embed.dtype)
    return torch.cat((extra, grid), dim=1)
