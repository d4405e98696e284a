"""Data loaders whose augmentations are a pure function of (seed, epoch, sample index).

The sampler yields ``(epoch, index)`` keys and :class:`SeededDataset` seeds python, numpy and
torch from them before running the pipeline. So a sample's random flip/rotation/half-body is the
same whatever the number of workers, whether workers persist, how the world is split, and
whether the run was interrupted and resumed mid-way: this is what makes resume exact.
"""
from __future__ import annotations

import math
import random
from typing import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from mlpose.registry import DATASETS, build


class SeededDataset(Dataset):
    """Wraps a dataset; ``ds[(epoch, i)]`` seeds every RNG from (seed, epoch, i), then returns ``dataset[i]``."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]):
        epoch, index = key
        sample_seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1)[0])
        in_worker = torch.utils.data.get_worker_info() is not None
        saved = None if in_worker else (random.getstate(), np.random.get_state(), torch.get_rng_state())
        random.seed(sample_seed)
        np.random.seed(sample_seed)
        torch.manual_seed(sample_seed)
        try:
            return self.dataset[index]
        finally:
            if saved is not None:  # in the main process, leave the training RNG streams untouched
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])


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


def _quiet_opencv(worker_id: int) -> None:
    """Worker processes are the parallelism: OpenCV's own threads would only compete for cores."""
    import cv2

    cv2.setNumThreads(0)


def build_dataloader(loader_cfg: dict, path: str, *, seed: int, rank: int, world_size: int,
                     train: bool, collate_fn) -> DataLoader:
    """Build ``<split>_dataloader`` from config (dataset via the DATASETS registry)."""
    dataset = build(loader_cfg["dataset"], DATASETS, f"{path}.dataset")
    shuffle = (loader_cfg.get("sampler") or {}).get("shuffle", train)
    sampler = EpochSampler(len(dataset), shuffle, seed, rank, world_size, drop_last=train)
    workers = loader_cfg.get("num_workers", 0)
    extra = {"persistent_workers": loader_cfg.get("persistent_workers", False),
             "prefetch_factor": loader_cfg.get("prefetch_factor")} if workers > 0 else {}
    return DataLoader(
        SeededDataset(dataset, seed),
        worker_init_fn=_quiet_opencv if workers > 0 else None,
        batch_size=loader_cfg.get("batch_size", 1),
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=loader_cfg.get("pin_memory", False) and torch.cuda.is_available(),
        drop_last=train and loader_cfg.get("drop_last", True),
        **{k: v for k, v in extra.items() if v is not None},
    )
