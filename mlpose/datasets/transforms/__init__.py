"""Top-down data pipeline transforms (MMPose names and arguments).

Each transform is a class registered in ``TRANSFORMS`` whose ``__call__(results) -> results``
documents the keys it requires, modifies and adds. The standard training pipeline::

    [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'), dict(type='RandomFlip'),
     dict(type='RandomHalfBody'), dict(type='RandomBBoxTransform'),
     dict(type='TopdownAffine', input_size=(192, 256)),
     dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]

``RandomFlip`` flips only the annotations and ``TopdownAffine`` folds the flip into its one
warp (see ``warp.py``), so each sample's pixels are resampled once. Pixel-value augmentations
(``PhotometricDistortion``, ``YOLOXHSVRandomAug``, ``Albumentation``) follow ``TopdownAffine`` in
MMPose's configs and work on the uint8 BGR crop. Every random draw comes from numpy's global RNG
(seeded per sample by ``SeededDataset``), which makes augmentation repeatable.
"""
from mlpose.datasets.transforms.affine import TopdownAffine
from mlpose.datasets.transforms.albu import Albumentation
from mlpose.datasets.transforms.augment import RandomFlip, RandomHalfBody
from mlpose.datasets.transforms.bbox import GetBBoxCenterScale, RandomBBoxTransform
from mlpose.datasets.transforms.loading import LoadImage, decode_image
from mlpose.datasets.transforms.pack import PackPoseInputs
from mlpose.datasets.transforms.photometric import PhotometricDistortion, YOLOXHSVRandomAug
from mlpose.datasets.transforms.target import GenerateTarget
from mlpose.datasets.transforms.warp import (
    get_udp_warp_matrix,
    get_warp_matrix,
    invert_affine,
    materialize_pending,
)

__all__ = [
    "Albumentation",
    "GenerateTarget",
    "GetBBoxCenterScale",
    "LoadImage",
    "PackPoseInputs",
    "PhotometricDistortion",
    "RandomBBoxTransform",
    "RandomFlip",
    "RandomHalfBody",
    "TopdownAffine",
    "YOLOXHSVRandomAug",
    "decode_image",
    "get_udp_warp_matrix",
    "get_warp_matrix",
    "invert_affine",
    "materialize_pending",
]
