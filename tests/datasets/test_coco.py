"""CocoDataset / AicDataset over the synthetic data, metainfo loading, and pose_collate."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mlpose.datasets import AicDataset, CocoDataset, load_metainfo, pose_collate
from mlpose.datasets.metainfo import REPO_ROOT
from mlpose.errors import ConfigError
from mlpose.registry import DATASETS, build

COCO_META = "experiments/_base_/datasets/coco.py"


def _coco(root, split="train", **kw):
    return CocoDataset(ann_file=f"annotations/person_keypoints_{split}.json", data_root=str(root),
                       data_prefix=dict(img=f"images/{split}/"), **kw)


def _expected_ids(anns):
    """Ids of the instances a top-down dataset keeps: labelled, non-crowd, non-empty box."""
    return [a["id"] for a in anns
            if not a["iscrowd"] and a["num_keypoints"] > 0 and min(a["bbox"][2:]) > 0]


def test_train_items_skip_crowd_and_unlabelled(synth_root, coco_json):
    ds = _coco(synth_root)
    anns = coco_json["train"]["annotations"]
    assert sorted(item["id"] for item in ds.data_list) == sorted(_expected_ids(anns))
    assert len(ds) < len(anns)  # the fixture has crowd and zero-keypoint instances to skip
    by_id = {a["id"]: a for a in anns}
    item = ds[0]
    ann = by_id[item["id"]]
    assert item["img_path"].endswith(f"images/train/{ann['image_id']:012d}.jpg")
    assert item["img_id"] == ann["image_id"] and item["category_id"] == 1
    assert item["bbox"].shape == (1, 4) and item["bbox"].dtype == np.float32
    x, y, w, h = ann["bbox"]
    np.testing.assert_allclose(item["bbox"][0], [x, y, min(x + w, 127), min(y + h, 127)],
                               atol=1e-3)
    k = np.asarray(ann["keypoints"], np.float32).reshape(17, 3)
    assert item["keypoints"].shape == (1, 17, 2) and item["keypoints"].dtype == np.float32
    np.testing.assert_array_equal(item["keypoints"][0], k[:, :2])
    np.testing.assert_array_equal(item["keypoints_visible"][0], (k[:, 2] > 0).astype(np.float32))
    assert item["bbox_score"].tolist() == [1.0] and item["area"] == ann["area"]
    assert item["num_keypoints"] == ann["num_keypoints"] and item["dataset_name"] == "coco"
    assert item["flip_indices"] == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert item["dataset_keypoint_weights"].shape == (17,)


def test_getitem_copies_and_runs_the_pipeline(synth_root):
    seen = []

    def record(results):
        seen.append(results["id"])
        results["keypoints"][:] = -1  # must not leak into the dataset
        return results

    ds = _coco(synth_root, pipeline=[record])
    first = ds[0]
    assert seen == [first["id"]] and np.all(first["keypoints"] == -1)
    assert not np.all(ds.data_list[0]["keypoints"] == -1)
    assert not np.all(ds.get_data_info(0)["keypoints"] == -1)


def test_pipeline_configs_are_built_from_transforms(synth_root):
    ds = _coco(synth_root, pipeline=[dict(type="KeypointConverter", num_keypoints=2,
                                          mapping=[(5, 0), ((11, 12), 1)])])
    item, raw = ds[0], ds.get_data_info(0)
    assert item["keypoints"].shape == (1, 2, 2)
    np.testing.assert_allclose(item["keypoints"][0, 1], raw["keypoints"][0, 11:13].mean(0))
    with pytest.raises(ConfigError, match=r"pipeline\[0\]"):
        _coco(synth_root, pipeline=[dict(type="NoSuchTransform")])


def test_detections_in_test_mode_respect_score_threshold(synth_root):
    dets = json.loads((synth_root / "annotations/person_detection_results_val.json").read_text())
    person = [d for d in dets if d["category_id"] == 1]
    assert len(person) < len(dets)  # the file has non-person boxes to drop
    for thr in (0.0, 0.3, 0.6):
        ds = _coco(synth_root, "val", test_mode=True,
                   bbox_file="annotations/person_detection_results_val.json",
                   filter_cfg=dict(bbox_score_thr=thr))
        kept = [d for d in person if d["score"] >= thr]
        assert len(ds) == len(kept)
        assert [it["id"] for it in ds.data_list] == list(range(len(kept)))
        np.testing.assert_allclose([it["bbox_score"][0] for it in ds.data_list],
                                   [d["score"] for d in kept], rtol=1e-6)
    item = ds[0]
    assert not item["keypoints"].any() and item["keypoints"].shape == (1, 17, 2)
    x, y, w, h = kept[0]["bbox"]
    np.testing.assert_allclose(item["bbox"][0], [x, y, x + w, y + h], atol=1e-3)


def test_gt_boxes_in_test_mode_keep_the_same_instances(synth_root, coco_json):
    ds = _coco(synth_root, "val", test_mode=True)
    assert [it["id"] for it in ds.data_list] == _expected_ids(coco_json["val"]["annotations"])


def test_lazy_init_indices_and_registry(synth_root):
    ds = build(dict(type="CocoDataset", ann_file="annotations/person_keypoints_train.json",
                    data_root=str(synth_root), lazy_init=True, indices=3), DATASETS)
    assert ds.data_list == [] and len(ds) == 3 and len(ds.data_list) == 3
    picked = _coco(synth_root, indices=[2, 0])
    full = _coco(synth_root)
    assert [it["id"] for it in picked.data_list] == [full.data_list[i]["id"] for i in (2, 0)]


def test_aic_dataset_uses_aic_layout(synth_root):
    ds = AicDataset(ann_file="annotations/aic_train.json", data_root=str(synth_root),
                    data_prefix=dict(img="images/train/"))
    assert ds.metainfo["dataset_name"] == "aic" and ds.metainfo["num_keypoints"] == 14
    assert ds[0]["keypoints"].shape == (1, 14, 2) and ds[0]["dataset_name"] == "aic"


def test_user_errors_are_config_errors(synth_root):
    with pytest.raises(ConfigError, match="missing.json"):
        CocoDataset(ann_file="missing.json", data_root=str(synth_root))
    with pytest.raises(ConfigError, match="test_mode"):
        _coco(synth_root, bbox_file="annotations/person_detection_results_val.json")
    with pytest.raises(ConfigError, match="data_mode"):
        _coco(synth_root, data_mode="bottomup")
    with pytest.raises(ConfigError, match="min_size"):
        _coco(synth_root, filter_cfg=dict(min_size=3))
    with pytest.raises(ConfigError, match="14 keypoints"):  # AIC json with COCO metainfo
        CocoDataset(ann_file="annotations/aic_train.json", data_root=str(synth_root))


def test_metainfo_files_parse_to_the_known_layouts():
    coco = load_metainfo(None, COCO_META)
    assert coco["num_keypoints"] == 17 and coco["keypoint_names"][:3] == ["nose", "left_eye",
                                                                           "right_eye"]
    np.testing.assert_allclose(coco["sigmas"][[0, 5, 11, 16]], [0.026, 0.079, 0.107, 0.089])
    assert coco["sigmas"].dtype == np.float32 and coco["joint_weights"][9] == pytest.approx(1.5)
    assert len(coco["skeleton"]) == 19 and (15, 13) in coco["skeleton"]
    assert coco["flip_pairs"][0] == [1, 2] and len(coco["flip_pairs"]) == 8
    assert coco["upper_body_ids"] == list(range(11))
    assert coco["lower_body_ids"] == list(range(11, 17))
    aic = load_metainfo(dict(from_file="experiments/_base_/datasets/aic.py"), COCO_META)
    assert aic["dataset_name"] == "aic" and aic["keypoint_names"][12:] == ["head_top", "neck"]
    assert aic["flip_indices"] == [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8, 12, 13]
    assert aic["keypoint_colors"].shape == (14, 3)
    # MMPose's coco-aic "combine" layout (configs/_base_/datasets/coco_aic.py in its recipes)
    both = load_metainfo(dict(from_file="configs/_base_/datasets/coco_aic.py"), COCO_META)
    assert both["num_keypoints"] == 19 and both["keypoint_names"][:17] == coco["keypoint_names"]
    assert both["keypoint_names"][17:] == ["head_top", "neck"] and both["flip_indices"][17:] == [17, 18]
    assert both["flip_indices"][:17] == coco["flip_indices"] and (17, 18) in both["skeleton"]
    np.testing.assert_allclose(both["sigmas"], [*coco["sigmas"], 0.026, 0.026])


def test_metainfo_resolves_from_repo_root_and_reports_bad_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the relative path is not under cwd: found in the repo
    assert load_metainfo(dict(from_file=COCO_META), "")["dataset_name"] == "coco"
    with pytest.raises(ConfigError, match="nowhere.py"):
        load_metainfo(dict(from_file="nowhere.py"), "")
    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(ConfigError, match="dataset_info"):
        load_metainfo(dict(from_file="empty.py"), "")
    info = dict(dataset_name="two", sigmas=[0.1],
                keypoint_info={0: dict(name="a", id=0, swap="b"), 1: dict(name="b", id=1)})
    with pytest.raises(ConfigError, match="sigmas needs 2"):
        load_metainfo(info, "")
    info["sigmas"] = [0.1, 0.1]
    info["keypoint_info"][0]["swap"] = "c"
    with pytest.raises(ConfigError, match="unknown 'c'"):
        load_metainfo(info, "")
    with pytest.raises(ConfigError, match="from_file"):
        load_metainfo(dict(path="x.py"), "")


def test_mmposes_metainfo_paths_resolve_as_mmpose_resolves_them(tmp_path, monkeypatch):
    """MMPose's configs write from_file='configs/_base_/datasets/NAME.py', a path in MMPose's checkout:
    mlpose's own copy of NAME, else the installed MMPose's (a stand-in package here, never imported)."""
    monkeypatch.chdir(tmp_path)
    assert load_metainfo(dict(from_file="configs/_base_/datasets/coco.py"), "")["dataset_name"] == "coco"
    with pytest.raises(ConfigError, match=r"metainfo file 'configs/_base_/datasets/crowdpose\.py' not found"):
        load_metainfo(dict(from_file="configs/_base_/datasets/crowdpose.py"), "")
    datasets = tmp_path / "site" / "mmpose" / ".mim" / "configs" / "_base_" / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "crowdpose.py").write_text((REPO_ROOT / COCO_META).read_text().replace("dataset_name='coco'",
                                                                                  "dataset_name='crowdpose'"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert load_metainfo(dict(from_file="configs/_base_/datasets/crowdpose.py"), "")["dataset_name"] == "crowdpose"


def test_pose_collate_stacks_tensors_and_lists_meta():
    items = [dict(inputs=torch.zeros(3, 8, 6, dtype=torch.uint8), meta=dict(id=i),
                  targets=dict(heatmaps=torch.ones(17, 2, 2), keypoint_weights=np.ones(17, np.float32)))
             for i in range(3)]
    batch = pose_collate(items)
    assert batch["inputs"].shape == (3, 3, 8, 6) and batch["inputs"].dtype == torch.uint8
    assert batch["targets"]["heatmaps"].shape == (3, 17, 2, 2)
    assert batch["targets"]["keypoint_weights"].shape == (3, 17)
    assert [m["id"] for m in batch["meta"]] == [0, 1, 2]
    test_batch = pose_collate([dict(inputs=torch.zeros(3, 4, 4), meta={})])
    assert set(test_batch) == {"inputs", "meta"}
    del items[1]["targets"]["heatmaps"]
    with pytest.raises(ValueError, match="item 1 of the batch has targets"):
        pose_collate(items)
    del items[1]["targets"]
    with pytest.raises(ValueError, match="item 1 of the batch has targets"):
        pose_collate(items)
