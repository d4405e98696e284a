"""acc_pose: PCK@0.05 of heatmap (pose_pck_accuracy) and SimCC (simcc_pck_accuracy) argmax
locations, as MMPose computes them, on the device."""
import numpy as np
import pytest
import torch

from mlpose.models import heatmap_argmax, pose_accuracy, simcc_accuracy
from mlpose.models.accuracy import simcc_argmax

H, W = 64, 48


def peaks(points):
    """(B, K, H, W) heatmaps with value 1 at each (x, y) of ``points`` (B, K, 2)."""
    b, k = len(points), len(points[0])
    maps = torch.zeros(b, k, H, W)
    for i in range(b):
        for j in range(k):
            x, y = points[i][j]
            maps[i, j, y, x] = 1.0
    return maps


def test_hand_made_case():
    gt = [[(10, 10), (20, 30), (5, 5)], [(10, 10), (20, 30), (5, 5)]]
    pred = [
        [(10, 10), (23, 30), (40, 60)],  # exact; dx=3 -> 3/64=0.047 hit; joint 2 invisible
        [(10, 13), (22, 30), (40, 60)],  # dy=3 -> 3/48=0.0625 miss; dx=2 hit; invisible
    ]
    weights = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    acc = pose_accuracy(peaks(pred), peaks(gt), weights)
    assert acc.dim() == 0
    # joint 0: 1/2, joint 1: 2/2, joint 2 has no visible sample and is left out of the mean
    assert acc.item() == pytest.approx(0.75)


def test_no_visible_joint_gives_zero():
    maps = peaks([[(1, 1)]])
    assert pose_accuracy(maps, maps, torch.zeros(1, 1)).item() == 0.0


def test_blank_prediction_counts_as_a_miss():
    gt = peaks([[(30, 40), (0, 0)]])
    pred = torch.zeros_like(gt)  # max <= 0 -> location (-1, -1)
    pred[0, 1, 0, 0] = 1.0
    assert pose_accuracy(pred, gt, torch.ones(1, 2)).item() == pytest.approx(0.5)


def test_argmax_ties_take_first_and_nonpositive_is_minus_one():
    maps = torch.zeros(1, 2, 3, 4)
    maps[0, 0, 1, 2] = maps[0, 0, 2, 0] = 5.0
    locs, vals = heatmap_argmax(maps)
    assert locs[0, 0].tolist() == [2.0, 1.0] and vals[0, 0] == 5.0
    assert locs[0, 1].tolist() == [-1.0, -1.0]


def mmpose_reference(pred, gt, mask, thr=0.05):
    """Numpy transcription of the documented MMPose algorithm (argmax, /(h, w), per-joint mean)."""
    n, k, h, w = pred.shape

    def argmax(m):
        flat = m.reshape(n, k, -1)
        idx, val = flat.argmax(-1), flat.max(-1)
        locs = np.stack([idx % w, idx // w], -1).astype(np.float32)
        locs[val <= 0] = -1
        return locs

    dist = np.linalg.norm((argmax(pred) - argmax(gt)) / np.array([h, w], np.float32), axis=-1)
    accs = [(dist[mask[:, j], j] < thr).mean() for j in range(k) if mask[:, j].any()]
    return float(np.mean(accs)) if accs else 0.0


def test_matches_reference_on_random_heatmaps():
    g = torch.Generator().manual_seed(0)
    for _ in range(20):
        gt = torch.rand(4, 5, 16, 12, generator=g)
        pred = gt + 0.6 * torch.rand(4, 5, 16, 12, generator=g)
        weights = (torch.rand(4, 5, generator=g) > 0.3).float()
        ours = pose_accuracy(pred, gt, weights).item()
        assert ours == pytest.approx(mmpose_reference(pred.numpy(), gt.numpy(), weights.numpy() > 0))


def test_runs_without_reading_values_on_the_host():
    # Meta tensors have no data: any .item(), numpy call or branch on a value would raise.
    pred = torch.empty(2, 3, 16, 12, device="meta")
    acc = pose_accuracy(pred, torch.empty_like(pred), torch.empty(2, 3, device="meta"))
    assert acc.device.type == "meta" and acc.dim() == 0


# ---- SimCC: simcc_accuracy, as MMPose's simcc_pck_accuracy -------------------------------------

RATIO = 2.0  # bins per pixel; a 48x64 (w, h) crop has 96 x bins and 128 y bins


def one_hot_vectors(points, value=1.0):
    """(B, K, 96), (B, K, 128) vectors with ``value`` at bin round(2 * p) of each (x, y) pixel."""
    b, k = len(points), len(points[0])
    x, y = torch.zeros(b, k, 96), torch.zeros(b, k, 128)
    for i in range(b):
        for j in range(k):
            px, py = points[i][j]
            x[i, j, int(px * RATIO)] = value
            y[i, j, int(py * RATIO)] = value
    return x, y


def test_simcc_hand_made_case():
    gt = [[(10, 10), (20, 30), (5, 5)], [(10, 10), (20, 30), (5, 5)]]
    pred = [
        [(10, 10), (23, 30), (40, 60)],  # exact; dx=3 px -> 3/64 = 0.047 hit; joint 2 invisible
        [(10, 12.5), (22.5, 30), (40, 60)],  # dy=2.5 -> 2.5/48 = 0.052 miss; dx=2.5 -> 0.039 hit
    ]
    weights = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    acc = simcc_accuracy(one_hot_vectors(pred), one_hot_vectors(gt), weights, RATIO)
    assert acc.dim() == 0
    assert acc.item() == pytest.approx((0.5 + 1.0) / 2)  # x offsets / crop height, y / width


def test_simcc_no_positive_maximum_is_a_miss_and_no_visible_joint_gives_zero():
    gt = [[(10, 10), (20, 20)]]
    pred_x, pred_y = one_hot_vectors(gt)
    pred_y[0, 1] -= 1.0  # y maximum 0 -> location (-1, -1) for joint 1
    acc = simcc_accuracy((pred_x, pred_y), one_hot_vectors(gt), torch.ones(1, 2), RATIO)
    assert acc.item() == pytest.approx(0.5)
    assert simcc_accuracy((pred_x, pred_y), one_hot_vectors(gt), torch.zeros(1, 2), RATIO).item() == 0.0


def test_simcc_argmax_locations():
    x, y = one_hot_vectors([[(3, 4), (0, 0)]])
    y[0, 1] = -1.0
    locs = simcc_argmax(x, y)
    assert locs.tolist() == [[[6.0, 8.0], [-1.0, -1.0]]]
