import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as tdist
from torch import nn

from mlpose.engine.checkpoint import (CheckpointManager, capture_rng_state, infer_rule, load_checkpoint,
                                      restore_rng_state, save_checkpoint, unwrap_model)
from mlpose.registry import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_save_load_roundtrip_weights_only(tmp_path):
    state = {"model": nn.Linear(2, 3).state_dict(), "epoch": 3, "meta": {"cfg": "x = 1", "names": ["a"]}}
    path = save_checkpoint(state, tmp_path / "sub" / "a.pth")
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and loaded["meta"] == state["meta"]
    assert torch.equal(loaded["model"]["weight"], state["model"]["weight"])
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.pth"]  # no temp file left


def test_load_missing_and_corrupt_files_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pth")
    good = save_checkpoint({"w": torch.randn(1000)}, tmp_path / "good.pth")
    data = Path(good).read_bytes()
    (tmp_path / "half.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ConfigError, match="half.pth.*unreadable"):
        load_checkpoint(tmp_path / "half.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(ConfigError, match="unreadable"):
        load_checkpoint(tmp_path / "text.pth")


class _Custom:
    pass


def test_weights_only_refusal_is_explained(tmp_path):
    torch.save({"obj": _Custom()}, tmp_path / "obj.pth")
    with pytest.raises(ConfigError, match="weights_only"):
        load_checkpoint(tmp_path / "obj.pth")
    assert isinstance(load_checkpoint(tmp_path / "obj.pth", weights_only=False)["obj"], _Custom)


_KILL_SCRIPT = textwrap.dedent("""
    import sys, torch
    from mlpose.engine.checkpoint import save_checkpoint
    state = {"marker": 2, "big": torch.ones(16, 1024, 1024)}  # 64 MB
    for _ in range(200):
        save_checkpoint(state, sys.argv[1])
""")


def test_killed_save_never_corrupts_previous_checkpoint(tmp_path):
    target = tmp_path / "epoch_1.pth"
    save_checkpoint({"marker": 1}, target)
    proc = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT, str(target)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 60
    partial = []
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            partial = [p for p in tmp_path.iterdir() if p.name != target.name and p.stat().st_size > 2**20]
            if partial:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
    finally:
        proc.kill()
        proc.wait()
    assert partial, "the writer was never caught mid-save"
    assert proc.returncode == -signal.SIGKILL
    # The name only ever holds a complete checkpoint: the old one or a finished new one.
    state = load_checkpoint(target)
    assert state["marker"] in (1, 2)
    if state["marker"] == 2:
        assert state["big"].shape == (16, 1024, 1024) and bool((state["big"] == 1).all())
    leftovers = [p for p in tmp_path.iterdir() if p.name != target.name]
    assert leftovers and all(p.name.startswith(".epoch_1.pth.") for p in leftovers)
    CheckpointManager(tmp_path)  # clears stale temp files
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_unwrap_model():
    model = nn.Linear(2, 2)
    assert unwrap_model(model) is model
    assert unwrap_model(nn.DataParallel(model)) is model
    assert unwrap_model(torch.compile(nn.DataParallel(model))) is model
    tdist.init_process_group("gloo", init_method="tcp://127.0.0.1:0", rank=0, world_size=1)
    try:
        assert unwrap_model(torch.compile(nn.parallel.DistributedDataParallel(model))) is model
    finally:
        tdist.destroy_process_group()


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
