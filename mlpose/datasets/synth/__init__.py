"""Synthetic person-keypoint data: rendered stick-figure people in COCO and AIC formats.

``generate(out_dir, num_train=200, num_val=50, seed=0, image_size=(256, 256))`` writes a
dataset that the COCO/AIC datasets and metrics read like the real ones; see
:func:`~mlpose.datasets.synth.writer.generate`.
"""
from .writer import AIC_KEYPOINTS, COCO_KEYPOINTS, COCO_SKELETON, generate

__all__ = ["generate", "COCO_KEYPOINTS", "AIC_KEYPOINTS", "COCO_SKELETON"]
