"""Launchers: SLURM node-list parsing, and tools/slurm_train.sh driving real gloo processes."""
import os
import stat
import sys
from pathlib import Path

import pytest

from mlpose.errors import ConfigError
from mlpose.runtime.launch import init_distributed, slurm_master_addr
from mlpose.stack import free_port

TOOLS = Path(__file__).resolve().parents[2] / "tools"

# A stand-in for SLURM's srun (no SLURM here): records its arguments, then starts --ntasks
# copies of the command with the environment srun gives each task.
FAKE_SRUN = """#!/usr/bin/env python3
import os, subprocess, sys
args = sys.argv[1:]
open(os.environ["SRUN_LOG"], "w").write(" ".join(args))
ntasks = int(next(a.split("=")[1] for a in args if a.startswith("--ntasks=")))
cmd = args[args.index(os.environ["PYTHON"]):]
procs = [subprocess.Popen(cmd, env={**os.environ, "SLURM_PROCID": str(r), "SLURM_NTASKS": str(ntasks),
         "SLURM_LOCALID": str(r), "SLURM_NODELIST": "localhost"}) for r in range(ntasks)]
sys.exit(max(p.wait() for p in procs))
"""


@pytest.mark.parametrize("nodelist, host", [
    ("node01", "node01"), ("gpu[03-07]", "gpu03"), ("gpu[12,15-16],cpu1", "gpu12"), ("a,b", "a"),
])
def test_slurm_master_addr(nodelist, host):
    assert slurm_master_addr(nodelist) == host


def test_missing_launcher_environment_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("SLURM_PROCID", raising=False)
    with pytest.raises(ConfigError, match="SLURM_PROCID is not set"):
        init_distributed("slurm")


def test_slurm_train_script_runs_two_real_processes(tmp_path, tiny_data, tiny_opts, mlflow_env):
    srun = tmp_path / "bin" / "srun"
    srun.parent.mkdir()
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{srun.parent}:{os.environ['PATH']}", "SRUN_LOG": str(tmp_path / "srun.log"),
           "GPUS": "2", "GPUS_PER_NODE": "2", "CPUS_PER_TASK": "1", "SRUN_ARGS": "--quiet",
           "PYTHON": sys.executable, "MASTER_PORT": str(free_port()), "OMP_NUM_THREADS": "1"}
    import subprocess

    opts = tiny_opts(tiny_data, 1, **{"train_dataloader.batch_size": 2})
    proc = subprocess.run(["bash", str(TOOLS / "slurm_train.sh"), "dev", "pose", "tiny", str(tmp_path / "w"),
                           "--no-validate", "--cfg-options", *opts], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    srun_args = (tmp_path / "srun.log").read_text()
    for expected in ("-p dev", "--job-name=pose", "--gres=gpu:2", "--ntasks=2", "--cpus-per-task=1", "--quiet",
                     "--launcher slurm"):
        assert expected in srun_args
    assert (tmp_path / "w" / "epoch_1.pth").exists()
    assert "world size 2" in proc.stdout
