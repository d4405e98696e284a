from pathlib import Path

import pytest

from mlpose.engine.checkpoint import CheckpointManager, infer_rule
from mlpose.errors import ConfigError
from mlpose.runtime.checkpoint_io import load_checkpoint


def test_manager_interval_pointer_and_pruning(tmp_path):
    mgr = CheckpointManager(tmp_path, interval=2, max_keep_ckpts=2)
    assert mgr.latest() is None
    assert [e for e in range(1, 8) if mgr.should_save(e, max_epochs=7)] == [2, 4, 6, 7]
    for epoch in (2, 4, 6, 7):
        mgr.save_epoch({"epoch": epoch}, epoch)
    assert sorted(p.name for p in tmp_path.glob("epoch_*.pth")) == ["epoch_6.pth", "epoch_7.pth"]
    assert (tmp_path / "last_checkpoint").read_text() == str((tmp_path / "epoch_7.pth").resolve())
    assert load_checkpoint(mgr.latest())["epoch"] == 7
    (tmp_path / "last_checkpoint").unlink()  # e.g. killed between save and pointer update
    assert Path(CheckpointManager(tmp_path).latest()).name == "epoch_7.pth"
    mgr.save(lambda: {"epoch": 7, "iter": 3}, "epoch_7_iter_3.pth")
    assert Path(mgr.latest()).name == "epoch_7_iter_3.pth"


def test_manager_best_checkpoint(tmp_path):
    mgr = CheckpointManager(tmp_path, save_best="coco/AP", max_keep_ckpts=1)
    calls = []

    def make_state():
        calls.append(1)
        return {"best": mgr.state_dict()}

    for epoch, ap in enumerate([0.5, 0.7, 0.6], start=1):
        mgr.save_epoch({"epoch": epoch}, epoch)
        mgr.update_best({"coco/AP": ap, "coco/AR": 0.1}, epoch, make_state)
    assert len(calls) == 2  # the state is built only when a best file is written
    assert sorted(p.name for p in tmp_path.glob("*.pth")) == ["best_coco_AP_epoch_2.pth", "epoch_3.pth"]
    saved = load_checkpoint(tmp_path / "best_coco_AP_epoch_2.pth")["best"]
    assert saved["best"]["coco/AP"]["score"] == pytest.approx(0.7)  # state made after the update
    resumed = CheckpointManager(tmp_path, save_best="coco/AP")
    resumed.load_state_dict(saved)
    assert resumed.update_best({"coco/AP": 0.65}, 4, {}) == []
    assert resumed.update_best({"coco/AP": 0.8}, 5, {}) != []
    assert sorted(p.name for p in tmp_path.glob("best_*")) == ["best_coco_AP_epoch_5.pth"]
    with pytest.raises(ConfigError, match="not among the metrics"):
        resumed.update_best({"coco/AR": 0.1}, 6, {})


def test_manager_less_rule_and_auto(tmp_path):
    mgr = CheckpointManager(tmp_path, save_best=["val/loss", "PCK"], rule=None)
    mgr.update_best({"val/loss": 1.0, "PCK": 0.5}, 1, {})
    mgr.update_best({"val/loss": 2.0, "PCK": 0.6}, 2, {})
    assert sorted(p.name for p in tmp_path.glob("best_*")) == ["best_PCK_epoch_2.pth", "best_val_loss_epoch_1.pth"]
    auto = CheckpointManager(tmp_path / "auto", save_best="auto")
    auto.update_best({"coco/AP": 0.3, "coco/AR": 0.4}, 1, {})
    assert [p.name for p in (tmp_path / "auto").glob("best_*")] == ["best_coco_AP_epoch_1.pth"]


def test_rule_inference_and_bad_settings(tmp_path):
    assert infer_rule("coco/AP") == "greater" and infer_rule("aic/AR") == "greater"
    assert infer_rule("AUC") == "greater" and infer_rule("acc_pose") == "greater"
    assert infer_rule("EPE") == "less" and infer_rule("train/loss") == "less"
    with pytest.raises(ConfigError, match="rule='greater' or 'less'"):
        CheckpointManager(tmp_path, save_best="coco/stuff")
    assert CheckpointManager(tmp_path, save_best="coco/stuff", rule="less")
    with pytest.raises(ConfigError, match="rule"):
        CheckpointManager(tmp_path, save_best="coco/AP", rule="bigger")
    with pytest.raises(ConfigError, match="max_keep_ckpts"):
        CheckpointManager(tmp_path, max_keep_ckpts=0)


def test_a_stop_signals_iter_checkpoint_goes_once_a_later_epoch_file_exists(tmp_path):
    manager = CheckpointManager(tmp_path, interval=1)
    manager.save({"state": 1}, "iter_7.pth")  # what a SIGINT at iteration 7 leaves
    assert manager.latest() == str((tmp_path / "iter_7.pth").resolve())
    manager.save_epoch({"state": 2}, 3)
    assert not (tmp_path / "iter_7.pth").exists() and (tmp_path / "epoch_3.pth").exists()
    assert manager.latest() == str((tmp_path / "epoch_3.pth").resolve())
