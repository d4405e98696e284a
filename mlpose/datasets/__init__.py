"""Datasets: the synthetic data generator, COCO/AIC/Combined/Repeat datasets, KeypointConverter,
metainfo loading and batch collation.

Importing this package registers the datasets and KeypointConverter. The transforms in
``mlpose.datasets.transforms`` are imported by the registry on its own.
"""
from .coco import AicDataset, CocoDataset
from .collate import pose_collate
from .combined import CombinedDataset
from .converter import AIC_TO_COCO, COCO_TO_AIC, KeypointConverter
from .metainfo import load_metainfo
from .repeat import RepeatDataset

__all__ = ["CocoDataset", "AicDataset", "CombinedDataset", "KeypointConverter", "AIC_TO_COCO",
           "COCO_TO_AIC", "RepeatDataset", "load_metainfo", "pose_collate"]
