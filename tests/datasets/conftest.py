"""A tiny synthetic dataset shared by the dataset tests (generated once per session)."""
from __future__ import annotations

import json

import pytest

from mlpose.datasets.synth import generate

NUM_TRAIN, NUM_VAL, SIZE = 6, 4, (128, 128)


@pytest.fixture(scope="session")
def synth_cfg() -> dict:
    """The arguments the shared dataset was generated with."""
    return dict(num_train=NUM_TRAIN, num_val=NUM_VAL, width=SIZE[0], height=SIZE[1])


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """Path of a generated dataset: 6 train and 4 val images of 128x128, seed 0."""
    root = tmp_path_factory.mktemp("synth")
    generate(root, num_train=NUM_TRAIN, num_val=NUM_VAL, seed=0, image_size=SIZE,
             progress=False)
    return root


@pytest.fixture(scope="session")
def coco_json(synth_root):
    """Loaded COCO annotation dicts: {'train': ..., 'val': ...}."""
    return {s: json.loads((synth_root / f"annotations/person_keypoints_{s}.json").read_text())
            for s in ("train", "val")}
