"""What a config says about its model, read the same way for every family: the backbone, head
and codec types and the network's input size. Nothing here knows a family by name."""
from __future__ import annotations

from typing import Any


def _section(cfg: Any, *keys: str) -> Any:
    node = cfg
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def type_name(cfg: Any) -> str:
    """The ``type`` of a component dict without its OpenMMLab scope (``mmdet.CSPNeXt`` -> ``CSPNeXt``);
    ``'-'`` when there is none."""
    kind = cfg.get("type") if isinstance(cfg, dict) else None
    if callable(kind):
        return getattr(kind, "__name__", str(kind))
    return str(kind).rpartition(".")[2] if kind else "-"


def family(cfg: dict) -> str:
    """The backbone type: what tells model families apart (``ResNet``, ``HRNet``, ``CSPNeXt``...)."""
    return type_name(_section(cfg, "model", "backbone"))


def backbone_label(cfg: dict) -> str:
    """The backbone type with the size argument its configs vary (``ResNet-50``, ``VisionTransformer-base``)."""
    backbone = _section(cfg, "model", "backbone") or {}
    size = next((backbone[k] for k in ("depth", "arch") if isinstance(backbone.get(k), (int, str))), None)
    return f"{type_name(backbone)}-{size}" if size is not None else type_name(backbone)


def head_type(cfg: dict) -> str:
    return type_name(_section(cfg, "model", "head"))


def codec_type(cfg: dict) -> str:
    """The head's decoder type, else the top-level ``codec``'s (the first one of a list)."""
    codec = _section(cfg, "model", "head", "decoder") or cfg.get("codec")
    return type_name(codec[0] if isinstance(codec, list) and codec else codec)


def input_size(cfg: dict) -> tuple[int, int] | None:
    """The network input ``(w, h)`` in pixels: the head decoder's, the top-level codec's, else the
    ``TopdownAffine`` of the test or validation pipeline; None when the config says none."""
    top = cfg.get("codec")
    codecs = [_section(cfg, "model", "head", "decoder"), *(top if isinstance(top, list) else [top])]
    for split in ("test", "val"):
        steps = _section(cfg, f"{split}_dataloader", "dataset", "pipeline") or []
        codecs += [s for s in steps if isinstance(s, dict) and type_name(s) == "TopdownAffine"]
    for codec in codecs:
        size = codec.get("input_size") if isinstance(codec, dict) else None
        if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size):
            return int(size[0]), int(size[1])
    return None
