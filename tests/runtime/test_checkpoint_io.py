import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from mlpose.engine.checkpoint import CheckpointManager
from mlpose.errors import ConfigError
from mlpose.runtime.checkpoint_io import load_checkpoint, save_checkpoint

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
    with pytest.raises(ConfigError, match="text.pth' is a text file, not a PyTorch checkpoint"):
        load_checkpoint(tmp_path / "text.pth")


class _Custom:
    pass


def test_an_object_of_another_package_is_refused_with_its_name(tmp_path):
    torch.save({"obj": _Custom()}, tmp_path / "obj.pth")
    with pytest.raises(ConfigError, match=r"obj.pth' refers to \S*test_checkpoint_io._Custom, which no ") as err:
        load_checkpoint(tmp_path / "obj.pth")
    assert "\n" not in str(err.value) and "weights_only=False" not in str(err.value)


_KILL_SCRIPT = textwrap.dedent("""
    import sys, torch
    from mlpose.runtime.checkpoint_io import save_checkpoint
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
