"""COCO-size simulation mechanisms at small sizes: the generator's exact counts, the flat sample
list, and DataLoader workers that keep sharing the parent's memory."""
import gc
import json
import os

import numpy as np
import psutil
import pytest
import torch

from mlpose.datasets import CocoDataset
from mlpose.datasets.loader import ForkSharingDataLoader, auto_num_workers, build_dataloader
from mlpose.datasets.synth.coco_size import DETECTION_FILE, SplitSize, write_coco_size

SIZES = {"train": SplitSize(images=3000, person_images=1700, labelled_images=1500, labelled=3970,
                            annotations=6950),
         "val": SplitSize(images=200, person_images=120, labelled_images=100, labelled=265, annotations=400,
                          detections=3000)}


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    out = tmp_path_factory.mktemp("coco-size")
    summary = write_coco_size(out, num_train=12, num_val=6, seed=1, image_size=(160, 120), progress=False,
                              sizes=SIZES)
    return out, summary


def test_generator_writes_exactly_the_asked_counts_over_reused_images(scaled):
    out, summary = scaled
    for split, size in SIZES.items():
        data = json.loads((out / "annotations" / f"person_keypoints_{split}2017.json").read_text())
        anns = data["annotations"]
        labelled = [a for a in anns if a["num_keypoints"] > 0]
        assert len(data["images"]) == size.images and len(anns) == size.annotations
        assert len(labelled) == size.labelled
        assert len({a["image_id"] for a in anns}) == size.person_images
        assert len({a["image_id"] for a in labelled}) == size.labelled_images
        assert len({a["id"] for a in anns}) == len(anns) and all(a["segmentation"] for a in anns)
        files = {img["file_name"] for img in data["images"]}
        assert len(files) <= 12 and all((out / f"{split}2017" / f).is_file() for f in files)  # re-used
        assert summary["splits"][split]["labelled"] == size.labelled
    dets = json.loads((out / DETECTION_FILE).read_text())
    assert len(dets) == SIZES["val"].detections == summary["detections"]["count"]
    ds = CocoDataset(ann_file="annotations/person_keypoints_train2017.json", data_root=str(out),
                     data_prefix=dict(img="train2017/"))
    assert len(ds) <= SIZES["train"].labelled and os.path.isfile(ds[len(ds) - 1]["img_path"])
    val = CocoDataset(ann_file="annotations/person_keypoints_val2017.json", data_root=str(out),
                      data_prefix=dict(img="val2017/"), bbox_file=str(out / DETECTION_FILE), test_mode=True)
    assert len(val) == len(dets)


def test_the_sample_list_is_a_few_arrays_not_objects_per_instance(scaled):
    out, _ = scaled
    ds = CocoDataset(ann_file="annotations/person_keypoints_train2017.json", data_root=str(out))
    arrays = [*ds.table.columns.values(), ds.table.image_index, ds.table.image_ids, ds.table.image_paths]
    assert len(ds) > 3000 and all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays)
    assert ds.table.nbytes() < 400 * len(ds)
    np.testing.assert_array_equal(ds.get_data_info(5)["keypoints"], ds.data_list[5]["keypoints"])


class _Collecting(torch.utils.data.Dataset):
    """Runs a full cycle collection in the worker now and then (as a long epoch does)."""

    def __len__(self):
        return 20_000

    def __getitem__(self, i):
        if i % 5000 == 4999:  # not before the first measurement (batch 4)
            gc.collect()
        return i


def _worker_uss_growth(loader_cls) -> float:
    """MiB each of 2 persistent workers privately gains over two epochs."""
    loader = loader_cls(_Collecting(), batch_size=250, num_workers=2, persistent_workers=True, collate_fn=len)
    start = None
    for _ in range(2):
        for i, _batch in enumerate(loader):
            if start is None and i == 4:
                start = {c.pid: c.memory_full_info().uss for c in psutil.Process().children()}
    end = {c.pid: c.memory_full_info().uss for c in psutil.Process().children() if c.pid in start}
    del loader
    return max(end[p] - start[p] for p in end) / 2**20


def test_workers_do_not_copy_the_parents_objects_when_they_collect():
    # 400k small dicts in the parent (~90 MiB), as a sample list of Python dicts would be: a
    # worker's collector walking them writes to every page, so the worker copies them all.
    parent_objects = [{"id": i, "bbox": [i, i]} for i in range(400_000)]
    shared = _worker_uss_growth(ForkSharingDataLoader)
    copied = _worker_uss_growth(torch.utils.data.DataLoader)
    assert shared < 5, f"workers copied {shared:.1f} MiB of the parent's memory"
    assert copied > 30  # the plain DataLoader's workers do copy them
    del parent_objects


def test_auto_num_workers_follows_cores_and_device(tmp_path, scaled):
    assert auto_num_workers("cpu", cpus=2) == 0 and auto_num_workers("cpu", cpus=64) == 4
    assert auto_num_workers("cuda", cpus=16) == 8 and auto_num_workers("cuda", 8, cpus=32) == 3
    assert auto_num_workers("cuda", 4, cpus=4) == 1
    out, _ = scaled
    cfg = dict(batch_size=2, dataset=dict(type="CocoDataset", ann_file=str(out / "annotations/person_keypoints_val2017.json")))
    loader = build_dataloader(cfg, "val_dataloader", seed=0, rank=0, world_size=1, train=False, collate_fn=len)
    assert loader.num_workers == auto_num_workers("cpu") and not loader.pin_memory
