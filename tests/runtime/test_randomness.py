import functools
import os
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from mlpose.errors import ConfigError
from mlpose.runtime.checkpoint_io import load_checkpoint, save_checkpoint
from mlpose.runtime.randomness import (capture_rng_state, make_generator, restore_rng_state, set_random_seed,
                                      worker_init_fn)


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


@pytest.fixture
def restore_determinism():
    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
             torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    env = os.environ.get("PYTHONHASHSEED")
    yield
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags[:2]
    torch.use_deterministic_algorithms(flags[2], warn_only=flags[3])
    if env is None:
        os.environ.pop("PYTHONHASHSEED", None)
    else:
        os.environ["PYTHONHASHSEED"] = env


def test_fixed_seed_reproduces_all_generators(restore_determinism):
    assert set_random_seed(2023) == 2023
    first = _draw()
    set_random_seed(2023)
    assert _draw() == first
    set_random_seed(2024)
    assert _draw() != first
    assert os.environ["PYTHONHASHSEED"] == "2024"


def test_diff_rank_seed_adds_rank(restore_determinism):
    assert set_random_seed(2023, diff_rank_seed=True, rank=3) == 2026
    rank3 = _draw()
    set_random_seed(2026)
    assert _draw() == rank3
    assert set_random_seed(2023, diff_rank_seed=False, rank=3) == 2023
    assert set_random_seed(2023, diff_rank_seed=True) == 2023  # rank 0 without a process group


def test_none_seed_draws_a_usable_seed(restore_determinism):
    a, b = set_random_seed(None), set_random_seed(None)
    assert isinstance(a, int) and 0 <= a < 2**31 and a != b


def test_deterministic_flags(restore_determinism):
    torch.backends.cudnn.benchmark = True
    with pytest.warns(UserWarning, match="cudnn.benchmark"):
        set_random_seed(0, deterministic=True)
    assert torch.backends.cudnn.deterministic is True and torch.backends.cudnn.benchmark is False
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True])
def test_bad_seed(seed):
    with pytest.raises(ConfigError, match="randomness.seed"):
        set_random_seed(seed)


class _Noise(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return torch.tensor([random.random(), np.random.rand(), torch.rand(1).item()])


def _epoch(loader):
    return torch.cat(list(loader))


def test_worker_init_fn_reproducible_and_fresh_per_epoch():
    def loader(seed, rank=0):
        return DataLoader(_Noise(), batch_size=2, num_workers=2, generator=make_generator(seed),
                          worker_init_fn=functools.partial(worker_init_fn, num_workers=2, rank=rank, seed=seed))

    a, b = loader(0), loader(0)
    a1, a2 = _epoch(a), _epoch(a)
    assert torch.equal(a1, _epoch(b)) and torch.equal(a2, _epoch(b))  # same seed: same stream
    assert not torch.equal(a1, a2)  # each epoch draws new augmentation
    # columns: python, numpy, torch: each differs between workers and between epochs
    for col in range(3):
        assert not torch.equal(a1[0:2, col], a1[2:4, col]), col
        assert not torch.equal(a1[:, col], a2[:, col]), col
    # ranks share the loader seed (diff_rank_seed=False) yet must not draw the same augmentation
    rank1 = _epoch(loader(0, rank=1))
    for col in range(3):
        assert not torch.equal(a1[:, col], rank1[:, col]), col


def test_make_generator():
    g1, g2 = make_generator(5, offset=2), make_generator(7)
    assert torch.equal(torch.randperm(10, generator=g1), torch.randperm(10, generator=g2))
    assert not torch.equal(torch.randperm(10, generator=make_generator(5, 3)),
                           torch.randperm(10, generator=make_generator(5, 2)))


def test_rng_state_roundtrip_through_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached gaussian in numpy's state
    save_checkpoint({"rng": capture_rng_state()}, tmp_path / "rng.pth")
    expected = (random.random(), np.random.rand(3).tolist(), np.random.standard_normal(), torch.rand(3))
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    restore_rng_state(load_checkpoint(tmp_path / "rng.pth")["rng"])
    got = (random.random(), np.random.rand(3).tolist(), np.random.standard_normal(), torch.rand(3))
    assert got[:3] == expected[:3]
    assert torch.equal(got[3], expected[3])
