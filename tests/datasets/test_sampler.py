"""The resumable sampler and the seeded dataset: what makes a resumed run see the same samples
with the same augmentation as an uninterrupted one."""
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from mlpose.datasets.loader import SeededDataset
from mlpose.datasets.sampler import EpochSampler


def test_ranks_split_one_epoch_with_padding_and_agree_on_the_order():
    ranks = [EpochSampler(10, shuffle=True, seed=3, rank=r, world_size=3) for r in range(3)]
    for s in ranks:
        s.set_epoch(2)
    shares = [s.indices() for s in ranks]
    assert [len(x) for x in shares] == [4, 4, 4] and all(len(s) == 4 for s in ranks)  # ceil(10 / 3), padded
    seen = [i for share in shares for i in share]
    assert sorted(set(seen)) == list(range(10)) and len(seen) == 12  # every sample, two repeats
    again = EpochSampler(10, shuffle=True, seed=3, rank=1, world_size=3)
    again.set_epoch(2)
    assert again.indices() == shares[1]  # a rank computes its share alone, deterministically


def test_drop_last_shares_are_equal_and_shuffle_changes_per_epoch():
    s = EpochSampler(10, shuffle=True, seed=0, rank=0, world_size=3, drop_last=True)
    assert s.num_samples == 3
    orders = []
    for epoch in range(3):
        s.set_epoch(epoch)
        orders.append(s.indices())
    assert len({tuple(o) for o in orders}) == 3
    plain = EpochSampler(5, shuffle=False, seed=0)
    assert list(plain) == [(0, i) for i in range(5)]


def test_starting_mid_epoch_yields_the_rest_of_the_same_order():
    full = EpochSampler(12, shuffle=True, seed=7)
    full.set_epoch(4)
    whole = list(full)
    resumed = EpochSampler(12, shuffle=True, seed=7)
    resumed.set_epoch(4, start=5)
    assert list(resumed) == whole[5:] and len(resumed) == 7
    assert all(key[0] == 4 for key in whole)  # keys carry the epoch for SeededDataset


class _Noise(Dataset):
    """Returns what the RNGs give: the sample's 'augmentation'."""

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return (i, random.random(), float(np.random.rand()), float(torch.rand(1)))


def test_seeded_samples_do_not_depend_on_workers_or_order_and_leave_the_main_rngs_alone():
    ds = SeededDataset(_Noise(), seed=11)
    random.seed(0)
    before = random.random()
    random.seed(0)
    direct = [ds[(1, i)] for i in reversed(range(8))][::-1]
    assert random.random() == before  # the main process's stream is untouched
    loader = DataLoader(ds, batch_size=None, sampler=[(1, i) for i in range(8)], num_workers=2)
    with_workers = [tuple(float(v) for v in item) for item in loader]
    assert with_workers == [tuple(float(v) for v in item) for item in direct]
    assert ds[(1, 3)] == ds[(1, 3)] and ds[(1, 3)] != ds[(2, 3)]  # a function of (seed, epoch, index)
