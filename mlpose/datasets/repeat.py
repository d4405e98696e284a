"""RepeatDataset: MMEngine's wrapper that repeats a dataset ``times`` per epoch."""
from __future__ import annotations

import torch

from mlpose.errors import ConfigError
from mlpose.registry import DATASETS, build


@DATASETS.register()
class RepeatDataset(torch.utils.data.Dataset):
    """``times`` passes over ``dataset`` per epoch (item ``i`` is the wrapped item ``i % len``), as
    MMPose's AIC + COCO recipes weight COCO three times.

    The wrapped dataset's attributes (``metainfo``, ``ann_file``, ``pipeline``...) read through
    the wrapper, so evaluators, tracking and a pipeline switch see the real dataset.

    Args:
        dataset: the dataset config (built from DATASETS) or a dataset object.
        times: passes per epoch, an int >= 1.
        lazy_init: MMEngine's; the wrapped dataset is built at once here.
    """

    def __init__(self, dataset, times: int, lazy_init: bool = False):
        if not isinstance(times, int) or isinstance(times, bool) or times < 1:
            raise ConfigError(f"RepeatDataset.times={times!r}: use an int >= 1")
        self.dataset = dataset if isinstance(dataset, torch.utils.data.Dataset) else build(
            dataset, DATASETS, "RepeatDataset.dataset")
        self.times = times

    def __len__(self) -> int:
        return self.times * len(self.dataset)

    def __getitem__(self, idx: int) -> dict:
        return self.dataset[idx % len(self.dataset)]

    def __getattr__(self, name: str):
        if name == "dataset":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __repr__(self) -> str:
        return f"RepeatDataset({self.dataset!r}, times={self.times})"
