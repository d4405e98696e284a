"""Checkpoint artifacts: hard links into a local store on the same file system, an ordinary copy
elsewhere, and the epoch files the work dir prunes pruned from the run too."""
import os
from pathlib import Path

import pytest
import torch
from mlflow import MlflowClient

from mlpose.engine.checkpoint import CheckpointManager
from mlpose.engine.checkpointer import Checkpointer
from mlpose.tracking import Tracker
from mlpose.tracking.artifact_store import local_artifact_dir


def _save(path: Path, epoch: int) -> None:
    torch.save({"epoch": epoch, "weights": torch.zeros(1000)}, path.with_suffix(".tmp"))
    os.replace(path.with_suffix(".tmp"), path)  # how the trainer saves: a new file renamed over


def test_a_checkpoint_in_a_local_store_is_a_hard_link_not_a_copy(uri, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    _save(work / "epoch_1.pth", 1)
    tracker = Tracker.start({}, config_name="link")
    tracker.log_checkpoint(work / "epoch_1.pth", "last.pth")
    assert tracker.flush(uploads=True)
    stored = Path(local_artifact_dir(MlflowClient(uri), tracker.run_id)) / "checkpoints" / "last.pth"
    assert stored.stat().st_ino == (work / "epoch_1.pth").stat().st_ino  # the same bytes on disk

    _save(work / "epoch_2.pth", 2)  # the next save replaces last.pth; epoch 1's file is pruned
    (work / "epoch_1.pth").unlink()
    tracker.log_checkpoint(work / "epoch_2.pth", "last.pth")
    tracker.finish()
    assert stored.stat().st_ino == (work / "epoch_2.pth").stat().st_ino
    assert torch.load(stored)["epoch"] == 2
    assert tracker._linker.num_linked == 2
    assert sorted(os.listdir(stored.parent)) == ["last.pth"]  # no temporary link left behind


def test_a_checkpoint_on_another_file_system_is_copied(uri, tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("needs /dev/shm on another file system than the tmp folder")
    work = shm / f"mlpose-test-{os.getpid()}"
    work.mkdir()
    try:
        _save(work / "epoch_1.pth", 1)
        tracker = Tracker.start({}, config_name="copy")
        tracker.log_checkpoint(work / "epoch_1.pth", "last.pth")
        tracker.finish()
        stored = Path(local_artifact_dir(MlflowClient(uri), tracker.run_id)) / "checkpoints" / "last.pth"
        assert torch.load(stored)["epoch"] == 1 and tracker._linker.num_linked == 0
        assert stored.stat().st_dev != (work / "epoch_1.pth").stat().st_dev
    finally:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()


class _Counter:
    """Stands in for the train state (the checkpointer reads its ``iteration`` for model steps)."""

    def __init__(self):
        self.epoch = 0

    def state_dict(self):
        return {"epoch": self.epoch, "iteration": 10 * self.epoch}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]


def test_log_checkpoints_all_keeps_only_the_epoch_files_the_work_dir_keeps(uri, tmp_path):
    manager = CheckpointManager(tmp_path / "work", interval=1, max_keep_ckpts=2)
    counter = _Counter()
    checkpointer = Checkpointer({"state": counter}, manager, lambda run_id: {}, upload="all")
    tracker = Tracker.start({}, config_name="bounded")
    for epoch in range(1, 6):
        counter.epoch = epoch
        checkpointer.save_epoch(epoch, {}, 5, tracker)
    tracker.finish()
    names = sorted(a.path for a in MlflowClient(uri).list_artifacts(tracker.run_id, "checkpoints"))
    assert names == ["checkpoints/epoch_4.pth", "checkpoints/epoch_5.pth", "checkpoints/last.pth"]
    assert sorted(p.name for p in manager.epoch_files()) == ["epoch_4.pth", "epoch_5.pth"]
