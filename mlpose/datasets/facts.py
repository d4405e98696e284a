"""What a dataset is made of, for the run's record: its annotation file and its counts.

:func:`dataset_facts` is what :mod:`mlpose.tracking.inputs` logs as an MLflow dataset input.
A :class:`~mlpose.datasets.CombinedDataset` gives one entry per part, so each source dataset
shows on its own.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class DatasetFacts:
    """One annotation file as a dataset sees it.

    Attributes:
        dataset_name: the metainfo's name (``coco``, ``aic``): the prefix of its metrics.
        ann_file: the COCO keypoints json (path as configured, joined to ``data_root``).
        bbox_file: the detections json it evaluates on, or None (ground-truth boxes).
        images: images with at least one instance used.
        instances: the person instances (or detections) the dataset yields.
        keypoints: labelled keypoints (visibility > 0) over those instances.
        num_keypoints: keypoints per instance in the dataset's layout.
    """

    dataset_name: str
    ann_file: str
    bbox_file: str | None
    images: int
    instances: int
    keypoints: int
    num_keypoints: int


def dataset_facts(dataset) -> list[DatasetFacts]:
    """The facts of a COCO-style dataset, or of each part of a CombinedDataset (nested ones
    too); an empty list for a dataset without an annotation file (e.g. a user's own class)."""
    parts = getattr(dataset, "datasets", None)
    if parts is not None:
        return [facts for part in parts for facts in dataset_facts(part)]
    if not hasattr(dataset, "ann_file") or not hasattr(dataset, "table"):
        return []
    if hasattr(dataset, "full_init"):
        dataset.full_init()  # idempotent; a lazy_init dataset is read here
    table = dataset.table
    visible = table.columns.get("keypoints_visible")
    return [DatasetFacts(
        dataset_name=str(dataset.metainfo.get("dataset_name", type(dataset).__name__)),
        ann_file=str(dataset.ann_file), bbox_file=str(dataset.bbox_file) if dataset.bbox_file else None,
        images=int(len(np.unique(table.image_ids[table.image_index]))) if len(table) else 0,
        instances=int(len(table)),
        keypoints=int(np.count_nonzero(visible > 0)) if visible is not None else 0,
        num_keypoints=int(dataset.metainfo.get("num_keypoints", 0)))]
