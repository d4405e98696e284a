"""Per-sample OKS, pixel errors, per-keypoint PCK and the choice of the pictured samples."""
import numpy as np
import pytest

from mlpose.evaluation.sample_stats import (fixed_indices, instance_scores, oks_per_sample, per_keypoint,
                                            pixel_errors, worst_indices)
from mlpose.evaluation.samples import SampleRecorder

SIGMAS = np.full(3, 0.05)


def test_oks_is_one_for_a_perfect_prediction_and_follows_coco_for_a_shift():
    gt = np.array([[[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]]])
    vis = np.array([[1, 1, 0]])
    area = np.array([400.0])
    assert oks_per_sample(gt, gt, vis, area, SIGMAS)[0] == pytest.approx(1.0)
    shifted = gt + np.array([3.0, 4.0])  # 5 px off every keypoint
    expected = np.exp(-25.0 / (2 * 400.0 * (2 * 0.05) ** 2))
    assert oks_per_sample(shifted, gt, vis, area, SIGMAS)[0] == pytest.approx(expected)
    # the invisible third keypoint does not count, however far off it is
    far = shifted.copy()
    far[0, 2] = [900.0, 900.0]
    assert oks_per_sample(far, gt, vis, area, SIGMAS)[0] == pytest.approx(expected)


def test_samples_without_visible_ground_truth_have_no_oks_and_no_errors():
    gt = np.zeros((1, 3, 2))
    assert np.isnan(oks_per_sample(gt + 1, gt, np.zeros((1, 3)), np.array([100.0]), SIGMAS)[0])
    assert np.isnan(pixel_errors(gt + 1, gt, np.zeros((1, 3)))).all()


def test_worst_indices_are_the_lowest_oks_worst_first_ties_by_id_nan_left_out():
    rng = np.random.default_rng(0)
    oks = rng.random(50).round(1)  # many ties
    oks[[3, 17]] = np.nan
    ids = rng.permutation(1000)[:50]
    got = worst_indices(oks, ids, 8)
    ranked = sorted((o, i, n) for n, (o, i) in enumerate(zip(oks, ids)) if np.isfinite(o))
    assert list(got) == [n for _, _, n in ranked[:8]]
    assert 3 not in got and 17 not in got
    assert len(worst_indices(oks, ids, 100)) == 48 and len(worst_indices(oks, ids, 0)) == 0


def test_fixed_indices_pick_the_same_samples_whatever_the_order():
    ids = np.arange(100, 137)
    perm = np.random.default_rng(1).permutation(len(ids))
    first = set(ids[fixed_indices(ids, 8)])
    assert len(first) == 8 and set(ids[perm][fixed_indices(ids[perm], 8)]) == first
    assert min(first) == 100 and max(first) == 136  # spread over the whole set
    assert len(fixed_indices(ids[:3], 8)) == 3 and len(fixed_indices(ids, 0)) == 0


def test_per_keypoint_pck_is_box_normalised_and_errors_are_means_over_visible():
    gt = np.zeros((2, 2, 2))
    pred = gt.copy()
    pred[0, 0] = [4.0, 0.0]   # 4 px / box 100 = 0.04 < 0.05: hit
    pred[1, 0] = [6.0, 0.0]   # 0.06: miss
    pred[:, 1] = [50.0, 0.0]  # keypoint 1 is visible in sample 0 only
    vis = np.array([[1, 1], [1, 0]])
    boxes = np.array([[0, 0, 100, 60], [0, 0, 100, 60]], float)
    stats = per_keypoint(pred, gt, vis, boxes, thr=0.05)
    np.testing.assert_allclose(stats["pck"], [0.5, 0.0])
    np.testing.assert_allclose(stats["mean_error_px"], [5.0, 50.0])
    assert list(stats["num_visible"]) == [2, 1]


def test_instance_score_is_box_score_times_mean_confident_keypoint_score():
    scores = np.array([[0.9, 0.5, 0.1], [0.1, 0.1, 0.1]])
    np.testing.assert_allclose(instance_scores(scores, np.array([0.5, 1.0])), [0.35, 0.0])


def test_recorder_keeps_one_row_per_sample_and_prefix_in_id_order():
    rec = SampleRecorder("coco")
    def pred(i, name=None):
        return dict(id=i, img_id=i // 10, keypoints=np.full((3, 2), i, np.float32), keypoint_scores=np.ones(3),
                    gt_keypoints=np.zeros((3, 2)), gt_visible=np.ones(3), bbox=np.array([0, 0, 10, 10]),
                    area=50.0, bbox_score=1.0, dataset_name=name)
    rec.process([{"img_path": "a.jpg"}] * 3, [pred(12), pred(11), pred(12)])  # a padding repeat
    rec.process([{"img_path": "b.jpg"}], [pred(11, "aic")])  # the same id in another dataset
    out = rec.gather()
    assert sorted(out) == ["aic", "coco"]
    assert list(out["coco"]["id"]) == [11, 12] and out["coco"]["keypoints"].shape == (2, 3, 2)
    assert list(out["aic"]["id"]) == [11] and out["aic"]["img_path"] == ["b.jpg"]
    assert rec.gather() == {}  # reset
