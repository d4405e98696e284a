"""CombinedDataset: COCO plus AIC converted to the COCO layout, as in MMPose's mixed training."""
from __future__ import annotations

import numpy as np
import pytest

from mlpose.datasets import AIC_TO_COCO, CombinedDataset
from mlpose.errors import ConfigError
from mlpose.registry import DATASETS, build

COCO_META = dict(from_file="experiments/_base_/datasets/coco.py")


def _cfgs(root, split="train"):
    coco = dict(type="CocoDataset", ann_file=f"annotations/person_keypoints_{split}.json",
                data_root=str(root), data_prefix=dict(img=f"images/{split}/"), pipeline=[])
    aic = dict(type="AicDataset", ann_file=f"annotations/aic_{split}.json", data_root=str(root),
               data_prefix=dict(img=f"images/{split}/"),
               pipeline=[dict(type="KeypointConverter", num_keypoints=17, mapping=AIC_TO_COCO)])
    return coco, aic


def test_items_route_by_subset_and_share_the_target_layout(synth_root):
    coco_cfg, aic_cfg = _cfgs(synth_root)
    coco, aic = build(coco_cfg, DATASETS), build(aic_cfg, DATASETS)
    ds = CombinedDataset(datasets=[coco_cfg, aic_cfg], metainfo=COCO_META)
    assert len(ds) == len(coco) + len(aic)
    assert ds.metainfo["dataset_name"] == "coco" and ds.metainfo["num_keypoints"] == 17
    first, last = ds[0], ds[len(ds) - 1]
    assert first["dataset_name"] == "coco" and last["dataset_name"] == "aic"
    assert last["keypoints"].shape == (1, 17, 2)
    assert last["flip_indices"] == ds.metainfo["flip_indices"]  # not AIC's 14-joint flips
    assert last["dataset_keypoint_weights"].shape == (17,)
    # Both files describe the same people: converted AIC equals COCO on the shared joints.
    coco_by_id = {it["id"]: it for it in coco.data_list}
    checked = 0
    for i in range(len(coco), len(ds)):
        item = ds[i]
        ref = coco_by_id.get(item["id"])
        if ref is None:  # labelled in AIC only (e.g. just the head top in view)
            continue
        body = [c for _, c in AIC_TO_COCO]
        np.testing.assert_array_equal(item["keypoints"][0, body], ref["keypoints"][0, body])
        np.testing.assert_array_equal(item["keypoints_visible"][0, body],
                                      ref["keypoints_visible"][0, body])
        assert not item["keypoints_visible"][0, :5].any()  # no face joints in AIC
        checked += 1
    assert checked > 0


def test_combined_pipeline_runs_after_the_subset_pipeline(synth_root):
    shapes = []

    def record(results):
        shapes.append(results["keypoints"].shape)
        return results

    ds = CombinedDataset(datasets=list(_cfgs(synth_root)), metainfo=COCO_META, pipeline=[record])
    ds[len(ds) - 1]
    assert shapes == [(1, 17, 2)]  # the AIC item was already converted


def test_sample_ratio_factor_resizes_subsets(synth_root):
    cfgs = _cfgs(synth_root)
    full = CombinedDataset(datasets=list(cfgs), metainfo=COCO_META)
    n_coco, n_aic = (len(d) for d in full.datasets)
    ds = CombinedDataset(datasets=list(cfgs), metainfo=COCO_META,
                         sample_ratio_factor=[2.0, 0.5])
    assert len(ds) == round(2 * n_coco) + round(0.5 * n_aic)
    locals_ = [ds.subset_index(i) for i in range(len(ds))]
    assert [s for s, _ in locals_] == [0] * (2 * n_coco) + [1] * round(0.5 * n_aic)
    coco_idx = [j for s, j in locals_ if s == 0]
    assert sorted(set(coco_idx)) == list(range(n_coco))  # factor 2: every item, twice
    stride = n_aic / round(0.5 * n_aic)
    for k, (s, j) in enumerate(locals_[2 * n_coco:]):  # factor 0.5: one per stride of ~2
        assert s == 1 and int(k * stride) <= j < min(int(np.ceil((k + 1) * stride)), n_aic)
    with pytest.raises(IndexError):
        ds.subset_index(len(ds))


def test_configuration_errors(synth_root):
    cfgs = list(_cfgs(synth_root))
    with pytest.raises(ConfigError, match="sample_ratio_factor"):
        CombinedDataset(datasets=cfgs, metainfo=COCO_META, sample_ratio_factor=[1.0])
    with pytest.raises(ConfigError, match="metainfo"):
        CombinedDataset(datasets=cfgs)
    with pytest.raises(ConfigError, match="empty"):
        CombinedDataset(datasets=[], metainfo=COCO_META)
    with pytest.raises(ConfigError, match=r"datasets\[0\]"):
        CombinedDataset(datasets=[dict(type="NoSuchDataset")], metainfo=COCO_META)


def test_repeat_dataset_repeats_and_reads_through(tiny_data):
    from mlpose.datasets import RepeatDataset
    from mlpose.errors import ConfigError

    cfg = dict(type="CocoDataset", data_root=str(tiny_data), ann_file="annotations/person_keypoints_val.json",
               data_prefix=dict(img="images/val/"), test_mode=True, pipeline=[])
    repeat = RepeatDataset(cfg, times=3)
    n = len(repeat.dataset)
    assert len(repeat) == 3 * n and repeat[n + 1]["id"] == repeat.dataset[1]["id"]
    assert repeat.metainfo is repeat.dataset.metainfo and repeat.ann_file == repeat.dataset.ann_file
    import pickle

    assert len(pickle.loads(pickle.dumps(repeat))) == 3 * n
    with pytest.raises(ConfigError, match="times=0"):
        RepeatDataset(cfg, times=0)
