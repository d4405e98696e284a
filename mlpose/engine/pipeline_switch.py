"""A second training pipeline from a given epoch: mmdet's ``PipelineSwitchHook``.

``custom_hooks=[dict(type='mmdet.PipelineSwitchHook', switch_epoch=390,
switch_pipeline=train_pipeline_stage2)]`` (RTMPose's recipe) trains epochs ``switch_epoch + 1``
onwards (1-based; mmdet's 0-based ``epoch >= switch_epoch``) with ``switch_pipeline``. The switch
is a function of the epoch, so a run resumed past it trains with the second pipeline at once.
"""
from __future__ import annotations

from typing import Sequence

from torch.utils.data import DataLoader

from mlpose.datasets.coco import build_pipeline
from mlpose.errors import ConfigError


class PipelineSwitch:
    """Swaps the training dataset's pipeline at the start of epoch ``switch_epoch`` (0-based).

    Args:
        loader: the training loader (its dataset's ``pipeline`` is replaced; persistent workers
            are restarted so they run the new one).
        switch_epoch: the first (0-based) epoch of the second pipeline.
        switch_pipeline: transform configs of the second pipeline (built now: a bad one fails
            before training).
        path: config key, for messages.
    """

    def __init__(self, loader: DataLoader, switch_epoch: int, switch_pipeline: Sequence[dict],
                 path: str = "custom_hooks"):
        if not isinstance(switch_epoch, int) or switch_epoch < 0:
            raise ConfigError(f"{path}.switch_epoch={switch_epoch!r}: use an epoch number >= 0")
        self.loader, self.switch_epoch = loader, switch_epoch
        self.transforms = build_pipeline(switch_pipeline, f"{path}.switch_pipeline")
        self.switched = False

    def apply(self, epoch: int) -> bool:
        """Before training epoch ``epoch`` (0-based): switch if it is time; True when it switched now."""
        if self.switched or epoch < self.switch_epoch:
            return False
        dataset = self.loader.dataset
        dataset = getattr(dataset, "dataset", dataset)  # the SeededDataset's wrapped dataset
        dataset.pipeline = self.transforms
        if self.loader.persistent_workers:  # their copies of the dataset hold the old pipeline
            self.loader._iterator = None
        self.switched = True
        return True
