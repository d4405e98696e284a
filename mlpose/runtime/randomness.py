"""Seeding: the config's ``randomness=dict(seed, diff_rank_seed, deterministic)``, DataLoader
worker seeds, and seeded generators for samplers.
"""
from __future__ import annotations

import os
import random
import warnings
from typing import Mapping

import numpy as np
import torch

from mlpose.errors import ConfigError
from mlpose.runtime import dist

_SEED_LIMIT = 2**32  # numpy accepts seeds in [0, 2**32)


def sync_random_seed() -> int:
    """A random seed drawn on rank 0 and shared with every rank (so all ranks agree)."""
    seed = int(np.random.SeedSequence().generate_state(1)[0] % 2**31) if dist.is_main() else None
    return int(dist.broadcast_object(seed, src=0))


def set_random_seed(seed: int | None = None, diff_rank_seed: bool = False, deterministic: bool = False,
                    rank: int | None = None) -> int:
    """Seed python, numpy and torch (CPU and all CUDA devices), as ``randomness`` describes.

    Args:
        seed: the seed; None draws one on rank 0 and broadcasts it, so ranks still agree.
        diff_rank_seed: add the global rank to the seed, so each rank draws differently.
        deterministic: set ``torch.backends.cudnn.deterministic=True``,
            ``cudnn.benchmark=False`` and ``torch.use_deterministic_algorithms(True,
            warn_only=True)`` (ops without a deterministic version warn instead of failing).
        rank: the global rank used by ``diff_rank_seed``; None asks torch.distributed.

    Returns:
        The seed actually used (after the rank offset), to log and record.

    Raises:
        ConfigError: for a seed that is not a non-negative int.
    """
    if seed is None:
        seed = sync_random_seed()
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"randomness.seed must be a non-negative int or None, got {seed!r}")
    if diff_rank_seed:
        seed += dist.get_rank() if rank is None else rank
    seed %= _SEED_LIMIT
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by spawned workers/subprocesses
    if deterministic:
        if torch.backends.cudnn.benchmark:
            warnings.warn("randomness.deterministic=True turns off cudnn.benchmark", stacklevel=2)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # cuBLAS is only reproducible with a fixed workspace; it must be set before its first use.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def worker_init_fn(worker_id: int, num_workers: int, rank: int, seed: int | None) -> None:
    """Seed python/numpy/torch inside a DataLoader worker.

    Use as ``functools.partial(worker_init_fn, num_workers=n, rank=r, seed=s)``. The seed mixes
    the run seed, the rank and the worker id with ``torch.initial_seed()``, which the DataLoader
    draws afresh from its generator for every epoch's iterator. So ranks differ even when they
    share a seed (torch alone would give every rank the same worker streams), a worker's
    augmentations change between epochs (a fixed per-worker seed would repeat them), and a
    seeded loader generator makes it all reproducible.
    """
    mix = [worker_id, num_workers, rank, torch.initial_seed() % _SEED_LIMIT]
    if seed is not None:
        mix.append(seed % _SEED_LIMIT)
    worker_seed = int(np.random.SeedSequence(mix).generate_state(1)[0])
    random.seed(worker_seed)
    np.random.seed(worker_seed)
    torch.manual_seed(worker_seed)


def make_generator(seed: int, offset: int = 0) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed + offset`` (e.g. ``offset=epoch`` for a
    sampler's shuffle order that changes per epoch yet replays exactly on resume)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"generator seed must be an int, got {seed!r}")
    gen = torch.Generator()
    gen.manual_seed((seed + offset) % 2**63)
    return gen


def capture_rng_state() -> dict:
    """This process's RNG states (python, numpy, torch CPU, every CUDA device), plain types only.

    Returns:
        dict(python=tuple, numpy=tuple of (str, uint32 tensor (624,), int, int, float),
        torch=uint8 tensor, cuda=list of uint8 tensors (empty without CUDA)).
    """
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        # numpy arrays are not accepted by weights_only loading; a tensor is.
        "numpy": (np_name, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss),
                  float(np_gauss)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: Mapping) -> None:
    """Restore states written by :func:`capture_rng_state`.

    CUDA states are restored when CUDA is available; a different device count restores the
    devices both runs have and warns.
    """
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        n = torch.cuda.device_count()
        if n != len(cuda):
            warnings.warn(f"checkpoint has CUDA RNG states for {len(cuda)} devices, this machine has {n}",
                          stacklevel=2)
        for i, s in enumerate(cuda[:n]):
            torch.cuda.set_rng_state(s.cpu(), i)
