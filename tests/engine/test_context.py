"""setup_run applies the config's GPU switches: cudnn.benchmark and torch.compile's options."""
import pytest
import torch

from mlpose.config import load_config
from mlpose.engine.context import setup_run


@pytest.fixture
def restore_cudnn():
    before = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    yield
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before
    torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("deterministic, expected", [(False, True), (True, False)])
def test_cudnn_benchmark_follows_env_cfg_unless_deterministic(tmp_path, restore_cudnn, deterministic, expected):
    torch.backends.cudnn.benchmark = False
    cfg = load_config("tiny", ["env_cfg.cudnn_benchmark=True", f"randomness.deterministic={deterministic}"])
    setup_run(cfg, str(tmp_path), "none", amp=False)
    assert torch.backends.cudnn.benchmark is expected


def test_compile_options(tmp_path):
    ctx = setup_run(load_config("tiny"), str(tmp_path), "none", amp=False)
    assert ctx.compile_options() is None
    ctx.cfg.env_cfg.compile = True
    assert ctx.compile_options() == {}
    ctx.cfg.env_cfg.compile = dict(mode="max-autotune")
    assert ctx.compile_options() == {"mode": "max-autotune"}
