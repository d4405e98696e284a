"""The vectorised OKS-NMS keeps exactly what the per-pair loop formulation keeps."""
import numpy as np
import pytest

from mlpose.evaluation import oks_matrix, oks_nms, soft_oks_nms

SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87,
                   .89, .89], dtype=np.float32) / 10.0


def _loop_oks(g, d, a_g, a_d):
    """OKS of one instance against others, one pair at a time (the published formulation)."""
    variances = (SIGMAS * 2) ** 2
    out = np.zeros(len(d), dtype=np.float32)
    for n in range(len(d)):
        dx, dy = d[n, :, 0] - g[:, 0], d[n, :, 1] - g[:, 1]
        e = (dx**2 + dy**2) / variances / ((a_g + a_d[n]) / 2 + np.spacing(1)) / 2
        out[n] = np.sum(np.exp(-e)) / len(e)
    return out


def _loop_nms(kpts, scores, areas, thr):
    order, keep = scores.argsort()[::-1], []
    while len(order):
        i = order[0]
        keep.append(int(i))
        ovr = _loop_oks(kpts[i], kpts[order[1:]], areas[i], areas[order[1:]])
        order = order[np.where(ovr <= thr)[0] + 1]
    return keep


def _loop_soft_nms(kpts, scores, areas, thr, max_dets):
    order = scores.argsort()[::-1]
    scores = scores[order]
    keep = []
    while len(order) and len(keep) < max_dets:
        i = order[0]
        ovr = _loop_oks(kpts[i], kpts[order[1:]], areas[i], areas[order[1:]])
        order, scores = order[1:], scores[1:] * np.exp(-ovr**2 / thr)
        resort = scores.argsort()[::-1]
        order, scores = order[resort], scores[resort]
        keep.append(int(i))
    return keep


def _crowd(seed, n=30):
    """n float32 instances (K=17, x/y/score) in clusters, so that NMS has work to do."""
    rng = np.random.default_rng(seed)
    people = rng.uniform(50, 400, (4, 1, 2)) + rng.normal(0, 25, (4, 17, 2))
    base = people[rng.integers(0, 4, n)]
    kpts = base + rng.normal(0, 1, base.shape) * rng.uniform(0.2, 8, (n, 1, 1))
    kpts = np.concatenate([kpts, rng.uniform(0, 1, (n, 17, 1))], -1).astype(np.float32)
    scores = rng.uniform(0, 1, n)
    scores[::7] = scores[0]  # ties must be broken the same way
    areas = np.prod(rng.uniform(40, 120, (n, 2)), axis=1).astype(np.float32)
    return kpts, scores, areas


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oks_matrix_equals_pairwise_loop_bit_for_bit(seed):
    kpts, _, areas = _crowd(seed)
    mat = oks_matrix(kpts, areas, SIGMAS)
    assert mat.dtype == np.float32 and mat.shape == (30, 30)
    for i in range(len(kpts)):
        np.testing.assert_array_equal(mat[i], _loop_oks(kpts[i], kpts, areas[i], areas))
    np.testing.assert_array_equal(mat, mat.T)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("thr", [0.5, 0.9])
def test_oks_nms_equals_loop_reference(seed, thr):
    kpts, scores, areas = _crowd(seed)
    keep = oks_nms(kpts, scores, areas, thr, SIGMAS)
    assert keep == _loop_nms(kpts, scores, areas, thr)
    assert 1 < len(keep) < len(scores)  # something was suppressed, something kept


@pytest.mark.parametrize("seed", [0, 1])
def test_soft_oks_nms_equals_loop_reference(seed):
    kpts, scores, areas = _crowd(seed)
    keep = soft_oks_nms(kpts, scores, areas, 0.9, SIGMAS, max_dets=20)
    assert keep == _loop_soft_nms(kpts, scores, areas, 0.9, 20)
    assert len(keep) == 20 and len(set(keep)) == 20


def test_identical_instances_collapse_to_the_best():
    kpts = np.repeat(_crowd(5, n=1)[0], 3, axis=0)
    assert oks_nms(kpts, np.array([0.2, 0.9, 0.5]), np.full(3, 900.0), 0.9, SIGMAS) == [1]
    assert oks_nms(kpts[:0], np.array([]), np.array([]), 0.9, SIGMAS) == []
