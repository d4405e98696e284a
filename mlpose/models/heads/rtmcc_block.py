"""The Gated Attention Unit of RTMPose's head (``RTMCCBlock``), with ``ScaleNorm`` and ``Scale``.

GAU (Hua et al. 2022, "Transformer Quality in Linear Time"): one shared projection gives a
gate ``u``, values ``v`` and a small base from which per-token queries and keys are made by
scale-and-offset; attention weights are ``relu(q k^T / sqrt(s))^2`` (no softmax). In RTMPose
the tokens are the K keypoints. Parameter names equal MMPose's (``uv``, ``o``, ``gamma``,
``beta``, ``w``, ``ln.g``, ``res_scale.scale``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mlpose.errors import ConfigError

ACTIVATIONS = {"SiLU": nn.SiLU, "ReLU": nn.ReLU}


class ScaleNorm(nn.Module):
    """``g * x / max(||x|| / sqrt(dim), eps)`` over the last axis, one learnt scalar ``g``
    (Nguyen & Salazar 2019)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.scale = dim**-0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: Tensor) -> Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class Scale(nn.Module):
    """Element-wise multiplication by a learnt vector ``scale`` of length ``dim``."""

    def __init__(self, dim: int, init_value: float = 1.0, trainable: bool = True):
        super().__init__()
        self.scale = nn.Parameter(init_value * torch.ones(dim), requires_grad=trainable)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


class DropPath(nn.Module):
    """Stochastic depth: while training, zero a sample's whole branch with probability ``p``
    and scale the kept ones by ``1 / (1 - p)``; identity in eval mode."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = torch.rand((x.shape[0],) + (1,) * (x.ndim - 1), dtype=x.dtype, device=x.device)
        return x / keep * (mask + keep).floor()


def rope(x: Tensor, dim: int) -> Tensor:
    """Rotary position embedding along axis ``dim`` of ``x`` (MMPose's variant).

    Position ``p`` (0-based along ``dim``) rotates feature pair ``(x1_i, x2_i)`` (the two halves of
    the last axis) by the angle ``p * 10000 ** (i / half)``.

    Args:
        x: ``(..., L, ..., C)`` with ``C`` even; ``dim`` indexes ``L``.
        dim: the positional axis (not the last).

    Returns:
        A tensor of ``x``'s shape.
    """
    half = x.shape[-1] // 2
    position = torch.arange(x.shape[dim], device=x.device).reshape((-1,) + (1,) * (x.ndim - dim - 2))
    inv_freq = 10000 ** (torch.arange(half, device=x.device) / float(half))
    angle = position[..., None] * inv_freq
    sin, cos = torch.sin(angle), torch.cos(angle)
    x1, x2 = torch.chunk(x, 2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class RTMCCBlock(nn.Module):
    """Self-attention Gated Attention Unit over ``num_token`` tokens, with a scaled shortcut.

    Args:
        num_token: number of tokens (keypoints); sizes the relative position bias.
        in_token_dims: input token width.
        out_token_dims: output token width; a shortcut ``res_scale(x) + gau(x)`` exists when
            it equals ``in_token_dims``.
        expansion_factor: width of the gate and values is ``e = in_token_dims * expansion_factor``.
        s: width of queries and keys.
        eps: ScaleNorm's minimum norm.
        dropout_rate: dropout on the attention weights.
        drop_path: stochastic-depth probability of the GAU branch.
        act_fn: ``'SiLU'`` or ``'ReLU'`` after the shared projection.
        bias: biases in the ``uv`` and ``o`` projections.
        use_rel_bias: add a learnt relative position bias ``w[j - i + num_token - 1]`` to
            ``q_i . k_j``.
        pos_enc: rotary position embedding on queries and keys.

    Input ``(B, num_token, in_token_dims)``; output ``(B, num_token, out_token_dims)``.
    """

    def __init__(self, num_token: int, in_token_dims: int, out_token_dims: int, expansion_factor: float = 2,
                 s: int = 128, eps: float = 1e-5, dropout_rate: float = 0.0, drop_path: float = 0.0,
                 act_fn: str = "SiLU", bias: bool = False, use_rel_bias: bool = True, pos_enc: bool = False):
        super().__init__()
        if act_fn not in ACTIVATIONS:
            raise ConfigError(f"gau_cfg.act_fn={act_fn!r}: use one of {', '.join(ACTIVATIONS)}")
        if not isinstance(pos_enc, bool):
            raise ConfigError(f"gau_cfg.pos_enc={pos_enc!r}: expected True or False")
        if not 0.0 <= dropout_rate < 1.0 or not 0.0 <= drop_path < 1.0:
            raise ConfigError(f"gau_cfg: dropout_rate={dropout_rate!r} and drop_path={drop_path!r} must lie in [0, 1)")
        self.s = s
        self.e = int(in_token_dims * expansion_factor)
        self.use_rel_bias = use_rel_bias
        self.pos_enc = pos_enc
        self.sqrt_s = math.sqrt(s)
        if use_rel_bias:
            self.w = nn.Parameter(torch.rand(2 * num_token - 1))
        self.o = nn.Linear(self.e, out_token_dims, bias=bias)
        self.uv = nn.Linear(in_token_dims, 2 * self.e + s, bias=bias)
        self.gamma = nn.Parameter(torch.rand(2, s))
        self.beta = nn.Parameter(torch.rand(2, s))
        self.ln = ScaleNorm(in_token_dims, eps=eps)
        nn.init.xavier_uniform_(self.uv.weight)
        self.act_fn = ACTIVATIONS[act_fn](inplace=True)
        self.shortcut = in_token_dims == out_token_dims
        if self.shortcut:
            self.res_scale = Scale(in_token_dims)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def rel_pos_bias(self, seq_len: int) -> Tensor:
        """``(seq_len, seq_len)`` bias with entry ``[i, j] = w[j - i + seq_len - 1]``."""
        offsets = torch.arange(seq_len, device=self.w.device)
        return self.w[offsets[None, :] - offsets[:, None] + seq_len - 1]

    def _gau(self, x: Tensor) -> Tensor:
        u, v, base = torch.split(self.act_fn(self.uv(self.ln(x))), [self.e, self.e, self.s], dim=-1)
        base = base.unsqueeze(2) * self.gamma + self.beta  # (B, T, 2, s): queries and keys
        if self.pos_enc:
            base = rope(base, dim=1)
        q, k = torch.unbind(base, dim=2)
        qk = torch.bmm(q, k.transpose(1, 2))  # (B, T, T)
        if self.use_rel_bias:
            qk = qk + self.rel_pos_bias(q.shape[1])
        kernel = self.dropout(torch.square(F.relu(qk / self.sqrt_s)))
        return self.o(u * torch.bmm(kernel, v))

    def forward(self, x: Tensor) -> Tensor:
        out = self.drop_path(self._gau(x))
        return self.res_scale(x) + out if self.shortcut else out
