"""PCKAccuracy / AUC / EPE on cases small enough to compute by hand."""
import numpy as np
import pytest

from mlpose.errors import ConfigError
from mlpose.evaluation import AUC, EPE, PCKAccuracy


def _pred(pid, offsets, visible, bbox=(0, 0, 100, 50), head_size=20.0):
    """One sample of 3 joints at (10, 10), (50, 10), (10, 40) with given offsets (px)."""
    gt = np.array([[10, 10], [50, 10], [10, 40]], dtype=np.float32)
    return dict(id=pid, keypoints=gt + np.asarray(offsets, np.float32), gt_keypoints=gt,
                gt_visible=np.asarray(visible, np.float32), bbox=np.asarray(bbox, np.float32),
                head_size=head_size)


# Two samples; bbox longer side 100 px -> PCK@0.05 counts errors < 5 px.
SAMPLES = [_pred(1, [[3, 4], [6, 0], [0, 1]], [1, 1, 1]),   # errors 5, 6, 1 px
           _pred(2, [[1, 0], [0, 0], [30, 40]], [1, 0, 1])]  # errors 1, (hidden), 50 px


def _run(metric, preds=SAMPLES):
    metric.process(preds)
    return metric.compute()


def test_pck_bbox_by_hand():
    # joint 0: 5 (not < 5), 1 -> 1/2; joint 1: 6 -> 0/1; joint 2: 1, 50 -> 1/2. Mean 1/3.
    assert _run(PCKAccuracy(thr=0.05)) == {"PCK": pytest.approx(1 / 3)}
    # thr 0.061: joint 0 2/2, joint 1 1/1, joint 2 1/2 -> (1 + 1 + .5) / 3
    assert _run(PCKAccuracy(thr=0.061))["PCK"] == pytest.approx(2.5 / 3)


def test_pckh_and_torso_and_names():
    # head 20 px, thr 0.3 -> 6 px: joint 0 2/2, joint 1 0/1 (6 is not < 6), joint 2 1/2;
    # bbox 100 px -> 30 px: 2/2, 1/1, 1/2.
    out = _run(PCKAccuracy(thr=0.3, norm_item=["head", "bbox"], prefix="mpii"))
    assert out == {"mpii/PCKh": pytest.approx(0.5), "mpii/PCK": pytest.approx(2.5 / 3)}
    # torso = GT distance of joints 1 and 2 = 50 px; thr 0.11 -> 5.5 px.
    torso = _run(PCKAccuracy(thr=0.11, norm_item="torso", torso_indices=(1, 2)))
    assert torso == {"tPCK": pytest.approx((2 / 2 + 0 / 1 + 1 / 2) / 3)}


def test_auc_by_hand():
    # norm 10 px, 4 thresholds 0, .25, .5, .75 (2.5, 5, 7.5 px). Errors: j0 {5, 1},
    # j1 {6}, j2 {1, 50}. PCK: t=0 -> 0; 2.5 -> (1/2 + 0 + 1/2)/3; 5 -> (1/2 + 0 + 1/2)/3;
    # 7.5 -> (1 + 1 + 1/2)/3.
    expected = (0 + 1 / 3 + 1 / 3 + 2.5 / 3) / 4
    assert _run(AUC(norm_factor=10, num_thrs=4)) == {"AUC": pytest.approx(expected)}


def test_epe_by_hand():
    assert _run(EPE()) == {"EPE": pytest.approx((5 + 6 + 1 + 1 + 50) / 5)}


def test_zero_normaliser_drops_the_sample():
    flat = _pred(3, [[0, 0], [0, 0], [0, 0]], [1, 1, 1], bbox=(5, 5, 5, 5))
    assert _run(PCKAccuracy(thr=0.05), SAMPLES + [flat])["PCK"] == pytest.approx(1 / 3)


def test_missing_ground_truth_is_a_config_error():
    with pytest.raises(ConfigError, match="gt_keypoints"):
        PCKAccuracy().process([dict(keypoints=np.zeros((3, 2)))])
    with pytest.raises(ConfigError, match="head_size"):
        PCKAccuracy(norm_item="head").process([{k: v for k, v in SAMPLES[0].items()
                                                if k != "head_size"}])
    with pytest.raises(ConfigError, match="norm_item"):
        PCKAccuracy(norm_item="elbow")
