"""The training/evaluation sampler: a seeded shuffle split across ranks that can resume mid-epoch.

It yields ``(epoch, index)`` keys for :class:`mlpose.datasets.loader.SeededDataset`, so each
sample's augmentation is a pure function of (seed, epoch, index) (see that module).
"""
from __future__ import annotations

import math
from typing import Iterator

import torch
from torch.utils.data import Sampler


class EpochSampler(Sampler):
    """Shuffled (or ordered) indices split across ranks, padded to equal length like
    DistributedSampler; yields ``(epoch, index)`` and can start part-way into an epoch.

    Args:
        size: dataset length.
        shuffle: permute per epoch with a generator seeded by ``seed + epoch``.
        seed: the run's seed (same on every rank).
        rank, world_size: this process's share.
        drop_last: drop the tail instead of padding (training).
    """

    def __init__(self, size: int, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1, drop_last: bool = False):
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch, self.start = 0, 0
        per_rank = size // world_size if drop_last else math.ceil(size / world_size)
        self.num_samples = per_rank

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch; ``start`` skips that many of this rank's samples (mid-epoch resume)."""
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.size, generator=gen).tolist()
        else:
            order = list(range(self.size))
        total = self.num_samples * self.world_size
        order = (order * math.ceil(total / max(len(order), 1)))[:total]
        return order[self.rank:total:self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter([(self.epoch, i) for i in self.indices()[self.start:]])

    def __len__(self) -> int:
        return self.num_samples - self.start
