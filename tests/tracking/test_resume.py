"""Fetching a run for resume from an empty folder: its config, its newest complete checkpoint."""

import pytest
import torch
from mlflow import MlflowClient

from mlpose.config import load_config
from mlpose.errors import ConfigError
from mlpose.tracking import Tracker, fetch_run_for_resume, latest_checkpoint
from mlpose.tracking.tracker import LAST_CHECKPOINT_BYTES_TAG, LAST_CHECKPOINT_TAG


def save(path, epoch):
    torch.save({"meta": {"epoch": epoch}}, path)
    return path


def test_fetch_from_an_empty_folder(uri, tmp_path, monkeypatch):
    cfg = load_config("tiny", ["train_cfg.max_epochs=3"])
    tracker = Tracker.start(cfg, config_file=cfg.filename, config_name=cfg.name)
    work = tmp_path / "work"
    work.mkdir()
    for epoch in (1, 2):
        save(work / f"epoch_{epoch}.pth", epoch)
        tracker.log_checkpoint(work / f"epoch_{epoch}.pth", "last.pth")
    tracker.finish("KILLED")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    info = fetch_run_for_resume(tracker.run_id, "fetched")
    assert info.run_id == tracker.run_id and info.config_name == "tiny"
    assert info.checkpoint_artifact == "checkpoints/last.pth"
    assert info.checkpoint_path == str(elsewhere / "fetched" / "checkpoints" / "last.pth")
    assert torch.load(info.checkpoint_path)["meta"]["epoch"] == 2
    assert info.config_path == str(elsewhere / "fetched" / "config" / "resolved.py")
    assert load_config(info.config_path).to_dict() == cfg.to_dict()
    assert info.experiment_id == MlflowClient(uri).get_run(tracker.run_id).info.experiment_id


def test_latest_checkpoint_choice(uri, tmp_path):
    client = MlflowClient(uri)
    tracker = Tracker.start({}, config_name="choice")
    for name, epoch in (("epoch_9.pth", 9), ("epoch_10.pth", 10), ("last.pth", 10), ("best.pth", 4)):
        tracker.log_checkpoint(save(tmp_path / name, epoch), name)
    tracker.finish()
    run = client.get_run(tracker.run_id)
    assert run.data.tags[LAST_CHECKPOINT_TAG] == "checkpoints/last.pth"  # best.pth is never 'latest'
    assert latest_checkpoint(client, run) == "checkpoints/last.pth"
    # An interrupted overwrite of last.pth: its stored size no longer matches the tag.
    client.set_tag(tracker.run_id, LAST_CHECKPOINT_BYTES_TAG, "12")
    assert latest_checkpoint(client, client.get_run(tracker.run_id)) == "checkpoints/epoch_10.pth"
    # No tag (uploaded by other tools): last.pth, else the highest epoch number.
    client.delete_tag(tracker.run_id, LAST_CHECKPOINT_TAG)
    client.delete_tag(tracker.run_id, LAST_CHECKPOINT_BYTES_TAG)
    assert latest_checkpoint(client, client.get_run(tracker.run_id)) == "checkpoints/last.pth"

    other = Tracker.start({}, config_name="choice")
    for name in ("epoch_9.pth", "epoch_10.pth"):
        other.log_checkpoint(save(tmp_path / name, 0), name, latest=False)
    other.finish()
    assert latest_checkpoint(client, client.get_run(other.run_id)) == "checkpoints/epoch_10.pth"

    only_best = Tracker.start({}, config_name="choice")  # last.pth upload never completed
    only_best.log_checkpoint(save(tmp_path / "best.pth", 3), "best.pth")
    only_best.finish()
    assert latest_checkpoint(client, client.get_run(only_best.run_id)) == "checkpoints/best.pth"


def test_errors_are_one_clear_line(uri, tmp_path):
    with pytest.raises(ConfigError, match="not found") as err:
        fetch_run_for_resume("0123456789abcdef0123456789abcdef", tmp_path / "x")
    assert "\n" not in str(err.value)

    client = MlflowClient(uri)
    foreign = client.create_run(client.create_experiment("foreign")).info.run_id
    with pytest.raises(ConfigError, match="config/resolved.py"):
        fetch_run_for_resume(foreign, tmp_path / "x")

    early = Tracker.start({}, config_name="early")  # killed before its first checkpoint
    early.finish("KILLED")
    with pytest.raises(ConfigError, match="no checkpoint"):
        fetch_run_for_resume(early.run_id, tmp_path / "x")

    client.delete_run(early.run_id)
    with pytest.raises(ConfigError, match="deleted"):
        fetch_run_for_resume(early.run_id, tmp_path / "x")
