"""Vision Transformer backbone (Dosovitskiy et al. 2021) in mmpretrain's layout, as ViTPose uses it.

Registered as ``VisionTransformer``, so MMPose's ``type='mmpretrain.VisionTransformer'`` finds it.
Parameter names equal mmpretrain's (``patch_embed.projection``, ``pos_embed``, ``cls_token``,
``layers.N.*``, ``pre_norm``, ``ln1``, ``ln2``), so MAE-pretrained weights and MMPose's ViTPose
checkpoints load without renaming. Loading a position embedding made for another patch grid
(MAE: 224x224 with a cls token; ViTPose: 256x192 without) resizes it as mmpretrain's load hook
does (:meth:`VisionTransformer.adapt_state_dict`).
"""
from __future__ import annotations

import logging
import math
from typing import Sequence

import torch
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.models.backbones.base import FreezableBackbone
from mlpose.models.backbones.vit_layers import PatchEmbed, TransformerEncoderLayer, resize_pos_embed
from mlpose.models.init import check_init_cfg, load_pretrained
from mlpose.registry import MODELS

logger = logging.getLogger(__name__)

_BASE = dict(embed_dims=768, num_layers=12, num_heads=12, feedforward_channels=3072)
#: mmpretrain's architectures (its ``arch_zoo``): name -> widths and depth.
ARCH_ZOO = {
    **dict.fromkeys(("s", "small"), dict(embed_dims=768, num_layers=8, num_heads=8, feedforward_channels=2304)),
    **dict.fromkeys(("b", "base"), _BASE),
    **dict.fromkeys(("l", "large"), dict(embed_dims=1024, num_layers=24, num_heads=16, feedforward_channels=4096)),
    **dict.fromkeys(("h", "huge"), dict(embed_dims=1280, num_layers=32, num_heads=16, feedforward_channels=5120)),
    **dict.fromkeys(("eva-g", "eva-giant"),
                    dict(embed_dims=1408, num_layers=40, num_heads=16, feedforward_channels=6144)),
    **dict.fromkeys(("deit-t", "deit-tiny"), dict(embed_dims=192, num_layers=12, num_heads=3, feedforward_channels=768)),
    **dict.fromkeys(("deit-s", "deit-small", "dinov2-s", "dinov2-small"),
                    dict(embed_dims=384, num_layers=12, num_heads=6, feedforward_channels=1536)),
    **dict.fromkeys(("deit-b", "deit-base"), _BASE),
    **dict.fromkeys(("dinov2-g", "dinov2-giant"),
                    dict(embed_dims=1536, num_layers=40, num_heads=24, feedforward_channels=6144)),
}
ARCH_KEYS = ("embed_dims", "num_layers", "num_heads", "feedforward_channels")
OUT_TYPES = ("featmap", "raw", "cls_token", "avg_featmap")


def _arch(arch: str | dict) -> dict:
    if isinstance(arch, str):
        if arch.lower() not in ARCH_ZOO:
            raise ConfigError(f"VisionTransformer.arch={arch!r} is unknown; use one of {', '.join(ARCH_ZOO)} "
                              f"or a dict with {', '.join(ARCH_KEYS)}")
        return dict(ARCH_ZOO[arch.lower()])
    if not isinstance(arch, dict) or set(arch) != set(ARCH_KEYS) or not all(
            isinstance(arch[k], int) and arch[k] > 0 for k in ARCH_KEYS):
        raise ConfigError(f"VisionTransformer.arch={arch!r}: a custom arch is a dict of positive ints with exactly "
                          f"the keys {', '.join(ARCH_KEYS)}")
    return dict(arch)


def _norm_eps(norm_cfg: dict) -> float:
    """LayerNorm epsilon of ``norm_cfg`` (mmpretrain's ``build_norm_layer``: 1e-5 when not given)."""
    if not isinstance(norm_cfg, dict) or norm_cfg.get("type") != "LN" or set(norm_cfg) - {"type", "eps"}:
        raise ConfigError(f"VisionTransformer.norm_cfg={norm_cfg!r}: only dict(type='LN', eps=...) is supported")
    return float(norm_cfg.get("eps", 1e-5))


def _pair(value, name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (list, tuple)) else ()
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise ConfigError(f"VisionTransformer.{name}={value!r}: use a positive int or (height, width)")
    return pair


def _source_grid(num_tokens: int, target: tuple[int, int]) -> tuple[int, int] | None:
    """The ``(h, w)`` grid a checkpoint's ``num_tokens`` position embeddings were made for: a
    square (mmpretrain's only case), else one of the ``target`` grid's aspect ratio (a 256x192
    ViTPose checkpoint in a 384x288 model); None when neither fits."""
    side = math.isqrt(num_tokens)
    if side * side == num_tokens:
        return side, side
    th, tw = target
    h = math.isqrt(num_tokens * th // tw)  # h / w == th / tw and h * w == num_tokens
    if h > 0 and h * h * tw == num_tokens * th and num_tokens % h == 0:
        return h, num_tokens // h
    return None


@MODELS.register()
class VisionTransformer(FreezableBackbone):
    """Plain ViT: patch embedding, position embedding, ``num_layers`` encoder layers.

    Args:
        arch: ``'small'``, ``'base'``, ``'large'``, ``'huge'`` (mmpretrain's ``arch_zoo``; note its
            ``'small'`` is 768 wide and 8 deep, ViTPose-S uses a dict) or a dict with
            ``embed_dims``, ``num_layers``, ``num_heads``, ``feedforward_channels``.
        img_size: ``(H, W)`` (or one int) the position embedding is made for; other input sizes
            interpolate it at every forward.
        patch_size: patch side in pixels.
        in_channels: image channels.
        out_indices: layers whose output is returned (negative counts from the end).
        drop_rate: dropout after the position embedding, the attention projection and in the MLPs.
        drop_path_rate: stochastic depth of the last layer; rises linearly from 0 at the first.
        qkv_bias: bias on the query/key/value projections.
        norm_cfg: ``dict(type='LN', eps=1e-6)``.
        final_norm: LayerNorm ``ln1`` after the last layer.
        out_type: ``'featmap'`` ``(B, C, h, w)`` (what pose heads take), ``'raw'`` tokens
            ``(B, N, C)``, ``'cls_token'`` ``(B, C)``, ``'avg_featmap'`` (mean token, normed by ``ln2``).
        with_cls_token: prepend a learnable class token.
        frozen_stages: ``k > 0`` freezes the patch and position embeddings, the class token,
            ``pre_norm`` and layers ``1..k`` (and the final norms when ``k == num_layers``): no
            gradients, eval mode (no dropout or drop path) even while training.
        interpolate_mode: ``F.interpolate`` mode for resizing the position embedding.
        layer_scale_init_value: > 0 adds LayerScale to every residual branch.
        patch_cfg: ``dict(padding=...)`` for the patch embedding: an int (ViTPose: 2) or
            ``'corner'`` (default) / ``'same'``.
        layer_cfgs: must be empty (per-layer overrides are not implemented).
        pre_norm: LayerNorm on the tokens before the first layer (the patch conv then has no bias).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH_OR_URL, prefix=None)``, loaded by
            :meth:`init_weights`.

    Input: float ``(B, in_channels, H, W)``. Output: a tuple, one item per ``out_indices``.
    """

    def __init__(self, arch: str | dict = "base", img_size: int | Sequence[int] = 224, patch_size: int = 16,
                 in_channels: int = 3, out_indices: int | Sequence[int] = -1, drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, qkv_bias: bool = True, norm_cfg: dict = dict(type="LN", eps=1e-6),
                 final_norm: bool = True, out_type: str = "cls_token", with_cls_token: bool = True,
                 frozen_stages: int = -1, interpolate_mode: str = "bicubic", layer_scale_init_value: float = 0.0,
                 patch_cfg: dict | None = None, layer_cfgs: dict | None = None, pre_norm: bool = False,
                 init_cfg: dict | None = None):
        super().__init__()
        settings = _arch(arch)
        self.embed_dims, self.num_layers = settings["embed_dims"], settings["num_layers"]
        self.img_size = _pair(img_size, "img_size")
        eps = _norm_eps(norm_cfg)
        for flag, value in dict(qkv_bias=qkv_bias, final_norm=final_norm, with_cls_token=with_cls_token,
                                pre_norm=pre_norm).items():
            if not isinstance(value, bool):
                raise ConfigError(f"VisionTransformer.{flag}={value!r} must be True or False")
        self._check_options(out_type, with_cls_token, frozen_stages, patch_cfg, layer_cfgs, interpolate_mode)
        self.out_type, self.with_cls_token = out_type, with_cls_token
        self.frozen_stages, self.interpolate_mode, self.final_norm = frozen_stages, interpolate_mode, final_norm
        self.out_indices = self._out_indices(out_indices)
        self.init_cfg = check_init_cfg(init_cfg, "VisionTransformer")  # a URL is fetched by init_weights only

        self.patch_embed = PatchEmbed(in_channels, self.embed_dims, _pair(patch_size, "patch_size")[0],
                                      (patch_cfg or {}).get("padding", "corner"), bias=not pre_norm,
                                      input_size=self.img_size)
        self.patch_resolution = self.patch_embed.init_out_size
        self.num_extra_tokens = 1 if with_cls_token else 0
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims)) if with_cls_token else None
        num_patches = self.patch_resolution[0] * self.patch_resolution[1]
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + self.num_extra_tokens, self.embed_dims))
        self._register_load_state_dict_pre_hook(self._load_hook)
        self.drop_after_pos = nn.Dropout(drop_rate)
        rates = [drop_path_rate * i / max(self.num_layers - 1, 1) for i in range(self.num_layers)]
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(self.embed_dims, settings["num_heads"], settings["feedforward_channels"],
                                    layer_scale_init_value, drop_rate, rate, qkv_bias, eps) for rate in rates)
        self.pre_norm = nn.LayerNorm(self.embed_dims, eps=eps) if pre_norm else nn.Identity()
        if final_norm:
            self.ln1 = nn.LayerNorm(self.embed_dims, eps=eps)
        if out_type == "avg_featmap":
            self.ln2 = nn.LayerNorm(self.embed_dims, eps=eps)
        self.out_channels = (self.embed_dims,) * len(self.out_indices)
        self.reset_parameters()
        self.freeze_stages()

    def _check_options(self, out_type, with_cls_token, frozen_stages, patch_cfg, layer_cfgs, interpolate_mode) -> None:
        if out_type not in OUT_TYPES:
            raise ConfigError(f"VisionTransformer.out_type={out_type!r}: use one of {', '.join(OUT_TYPES)}")
        if out_type == "cls_token" and not with_cls_token:
            raise ConfigError("VisionTransformer: out_type='cls_token' needs with_cls_token=True; pose heads "
                              "take out_type='featmap'")
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= self.num_layers:
            raise ConfigError(f"VisionTransformer.frozen_stages={frozen_stages!r} must be in -1..{self.num_layers}")
        if set(patch_cfg or {}) - {"padding"}:
            raise ConfigError(f"VisionTransformer.patch_cfg={patch_cfg!r}: only 'padding' is supported; "
                              "set patch_size, in_channels and img_size on the backbone")
        if layer_cfgs:
            raise ConfigError(f"VisionTransformer.layer_cfgs={layer_cfgs!r}: per-layer overrides are not "
                              "implemented; leave layer_cfgs empty")
        if interpolate_mode not in ("nearest", "bilinear", "bicubic", "area"):
            raise ConfigError(f"VisionTransformer.interpolate_mode={interpolate_mode!r}: use bicubic, bilinear, "
                              "nearest or area")

    def _out_indices(self, out_indices: int | Sequence[int]) -> tuple[int, ...]:
        items = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        resolved = tuple(i + self.num_layers if isinstance(i, int) and i < 0 else i for i in items)
        if not resolved or not all(isinstance(i, int) and 0 <= i < self.num_layers for i in resolved):
            raise ConfigError(f"VisionTransformer.out_indices={out_indices!r}: layers are "
                              f"0..{self.num_layers - 1} (or -1 for the last)")
        return resolved

    def reset_parameters(self) -> None:
        """mmpretrain's init: truncated N(0, 0.02) position embedding, zero class token, Xavier MLPs."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.zeros_(self.cls_token)
        for layer in self.layers:
            layer.reset_parameters()

    def output_size(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """``(w, h)`` of the feature map for an input of ``input_size`` ``(W, H)``."""
        if self.out_type != "featmap":
            raise ConfigError(f"VisionTransformer.out_type={self.out_type!r} gives no feature map; a pose head "
                              "needs out_type='featmap'")
        h, w = self.patch_embed.grid_size((input_size[1], input_size[0]))
        return w, h

    def frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages <= 0:
            return []
        frozen = [self.patch_embed, self.pre_norm, self.drop_after_pos, *self.layers[: self.frozen_stages]]
        if self.frozen_stages == self.num_layers:
            frozen += [getattr(self, name) for name in ("ln1", "ln2") if hasattr(self, name)]
        return frozen

    def freeze_stages(self) -> None:
        super().freeze_stages()
        if self.frozen_stages > 0:  # the embeddings belong to the first frozen stage
            for token in (self.pos_embed, self.cls_token):
                if token is not None:
                    token.requires_grad_(False)

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """``(B, C_in, H, W)`` -> tuple of outputs (see ``out_type``)."""
        x, grid = self.patch_embed(x)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, grid, self.interpolate_mode,
                                 self.num_extra_tokens)
        x = self.pre_norm(self.drop_after_pos(x))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == self.num_layers - 1 and self.final_norm:
                x = self.ln1(x)
            if i in self.out_indices:
                outs.append(self._format(x, grid))
        return tuple(outs)

    def _format(self, x: Tensor, grid: tuple[int, int]) -> Tensor:
        if self.out_type == "raw":
            return x
        if self.out_type == "cls_token":
            return x[:, 0]
        patches = x[:, self.num_extra_tokens:]
        if self.out_type == "avg_featmap":
            return self.ln2(patches.mean(dim=1))
        return patches.reshape(x.shape[0], grid[0], grid[1], -1).permute(0, 3, 1, 2)

    def adapt_state_dict(self, state: dict, prefix: str = "") -> None:
        """Fit a checkpoint's token parameters to this model, in place (as mmpretrain's load hook).

        A ``cls_token`` this model does not have is dropped, and so is the class-token row of the
        position embedding; a ``pos_embed`` made for another patch grid (a square grid, or one of
        this model's aspect ratio) is interpolated with ``interpolate_mode``.

        Raises:
            ConfigError: for a position embedding whose grid cannot be inferred.
        """
        if self.cls_token is None and state.pop(prefix + "cls_token", None) is not None:
            logger.info("dropped the checkpoint's cls_token: with_cls_token=False")
        name = prefix + "pos_embed"
        ckpt = state.get(name)
        if ckpt is None or ckpt.ndim != 3 or ckpt.shape[-1] != self.embed_dims:
            return  # nothing to fit; a width mismatch is reported by the strict loader
        own, extra, target = self.pos_embed.shape[1], self.num_extra_tokens, self.patch_resolution
        n = ckpt.shape[1]
        # The class-token row of a checkpoint made with one: mmpretrain drops it when the rest fits
        # (n == own + 1); MAE's 224x224 one (1 + 14 * 14 rows) also sits on another grid.
        if extra == 0 and n != own and (n == own + 1 or not _source_grid(n, target) and _source_grid(n - 1, target)):
            ckpt, n = ckpt[:, 1:], n - 1
        if n == own:
            state[name] = ckpt
            return
        grid = _source_grid(n - extra, target)
        if grid is None:
            raise ConfigError(f"pos_embed of shape {tuple(ckpt.shape)} fits no patch grid of this model "
                              f"({target}, {extra} extra token(s)); check img_size and patch_size")
        state[name] = resize_pos_embed(ckpt, grid, self.patch_resolution, self.interpolate_mode, extra)
        logger.info("resized pos_embed from a %dx%d to a %dx%d patch grid", *grid, *self.patch_resolution)

    def _load_hook(self, state: dict, prefix: str, *args) -> None:
        self.adapt_state_dict(state, prefix)

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint (a pose checkpoint's ``backbone.*`` keys, or a bare
        backbone such as MAE's), fitting its position embedding to this model. Call once for a
        fresh run, not when resuming."""
        if self.init_cfg is None:
            return
        load_pretrained(self, self.init_cfg, auto_prefix="backbone.", adapt=self.adapt_state_dict)
        self.freeze_stages()
