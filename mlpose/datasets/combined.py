"""CombinedDataset: train or test on several datasets mapped into one keypoint layout."""
from __future__ import annotations

import bisect
import itertools
import random
from typing import Sequence

import torch

from mlpose.errors import ConfigError
from mlpose.registry import DATASETS, build

from .coco import build_pipeline, item_metainfo, run_pipeline
from .metainfo import load_metainfo


@DATASETS.register()
class CombinedDataset(torch.utils.data.Dataset):
    """Concatenate datasets whose items are converted to one target layout.

    For item ``i`` the owning sub-dataset returns its item after its own pipeline (which
    usually holds only a :class:`~mlpose.datasets.KeypointConverter` to the target layout);
    then the layout-dependent entries (``flip_indices``, ``flip_pairs``, ``upper_body_ids``,
    ``lower_body_ids``, ``dataset_keypoint_weights``) are replaced by the target metainfo's
    and the combined ``pipeline`` runs. ``dataset_name`` stays the sub-dataset's, so
    evaluators can route predictions to the right metric; ``self.metainfo`` is the target's.

    Args:
        datasets: sub-dataset configs (built from DATASETS) or dataset objects.
        metainfo: the target layout, e.g. ``dict(from_file='experiments/_base_/datasets/coco.py')``.
        pipeline: transforms run after each sub-dataset's own pipeline.
        sample_ratio_factor: one factor per sub-dataset; sub-dataset ``d`` then contributes
            ``round(len(d) * factor)`` items per epoch. Item ``j`` of that share is drawn
            at random (python ``random``, which torch seeds per worker) from the ``j``-th of
            equal strides over ``d``, so an epoch still spreads over the whole sub-dataset.
        test_mode: recorded for the runner; sub-datasets take their own ``test_mode``.
    """

    def __init__(self, datasets: Sequence, metainfo: dict | None = None, pipeline: Sequence = (),
                 sample_ratio_factor: Sequence[float] | None = None, test_mode: bool = False):
        if not datasets:
            raise ConfigError("CombinedDataset: datasets is empty; list at least one dataset")
        if metainfo is None:
            raise ConfigError("CombinedDataset: set metainfo=dict(from_file=...) for the "
                              "target keypoint layout")
        self.datasets = [d if isinstance(d, torch.utils.data.Dataset)
                         else build(d, DATASETS, f"CombinedDataset.datasets[{i}]")
                         for i, d in enumerate(datasets)]
        self.metainfo = load_metainfo(metainfo, "")
        self.pipeline = build_pipeline(pipeline, "CombinedDataset.pipeline")
        self.test_mode = test_mode
        self._source_lens = [len(d) for d in self.datasets]
        self.sample_ratio_factor = None
        lens = self._source_lens
        if sample_ratio_factor is not None:
            factors = [float(f) for f in sample_ratio_factor]
            if len(factors) != len(self.datasets) or min(factors) < 0:
                raise ConfigError(
                    f"CombinedDataset: sample_ratio_factor {list(sample_ratio_factor)} needs one "
                    f"non-negative factor per dataset ({len(self.datasets)})"
                )
            self.sample_ratio_factor = factors
            lens = [round(n * f) for n, f in zip(lens, factors)]
        self._lens = lens
        self._offsets = list(itertools.accumulate(lens))

    def __len__(self) -> int:
        return self._offsets[-1]

    def subset_index(self, idx: int) -> tuple[int, int]:
        """Map a global index to (sub-dataset index, index within that sub-dataset)."""
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range for CombinedDataset of {len(self)}")
        idx %= len(self)
        subset = bisect.bisect_right(self._offsets, idx)
        local = idx - (self._offsets[subset - 1] if subset else 0)
        if self.sample_ratio_factor is not None:
            stride = self._source_lens[subset] / self._lens[subset]
            local = min(int((local + random.random()) * stride), self._source_lens[subset] - 1)
        return subset, local

    def get_data_info(self, idx: int) -> dict:
        """Item ``idx`` after its sub-dataset's pipeline, with the target layout's metainfo."""
        subset, local = self.subset_index(idx)
        item = self.datasets[subset][local]
        item.update(item_metainfo(self.metainfo))
        return item

    def __getitem__(self, idx: int) -> dict:
        return run_pipeline(self.pipeline, self.get_data_info(idx))

    def __repr__(self) -> str:
        names = [getattr(d, "metainfo", {}).get("dataset_name", type(d).__name__)
                 for d in self.datasets]
        parts = ", ".join(f"{name}:{n}" for name, n in zip(names, self._lens))
        return f"CombinedDataset({self.metainfo['dataset_name']}; {parts})"
