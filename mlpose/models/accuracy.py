"""Training-time keypoint accuracy computed on the device (no host sync)."""
from __future__ import annotations

import torch
from torch import Tensor


def heatmap_argmax(heatmaps: Tensor) -> tuple[Tensor, Tensor]:
    """Location and value of each heatmap's maximum.

    Args:
        heatmaps: ``(B, K, h, w)``.

    Returns:
        ``locs`` float ``(B, K, 2)`` as (x, y) heatmap pixels, ``(-1, -1)`` where the maximum is
        not positive (MMPose's "no detection"), and ``vals`` ``(B, K)``. Ties take the first
        maximum in row-major order, as numpy's argmax does.
    """
    w = heatmaps.shape[-1]
    flat = heatmaps.flatten(2)
    idx = flat.argmax(dim=2)
    vals = flat.gather(2, idx[..., None])[..., 0]
    locs = torch.stack([idx % w, torch.div(idx, w, rounding_mode="floor")], dim=-1).float()
    locs = torch.where(vals[..., None] > 0, locs, torch.full_like(locs, -1.0))
    return locs, vals


def pose_accuracy(pred: Tensor, target: Tensor, weights: Tensor, thr: float = 0.05) -> Tensor:
    """PCK of heatmap argmax locations, the ``acc_pose`` of MMPose's ``pose_pck_accuracy``.

    For each visible keypoint (``weights > 0``) the distance between the argmax of ``pred``
    and of ``target`` is divided by the normaliser and counted as correct when below ``thr``.
    Accuracy is the mean over samples per joint, then the mean over joints that have at least
    one visible sample (0 when none has).

    MMPose normalises the (x, y) offset by ``(h, w)`` (heatmap height for x, width for y); this
    is kept on purpose so numbers compare with MMPose logs. ``thr=0.05`` of the heatmap size
    equals HRNet's 0.5 of size/10.

    Args:
        pred: predicted heatmaps ``(B, K, h, w)``.
        target: target heatmaps ``(B, K, h, w)``.
        weights: keypoint weights ``(B, K)``; ``> 0`` marks a visible keypoint.
        thr: PCK threshold as a fraction of the normaliser.

    Returns:
        A 0-dim float tensor in [0, 1] on the input's device.
    """
    h, w = pred.shape[-2:]
    pred_locs, _ = heatmap_argmax(pred.detach())
    gt_locs, _ = heatmap_argmax(target)
    diff = pred_locs - gt_locs
    # Python-scalar divisors: building a normaliser tensor would be a host-to-device copy.
    dist = torch.hypot(diff[..., 0] / h, diff[..., 1] / w)  # (B, K)
    visible = weights.reshape(dist.shape) > 0
    hits = ((dist < thr) & visible).sum(dim=0).float()
    num_visible = visible.sum(dim=0).float()
    per_joint = hits / num_visible.clamp(min=1.0)
    joint_valid = (num_visible > 0).float()
    return (per_joint * joint_valid).sum() / joint_valid.sum().clamp(min=1.0)


def simcc_argmax(simcc_x: Tensor, simcc_y: Tensor) -> Tensor:
    """``(B, K, 2)`` float argmax bins ``(x, y)`` of SimCC vectors, ``(-1, -1)`` where the smaller
    of the two maxima is not positive (MMPose ``get_simcc_maximum``). Ties take the first bin."""
    max_x, idx_x = simcc_x.max(dim=-1)
    max_y, idx_y = simcc_y.max(dim=-1)
    locs = torch.stack([idx_x, idx_y], dim=-1).float()
    found = torch.minimum(max_x, max_y) > 0
    return torch.where(found[..., None], locs, torch.full_like(locs, -1.0))


def simcc_accuracy(
    pred: tuple[Tensor, Tensor],
    target: tuple[Tensor, Tensor],
    weights: Tensor,
    simcc_split_ratio: float,
    thr: float = 0.05,
) -> Tensor:
    """PCK of SimCC argmax locations, the ``acc_pose`` of MMPose's ``simcc_pck_accuracy``.

    Locations are argmax bins divided by ``simcc_split_ratio`` (input pixels, ``-1 / ratio``
    where nothing is found); the (x, y) offset is normalised by ``(H, W)`` of the input crop,
    ``W = int(Wx / ratio)``, height for x and width for y, as MMPose does (see
    :func:`pose_accuracy`). Then, as there: per joint the share of visible samples within
    ``thr``, averaged over joints with a visible sample (0 when none has).

    Args:
        pred: predicted ``(simcc_x (B, K, Wx), simcc_y (B, K, Wy))``.
        target: target vectors of the same shapes.
        weights: keypoint weights ``(B, K)``; ``> 0`` marks a visible keypoint.
        simcc_split_ratio: bins per input pixel.
        thr: PCK threshold as a fraction of the normaliser.

    Returns:
        A 0-dim float tensor in [0, 1] on the input's device.
    """
    width = int(pred[0].shape[-1] / simcc_split_ratio)
    height = int(pred[1].shape[-1] / simcc_split_ratio)
    diff = (simcc_argmax(*(p.detach() for p in pred)) - simcc_argmax(*target)) / simcc_split_ratio
    # Python-scalar divisors: building a normaliser tensor would be a host-to-device copy.
    dist = torch.hypot(diff[..., 0] / height, diff[..., 1] / width)  # (B, K)
    visible = weights.reshape(dist.shape) > 0
    hits = ((dist < thr) & visible).sum(dim=0).float()
    num_visible = visible.sum(dim=0).float()
    per_joint = hits / num_visible.clamp(min=1.0)
    joint_valid = (num_visible > 0).float()
    return (per_joint * joint_valid).sum() / joint_valid.sum().clamp(min=1.0)
