"""Data loaders whose augmentations are a pure function of (seed, epoch, sample index).

The sampler yields ``(epoch, index)`` keys and :class:`SeededDataset` seeds python, numpy and
torch from them before running the pipeline. So a sample's random flip/rotation/half-body is the
same whatever the number of workers, whether workers persist, how the world is split, and
whether the run was interrupted and resumed mid-way: this is what makes resume exact.
"""
from __future__ import annotations

import gc
import logging
import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mlpose.datasets.sampler import EpochSampler
from mlpose.errors import ConfigError, DataError
from mlpose.registry import DATASETS, build


class SeededDataset(Dataset):
    """Wraps a dataset; ``ds[(epoch, i)]`` seeds every RNG from (seed, epoch, i), then returns ``dataset[i]``."""

    def __init__(self, dataset: Dataset, seed: int, skip_bad_images: bool = False):
        self.dataset = dataset
        self.seed = seed
        self.skip_bad_images = skip_bad_images

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
            return self._item(index) if self.skip_bad_images else self.dataset[index]
        finally:
            if saved is not None:  # in the main process, leave the training RNG streams untouched
                random.setstate(saved[0])
                np.random.set_state(saved[1])
                torch.set_rng_state(saved[2])


    def _item(self, index: int):
        """``dataset[index]``, or when its image is bad the next good item, whose ``meta`` then
        lists the skipped files' one-line errors under ``skipped_images`` (for the main process)."""
        skipped = []
        for step in range(MAX_SKIPS + 1):
            try:
                item = self.dataset[(index + step) % len(self.dataset)]
            except DataError as exc:
                skipped.append(str(exc))
                continue
            if skipped and isinstance(item.get("meta"), dict):
                item["meta"]["skipped_images"] = skipped
            return item
        raise DataError(f"{MAX_SKIPS + 1} bad images in a row ({skipped[-1]}); is data_prefix.img right?")


#: data_cfg.skip_bad_images: give up after this many bad items in a row (a wrong folder, not a bad file)
MAX_SKIPS = 20


class SkippedImages:
    """The main process's record of images skipped by ``data_cfg.skip_bad_images``: a warning once
    per file, and the count (logged each epoch and as the metric ``data/skipped_images``)."""

    def __init__(self, logger_name: str = "mlpose"):
        self.files: set[str] = set()
        self.logger_name = logger_name

    def note(self, batch) -> None:
        metas = batch.get("meta") if isinstance(batch, dict) else None
        for meta in metas or ():
            for line in meta.get("skipped_images", ()) if isinstance(meta, dict) else ():
                name = line.split(": ", 1)[0]
                if name not in self.files:
                    self.files.add(name)
                    logging.getLogger(self.logger_name).warning(f"skipped a bad image: {line.split('; ')[0]}")

    def __len__(self) -> int:
        return len(self.files)


def _quiet_opencv(worker_id: int) -> None:
    """Worker processes are the parallelism: OpenCV's own threads would only compete for cores."""
    import cv2

    cv2.setNumThreads(0)


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask, e.g. a SLURM or container limit)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def auto_num_workers(device_type: str, local_processes: int = 1, cpus: int | None = None) -> int:
    """``num_workers='auto'``: loader processes for one rank, from its share of the cores.

    On a GPU the model runs elsewhere and the cores only feed it: one is kept for the training
    process itself, the rest load data (at most 8; beyond that one rank rarely needs more).
    On a CPU the model's own threads use every core; a worker takes cores from it, and the
    pipeline is a small part of a step (res50 fp32: ~1 ms of ~180 ms per sample), so workers only
    pay where cores are to spare: none up to 8 cores per rank, then one per 8 cores, at most 4.
    (The pipeline alone, with no model beside it, differs by machine: on one 2-core machine 0
    workers loaded 1,073 samples/s and 2 workers 859, on another 410 and 739.)

    Args:
        device_type: ``'cuda'`` or ``'cpu'`` (the rank's device).
        local_processes: ranks on this machine (``LOCAL_WORLD_SIZE``), sharing its cores.
        cpus: usable cores (default: :func:`usable_cpus`).
    """
    per_rank = max(1, (cpus or usable_cpus()) // max(1, local_processes))
    if device_type == "cuda":
        return max(1, min(8, per_rank - 1))
    return min(4, per_rank // 8)


class ForkSharingDataLoader(DataLoader):
    """A DataLoader whose forked workers keep sharing the parent's memory.

    Python's cycle collector walks every tracked object and writes its header, so a worker
    that collects once copies every page of the parent's objects it inherited. Before the
    workers are forked the parent's objects are moved out of the collector's reach
    (``gc.freeze()``, what the Python docs advise before ``fork()``) and put back right after,
    in the parent only: the workers never copy them, the parent still collects them.
    """

    skipped: SkippedImages | None = None  # set when data_cfg.skip_bad_images is on

    def __iter__(self):
        if self.num_workers == 0 or (self.persistent_workers and getattr(self, "_iterator", None) is not None):
            batches = super().__iter__()
        else:
            gc.freeze()
            try:
                batches = super().__iter__()  # forks the workers
            finally:
                gc.unfreeze()
        return batches if self.skipped is None else self._noting(batches)

    def _noting(self, batches):
        for batch in batches:
            self.skipped.note(batch)
            yield batch


def iters_per_epoch(loader: DataLoader) -> int:
    """Batches one epoch of this rank gives: a last, partial batch counts unless ``drop_last``."""
    samples, batch_size = loader.sampler.num_samples, loader.batch_size
    return samples // batch_size if loader.drop_last else -(-samples // batch_size)


def build_dataloader(loader_cfg: dict, path: str, *, seed: int, rank: int, world_size: int,
                     train: bool, collate_fn, device_type: str = "cpu", skip_bad_images: bool = False) -> DataLoader:
    """Build ``<split>_dataloader`` from config (dataset via the DATASETS registry).

    Training keeps the last, partial batch of an epoch unless ``drop_last=True`` (MMEngine's default,
    so MMPose's files, which leave it unset, run the iterations they run there); evaluation never
    drops. ``num_workers`` defaults to ``'auto'`` (:func:`auto_num_workers` for ``device_type``);
    ``pin_memory`` defaults to True on CUDA (page-locked batches copy to the GPU
    asynchronously); ``persistent_workers`` and ``prefetch_factor`` are passed through.
    ``skip_bad_images``: items whose image is missing or undecodable are replaced by the next
    good one and recorded in the loader's ``skipped`` (:class:`SkippedImages`).
    """
    dataset = build(loader_cfg["dataset"], DATASETS, f"{path}.dataset")
    shuffle = (loader_cfg.get("sampler") or {}).get("shuffle", train)
    sampler = EpochSampler(len(dataset), shuffle, seed, rank, world_size, drop_last=train)
    workers = loader_cfg.get("num_workers", "auto")
    if workers == "auto":
        workers = auto_num_workers(device_type, int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ConfigError(f"{path}.num_workers={workers!r}: use an int >= 0 or 'auto'")
    extra = {"persistent_workers": loader_cfg.get("persistent_workers", False),
             "prefetch_factor": loader_cfg.get("prefetch_factor")} if workers > 0 else {}
    pin = loader_cfg.get("pin_memory")
    loader = ForkSharingDataLoader(
        SeededDataset(dataset, seed, skip_bad_images),
        worker_init_fn=_quiet_opencv if workers > 0 else None,
        batch_size=loader_cfg.get("batch_size", 1),
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=device_type == "cuda" and torch.cuda.is_available() and (pin is None or pin),
        drop_last=train and loader_cfg.get("drop_last", False),  # MMEngine's (torch's) default
        **{k: v for k, v in extra.items() if v is not None},
    )
    if skip_bad_images:
        loader.skipped = SkippedImages()
    return loader
