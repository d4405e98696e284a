"""Why a checkpoint's weights do not fit a model, in one line: which tensors differ and which
config setting (backbone family, depth, width, number of keypoints) most likely causes it."""
from __future__ import annotations

import re
from typing import Mapping

#: ResNet depth by block type and blocks per stage (torchvision / MMPose layouts).
_DEPTHS = {("basic", (2, 2, 2, 2)): 18, ("basic", (3, 4, 6, 3)): 34, ("bottleneck", (3, 4, 6, 3)): 50,
           ("bottleneck", (3, 4, 23, 3)): 101, ("bottleneck", (3, 8, 36, 3)): 152}
_BLOCK = re.compile(r"^(?:.*\.)?backbone\.layer(\d)\.(\d+)\.(conv\d)")


def weight_mismatch(model_state: Mapping, ckpt_state: Mapping) -> str | None:
    """None when ``ckpt_state`` fits ``model_state`` exactly (names and shapes), else one line:
    the count and first 3 tensors whose shapes differ, missing/unexpected counts, likely cause."""
    shape = {k: tuple(getattr(v, "shape", ())) for k, v in model_state.items()}
    theirs = {k: tuple(getattr(v, "shape", ())) for k, v in ckpt_state.items()}
    differ = [k for k in shape if k in theirs and shape[k] != theirs[k]]
    missing = [k for k in shape if k not in theirs]
    unexpected = [k for k in theirs if k not in shape]
    if not (differ or missing or unexpected):
        return None
    parts = []
    if differ:
        first = ", ".join(f"{k} {_fmt(theirs[k])} in the file vs {_fmt(shape[k])} in the model" for k in differ[:3])
        parts.append(f"{len(differ)} tensors differ in shape ({first}{', ...' if len(differ) > 3 else ''})")
    if missing:
        parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    causes = _likely_causes(shape, theirs)
    hint = f"; likely config mismatch: {'; '.join(causes)}" if causes else "; is it from another config?"
    return "checkpoint does not fit the model: " + ", ".join(parts) + hint


def _fmt(shape: tuple) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def _likely_causes(model: dict, ckpt: dict) -> list[str]:
    family_model, family_ckpt = backbone_family(model), backbone_family(ckpt)
    if family_model and family_ckpt and family_model != family_ckpt:
        # the rest (depth, widths) would compare unlike things: an HRNet's layer1 is no ResNet depth
        return [f"the file's backbone is {family_ckpt}, the model's is {family_model} (model.backbone.type)"]
    causes = _backbone_causes(model, ckpt, family_model)
    final = next((k for k in model if k.endswith("final_layer.weight")), None)
    if final and final in ckpt:
        if ckpt[final][0] != model[final][0]:
            causes.append(f"{ckpt[final][0]} keypoints in the file vs {model[final][0]} (model.head.out_channels)")
        if len(ckpt[final]) > 1 and ckpt[final][1] != model[final][1] and not causes:
            causes.append(f"head width {ckpt[final][1]} in the file vs {model[final][1]} "
                          "(model.head.deconv_out_channels / in_channels)")
    return causes


def _backbone_causes(model: dict, ckpt: dict, family: str | None) -> list[str]:
    """Depth and width differences within one backbone family."""
    causes = []
    if family == "HRNet":
        key = _find(model, "backbone.transition1.0.0.weight")
        if key and key in ckpt and ckpt[key][:1] != model[key][:1]:
            causes.append(f"HRNet width {ckpt[key][0]} in the file vs {model[key][0]} "
                          "(model.backbone.extra.stage2-4.num_channels)")
        return causes
    depth_model, depth_ckpt = _resnet_depth(model), _resnet_depth(ckpt)
    if depth_model != depth_ckpt and depth_model and depth_ckpt:
        causes.append(f"backbone depth {depth_ckpt} in the file vs {depth_model} (model.backbone.depth)")
    stem = _find(model, "backbone.conv1.weight") or _find(model, "backbone.stem.2.conv.weight")
    if stem and stem in ckpt and ckpt[stem][:1] != model[stem][:1]:
        causes.append(f"backbone width {ckpt[stem][0]} in the file vs {model[stem][0]} (model.backbone.base_channels)")
    return causes


def _find(state: dict, suffix: str) -> str | None:
    return next((k for k in state if k.endswith(suffix)), None)


def backbone_family(state: Mapping) -> str | None:
    """The backbone class a state dict's ``backbone.*`` keys (name -> shape) were written by:
    ``HRNet``, ``VisionTransformer`` or a ResNet variant (``ResNet``, ``ResNetV1d``, ``ResNeXt``,
    ``SEResNet``); None when it has no backbone keys this knows."""
    keys = [k for k in state if re.match(r"^(?:.*\.)?backbone\.", k)]
    if any(".transition1." in k for k in keys):
        return "HRNet"
    if any(".patch_embed." in k for k in keys):
        return "VisionTransformer"
    if not any(_BLOCK.match(k) for k in keys):
        return None
    if any(".se_layer." in k for k in keys):
        return "SEResNet"
    conv1, conv2 = _find(state, "backbone.layer1.0.conv1.weight"), _find(state, "backbone.layer1.0.conv2.weight")
    if conv1 and conv2 and len(state[conv2]) == 4 and state[conv2][1] * 2 <= state[conv1][0]:
        return "ResNeXt"  # the 3x3 conv sees a fraction of its input channels: a grouped conv
    return "ResNetV1d" if _find(state, "backbone.stem.0.conv.weight") else "ResNet"


def _resnet_depth(state: dict) -> int | str | None:
    """The ResNet depth a state dict's backbone keys spell (None when it has no such keys)."""
    blocks: dict[int, set[int]] = {}
    bottleneck = False
    for key in state:
        m = _BLOCK.match(key)
        if m:
            blocks.setdefault(int(m.group(1)), set()).add(int(m.group(2)))
            bottleneck |= m.group(3) == "conv3"
    if not blocks:
        return None
    counts = tuple(len(blocks.get(i, ())) for i in range(1, 5))
    kind = "bottleneck" if bottleneck else "basic"
    return _DEPTHS.get((kind, counts), f"{kind} {counts}")
