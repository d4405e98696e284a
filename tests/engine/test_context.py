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


def test_a_job_that_fails_before_it_starts_leaves_no_folder(tmp_path):
    work = tmp_path / "new" / "run"
    ctx = setup_run(load_config("tiny"), str(work), "none", amp=False, lock=True, command=["mlpose", "train", "tiny"])
    assert ctx.log_dir.parent == work and (ctx.log_dir / "tiny.py").is_file()
    with pytest.raises(ValueError), ctx.job():
        raise ValueError("a bad value found while building")
    assert not (tmp_path / "new").exists()  # log folder, lock file and the work dir it made: gone


def test_a_started_job_keeps_its_log_and_frees_the_work_dir(tmp_path):
    from mlpose.runtime.worklock import try_lock_work_dir

    ctx = setup_run(load_config("tiny"), str(tmp_path), "none", amp=False, lock=True)
    with pytest.raises(RuntimeError), ctx.job():
        ctx.started = True  # what tracked() sets: the run exists and will say why it failed
        raise RuntimeError("diverged")
    assert ctx.log_dir.is_dir()
    free = try_lock_work_dir(tmp_path)
    assert free is not None and free is not ctx.lock  # released: a fresh lock, not the job's
    free.release()
    again = setup_run(load_config("tiny"), str(tmp_path), "none", amp=False, lock=True)
    assert again.log_dir != ctx.log_dir  # a new folder even within the same second
    with again.job():
        pass


def test_a_resume_of_an_unknown_run_leaves_no_folder(mlflow_env, tmp_path):
    from mlpose.engine.jobs import resume_run
    from mlpose.errors import ConfigError

    with pytest.raises(ConfigError, match="cannot resume: MLflow run '0123456789abcdef' not found"):
        resume_run("0123456789abcdef", [])
    assert not (tmp_path / "work_dirs").exists()


@pytest.mark.parametrize("level", ["WARNING", "DEBUG"])
def test_log_level_sets_the_run_loggers_level(tmp_path, level):
    import logging

    ctx = setup_run(load_config("tiny", [f"log_level={level}"]), str(tmp_path), "none", amp=False)
    assert ctx.logger.level == getattr(logging, level)
    setup_run(load_config("tiny"), str(tmp_path), "none", amp=False)  # later jobs in this process: INFO again


@pytest.mark.parametrize("find_unused", [False, True])
def test_find_unused_parameters_reaches_ddp(tmp_path, find_unused):
    """MMEngine's top-level key: DDP then tolerates parameters a step does not use (frozen branches)."""
    import dataclasses

    import torch.distributed as dist

    from mlpose.engine.build import build_model

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        cfg = load_config("tiny", [f"+find_unused_parameters={find_unused}", "model.backbone.base_channels=8",
                                   "model.head.in_channels=64"])
        ctx = dataclasses.replace(setup_run(cfg, str(tmp_path), "none", amp=False), world_size=2)
        model, ddp_model = build_model(ctx)
        assert isinstance(ddp_model, torch.nn.parallel.DistributedDataParallel)
        assert ddp_model.find_unused_parameters is find_unused
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("native", [False, True])
def test_amp_on_a_cpu_without_native_bf16_is_warned_about(tmp_path, monkeypatch, native):
    # without AVX-512, bf16 autocast sends convolutions to ATen's slow reference kernels:
    # RTMPose-t trained 9x slower per step than in fp32 on an AVX2-only EPYC, with no word said
    monkeypatch.setattr("mlpose.runtime.launch.cpu_has_native_bf16", lambda: native)
    ctx = setup_run(load_config("tiny"), str(tmp_path), "none", amp=True)
    log = (ctx.log_dir / f"{ctx.log_dir.name}.log").read_text()
    assert ("no bfloat16 kernels" in log) is (not native)
    ctx = setup_run(load_config("tiny"), str(tmp_path / "fp32"), "none", amp=False)
    assert "no bfloat16 kernels" not in (ctx.log_dir / f"{ctx.log_dir.name}.log").read_text()
