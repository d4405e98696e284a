"""The training loader's epoch: MMEngine's default keeps the last, partial batch."""
import pytest

from mlpose.config import load_config
from mlpose.datasets import pose_collate
from mlpose.datasets.loader import build_dataloader, iters_per_epoch


@pytest.mark.parametrize("drop_last", [None, False, True])
def test_training_epoch_keeps_the_partial_batch_unless_drop_last(tiny_data, drop_last):
    cfg = load_config("tiny", [f"train_dataloader.dataset.data_root={tiny_data}"]).train_dataloader
    cfg.pop("drop_last")  # the demo recipe asks for full batches; an MMPose file leaves the key unset
    if drop_last is not None:
        cfg.drop_last = drop_last
    cfg.update(batch_size=5, num_workers=0)
    loader = build_dataloader(cfg, "train_dataloader", seed=0, rank=0, world_size=1, train=True,
                              collate_fn=pose_collate)
    loader.sampler.set_epoch(0)
    sizes = [len(batch["meta"]) for batch in loader]
    people = loader.sampler.num_samples
    assert people % 5, "the data must end the epoch on a partial batch"
    expected = [5] * (people // 5) + ([] if drop_last else [people % 5])
    assert sizes == expected and iters_per_epoch(loader) == len(expected)
