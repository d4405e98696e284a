"""acc_pose: PCK@0.05 of heatmap argmax locations, as MMPose's pose_pck_accuracy, on device."""
import numpy as np
import pytest
import torch

from mlpose.models import heatmap_argmax, pose_accuracy

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
