"""Exact resume: a run killed (SIGKILL) or stopped (SIGTERM) mid-epoch and resumed ends with
bit-identical weights and the same logged losses as an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from mlpose.runtime.checkpoint_io import load_checkpoint

EPOCHS = 3


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_data, tiny_opts):
    """The uninterrupted run, shared by the tests of this module."""
    cwd = tmp_path_factory.mktemp("ref")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}
    proc = _cli(["train", "tiny", "--work-dir", "ref", "--cfg-options", *tiny_opts(tiny_data, EPOCHS)], cwd, env)
    assert proc.returncode == 0, proc.output[-3000:]
    return cwd / "ref"


def _cli(args, cwd, env, until=None, sig=None):
    """Run mlpose; with ``until``, send ``sig`` once a stdout line contains it."""
    proc = subprocess.Popen([sys.executable, "-m", "mlpose.cli", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = []
    for line in proc.stdout:
        out.append(line)
        if until and until in line:
            proc.send_signal(sig)
            until = None
    proc.wait(timeout=300)
    proc.output = "".join(out)
    return proc


def _losses(work_dir):
    """step -> loss from every session's scalars.json (a later session overrides earlier steps)."""
    out = {}
    for path in sorted(work_dir.glob("*/vis_data/scalars.json")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if "loss" in row:
                out[row["step"]] = row["loss"]
    return out


def _assert_same_as_reference(work, reference):
    ref = load_checkpoint(reference / f"epoch_{EPOCHS}.pth")
    got = load_checkpoint(work / f"epoch_{EPOCHS}.pth")
    assert got["state"] == ref["state"]
    assert all(torch.equal(got["state_dict"][k], ref["state_dict"][k]) for k in ref["state_dict"])
    assert len(_losses(reference)) >= EPOCHS and _losses(work) == _losses(reference)


# SIGKILL mid-epoch is in CI through the EMA + pipeline-switch test below (the same check, more state)
@pytest.mark.parametrize("sig", [pytest.param(signal.SIGKILL, marks=pytest.mark.slow), signal.SIGTERM],
                         ids=["sigkill", "sigterm"])
def test_interrupted_mid_epoch_then_resumed_is_exact(sig, tmp_path, tiny_data, tiny_opts, reference):
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}
    opts = tiny_opts(tiny_data, EPOCHS)
    first = _cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *opts], tmp_path, env,
                 until="Epoch(train) [2][4/", sig=sig)
    work = tmp_path / "run"
    assert not (work / f"epoch_{EPOCHS}.pth").exists(), first.output[-2000:]
    if sig == signal.SIGTERM:  # graceful: finishes the step, checkpoints mid-epoch, exits 130
        assert first.returncode == 130, first.output[-2000:]
        pointer = (work / "last_checkpoint").read_text().strip()
        assert "iter_" in pointer
        assert load_checkpoint(pointer)["state"]["epoch_iter"] > 0
    else:
        assert first.returncode == -signal.SIGKILL
        assert load_checkpoint(work / "epoch_1.pth")["state"]["epoch"] == 1  # last good state intact
    second = _cli(["train", "tiny", "--work-dir", "run", "--resume", "--cfg-options", *opts], tmp_path, env)
    assert second.returncode == 0, second.output[-3000:]
    assert "resumed from" in second.output
    _assert_same_as_reference(work, reference)


RTM_HOOKS = """
_base_ = ['{experiments}/tiny.py']
codec = dict(type='UDPHeatmap', input_size=(96, 128), heatmap_size=(48, 64), sigma=2)
stage2 = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
          dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
          dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, update_buffers=True, priority=49),
    dict(type='mmdet.PipelineSwitchHook', switch_epoch=2, switch_pipeline=stage2)]
"""


@pytest.fixture(scope="module")
def rtm_config(tmp_path_factory):
    from mlpose.config import resolve_config_path

    path = tmp_path_factory.mktemp("cfg") / "tiny_ema_switch.py"
    path.write_text(RTM_HOOKS.format(experiments=resolve_config_path("tiny").parent))
    return str(path)


def test_ema_and_pipeline_switch_resume_exactly_after_sigkill(tmp_path, tiny_data, tiny_opts, rtm_config):
    """RTMPose's recipe: the EMA (validated and saved as the model) and the stage-2 pipeline from
    epoch 3 continue exactly through a SIGKILL in epoch 2 and a resume."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}
    opts = tiny_opts(tiny_data, EPOCHS)
    ref = _cli(["train", rtm_config, "--work-dir", "ref", "--cfg-options", *opts], tmp_path, env)
    assert ref.returncode == 0, ref.output[-3000:]
    assert ref.output.count("switch_pipeline from epoch 3") == 1
    first = _cli(["train", rtm_config, "--work-dir", "run", "--cfg-options", *opts], tmp_path, env,
                 until="Epoch(train) [2][4/", sig=signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL
    second = _cli(["train", rtm_config, "--work-dir", "run", "--resume", "--cfg-options", *opts], tmp_path, env)
    assert second.returncode == 0, second.output[-3000:]
    _assert_same_as_reference(tmp_path / "run", tmp_path / "ref")
    ckpt = load_checkpoint(tmp_path / "run" / f"epoch_{EPOCHS}.pth")
    raw = load_checkpoint(tmp_path / "ref" / f"epoch_{EPOCHS}.pth")["ema"]
    assert torch.equal(ckpt["ema"]["raw"]["head.final_layer.weight"], raw["raw"]["head.final_layer.weight"])
    assert ckpt["ema"]["steps"] == raw["steps"] > 0
    # the file's model is the average, not the trained weights
    assert not torch.equal(ckpt["state_dict"]["head.final_layer.weight"], ckpt["ema"]["raw"]["head.final_layer.weight"])
