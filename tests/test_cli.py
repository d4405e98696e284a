"""The command line: help texts, the seed's flags, tools/ wrappers, one-line errors."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlpose.cli import cli
from mlpose.config.options import spread_cfg_options

ROOT = Path(__file__).resolve().parents[1]
SEED_TRAIN_FLAGS = ["--work-dir", "--resume", "--amp", "--no-validate", "--auto-scale-lr", "--cfg-options",
                    "--show-dir", "--show", "--interval", "--wait-time", "--launcher"]


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_top_level_help_lists_every_command():
    out = run("--help").output
    for command in ("train", "test", "resume", "sweep", "evaluate", "config", "data", "runs", "compare", "server",
                    "infer", "export", "sync", "zoo"):
        assert f"  {command} " in out


def test_sync_of_a_work_dir_without_a_journal_says_nothing_is_pending(tmp_path):
    result = run("sync", str(tmp_path))
    assert result.exit_code == 0 and f"nothing pending in {tmp_path}" in result.output


def test_train_and_test_accept_the_seed_flags():
    train_help = run("train", "--help").output
    assert all(flag in train_help for flag in SEED_TRAIN_FLAGS)
    assert "none|pytorch|slurm|mpi" in train_help
    test_help = run("test", "--help").output
    for flag in ("CHECKPOINT", "--out", "--dump", "--work-dir", "--cfg-options", "--show-dir", "--launcher"):
        assert flag in test_help


def test_infer_and_export_help_say_what_they_take():
    infer_help = " ".join(run("infer", "--help").output.split())
    assert "No person detector is bundled" in infer_help
    for flag in ("INPUT...", "--model", "--boxes", "--whole-image", "--out", "--vis-dir", "--batch-size", "--every",
                 "--cfg-options", "models:/NAME@ALIAS"):
        assert flag in infer_help
    export_help = " ".join(run("export", "--help").output.split())
    assert "[onnx|torchscript]" in export_help and "within 1e-4" in export_help


def test_cfg_options_take_several_pairs_after_one_flag():
    argv = ["train", "tiny", "--cfg-options", "a=1", "b.c=x,y", "--amp"]
    assert spread_cfg_options(argv) == ["train", "tiny", "--cfg-options", "a=1", "--cfg-options", "b.c=x,y", "--amp"]


def test_config_show_json_is_machine_readable():
    result = run("config", "show", "tiny", "--format", "json", "--cfg-options", "train_cfg.max_epochs=3")
    assert result.exit_code == 0, result.output
    cfg = json.loads(result.output)
    assert cfg["train_cfg"]["max_epochs"] == 3
    assert cfg["codec"]["input_size"] == [96, 128]  # tuples become lists


@pytest.mark.parametrize("args, message", [
    (["config", "show", "no_such_config"], "config 'no_such_config' not found"),
    (["config", "show", "tiny", "--cfg-options", "train_cfg.max_epoch=3"], "does not exist"),
    (["config", "show", "tiny", "--cfg-options", "optim_wrapper.optimizer.lr=[1,2"], "unbalanced brackets"),
    (["train", "no_such_config"], "config 'no_such_config' not found"),
    (["infer", "a.jpg", "-m", "m.pth", "--boxes", "d.json", "--whole-image"], "either --boxes DETECTIONS.json or --whole-image"),
    (["infer", "a.jpg", "-m", "/no/such/model.pth"], "checkpoint '/no/such/model.pth' does not exist"),
    (["export", "/no/such/model.pth", "--format", "onnx", "--out", "m.onnx"], "does not exist"),
    (["zoo", "check", "no_such_*.py"], "mlpose zoo check: 'no_such_*.py' matches no config file (*.py)"),
])
def test_user_errors_exit_2_with_one_line(args, message):
    proc = subprocess.run([sys.executable, "-m", "mlpose.cli", *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_tools_wrappers_are_the_same_commands():
    for script, command in (("train.py", "train"), ("test.py", "test")):
        proc = subprocess.run([sys.executable, str(ROOT / "tools" / script), "--help"], capture_output=True, text=True)
        assert proc.returncode == 0
        flags = lambda text: sorted(set(re.findall(r"--[a-z][a-z-]+", text)))  # noqa: E731
        assert flags(proc.stdout) == flags(run(command, "--help").output)
        assert f"{command.capitalize()} " in proc.stdout


def test_resume_flag_takes_an_optional_path():
    command = cli.commands["train"]
    assert command.make_context("train", ["tiny", "--resume"]).params["resume"] == "auto"
    assert command.make_context("train", ["tiny", "--resume", "x.pth"]).params["resume"] == "x.pth"
    assert command.make_context("train", ["tiny"]).params["resume"] is None


def test_zoo_check_exits_1_when_a_file_fails(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("_base_ = ['tiny.py']\n")  # a base that is not there
    result = run("zoo", "check", str(bad))
    assert result.exit_code == 1
    assert f"bad.py: {bad}: _base_ file 'tiny.py' not found" not in result.output  # the row names the file once
    assert result.output.splitlines()[-2].startswith("bad.py: _base_ file 'tiny.py' not found")
    assert result.output.splitlines()[-1] == "0 of 1 files load, build, run forward"
