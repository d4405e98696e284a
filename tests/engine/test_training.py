"""End-to-end training on generated data: log line, TensorBoard, checkpoints, flags, determinism."""
import json
import re

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlpose.config import resolve_config_path
from mlpose.engine.jobs import TrainOptions, train
from mlpose.errors import ConfigError
from mlpose.runtime.checkpoint_io import load_checkpoint

LOG_LINE = re.compile(
    r"^(\d{4}/)?\d\d/\d\d \d\d:\d\d:\d\d - mlpose - INFO - Epoch\(train\) +\[(\d+)\]\[ *(\d+)/(\d+)\]  "
    r"base_lr: \S+ lr: \S+  eta: \S+  time: [\d.]+  data_time: [\d.]+  memory: \d+  "
    r"loss: [\d.]+  loss_kpt: [\d.]+  acc_pose: [\d.]+$")


@pytest.fixture(autouse=True)
def _options(tiny_opts):
    global tiny_options
    tiny_options = tiny_opts


def _train(tmp_path, data, name="run", epochs=2, **kw):
    opts = TrainOptions(work_dir=str(tmp_path / name), cfg_options=tiny_options(data, epochs, **kw.pop("cfg", {})), **kw)
    return train("tiny", opts)


def _log_dir(work_dir):
    return sorted(p for p in work_dir.iterdir() if p.is_dir() and re.fullmatch(r"\d{8}_\d{6}", p.name))[-1]


def test_train_writes_log_line_scalars_tensorboard_and_checkpoints(tmp_path, tiny_data, mlflow_env):
    result = _train(tmp_path, tiny_data)
    work = tmp_path / "run"
    log_dir = _log_dir(work)
    lines = (log_dir / f"{log_dir.name}.log").read_text().splitlines()
    train_lines = [l for l in lines if "Epoch(train)" in l]
    assert train_lines and all(LOG_LINE.match(l) for l in train_lines), train_lines[:2]
    assert any("precision fp32" in l for l in lines)
    assert any("mlflow ui --backend-store-uri" in l for l in lines)  # where to look at the run
    assert (log_dir / "curves.png").stat().st_size > 0
    assert "coco/AP" in result["metrics"]

    scalars = [json.loads(l) for l in (log_dir / "vis_data" / "scalars.json").read_text().splitlines()]
    assert {"loss", "lr", "acc_pose", "coco/AP"} <= set().union(*scalars)
    events = EventAccumulator(str(log_dir / "vis_data")).Reload()
    assert {"loss", "lr"} <= set(events.Tags()["scalars"])

    for name in ("epoch_1.pth", "epoch_2.pth", "last_checkpoint"):
        assert (work / name).exists(), name
    best = list(work.glob("best_coco_AP_epoch_*.pth"))
    assert len(best) == 1 and result["best_checkpoint"] == str(best[0])
    ckpt = load_checkpoint(work / "epoch_2.pth")  # weights_only: plain types only
    assert {"state_dict", "optimizer", "scheduler", "scaler", "state", "rng", "config", "meta"} <= set(ckpt)
    assert ckpt["state"]["epoch"] == 2 and ckpt["state"]["epoch_iter"] == 0


@pytest.mark.parametrize("drop_last", [False, True])
def test_epoch_keeps_the_partial_batch_unless_drop_last_and_logs_where_mmengine_does(tmp_path, tiny_data,
                                                                                    mlflow_env, drop_last):
    people = sum(1 for a in json.loads((tiny_data / "annotations/person_keypoints_train.json").read_text())
                 ["annotations"] if max(a["keypoints"][2::3]) > 0)
    assert people % 5, "the data must end each epoch on a partial batch of 5"
    _train(tmp_path, tiny_data, cfg={"train_dataloader.drop_last": drop_last, "train_dataloader.batch_size": 5,
                                     "tracking.enabled": False})
    per_epoch = people // 5 if drop_last else -(-people // 5)
    log_dir = _log_dir(tmp_path / "run")
    positions = [tuple(int(g) for g in LOG_LINE.match(line).group(2, 3, 4))
                 for line in (log_dir / f"{log_dir.name}.log").read_text().splitlines() if "Epoch(train)" in line]
    # MMEngine's by-epoch log line: every `interval` iterations of the epoch (interval 2), and its last
    inner = sorted({*range(2, per_epoch + 1, 2), per_epoch})
    assert positions == [(epoch, i, per_epoch) for epoch in (1, 2) for i in inner]
    assert load_checkpoint(tmp_path / "run" / "epoch_2.pth")["state"]["iteration"] == 2 * per_epoch


def test_two_deterministic_runs_give_bit_identical_weights(tmp_path, tiny_data, mlflow_env):
    _train(tmp_path, tiny_data, "a", epochs=1)
    _train(tmp_path, tiny_data, "b", epochs=1)
    a = load_checkpoint(tmp_path / "a" / "epoch_1.pth")["state_dict"]
    b = load_checkpoint(tmp_path / "b" / "epoch_1.pth")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_paramwise_freezing_leaves_tensors_bit_identical(tmp_path, tiny_data, mlflow_env):
    cfg_file = tmp_path / "frozen.py"  # custom_keys is keyed by parameter-name prefix: set it in a file
    cfg_file.write_text(
        f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n"
        "optim_wrapper = dict(optimizer=dict(weight_decay=0.01),\n"
        "    paramwise_cfg=dict(custom_keys={'backbone.layer1': dict(lr_mult=0, decay_mult=0)}))\n")
    train(str(cfg_file), TrainOptions(work_dir=str(tmp_path / "f"), cfg_options=tiny_options(tiny_data, 2)))
    e1 = load_checkpoint(tmp_path / "f" / "epoch_1.pth")["state_dict"]
    e2 = load_checkpoint(tmp_path / "f" / "epoch_2.pth")["state_dict"]
    frozen = [k for k in e1 if k.startswith("backbone.layer1") and "running" not in k and "num_batches" not in k]
    assert frozen and all(torch.equal(e1[k], e2[k]) for k in frozen)
    assert not torch.equal(e1["backbone.layer2.0.conv1.weight"], e2["backbone.layer2.0.conv1.weight"])


def test_auto_scale_lr_scales_by_total_batch(tmp_path, tiny_data, mlflow_env):
    _train(tmp_path, tiny_data, epochs=1, auto_scale_lr=True)
    groups = load_checkpoint(tmp_path / "run" / "epoch_1.pth")["optimizer"]["param_groups"]
    assert groups[0]["initial_lr"] == pytest.approx(2e-3 * 4 / 32)  # lr x (1 x 4) / base 32


@pytest.mark.parametrize("enable, lr", [(True, 2e-3 * 4 / 32), (False, 2e-3)])
def test_auto_scale_lr_enable_in_the_config_scales_as_the_flag(tmp_path, tiny_data, enable, lr):
    from mlpose.config import load_config
    from mlpose.engine.build import build_train_parts
    from mlpose.engine.context import setup_run

    cfg = load_config("tiny", tiny_options(tiny_data, 1, **{"+auto_scale_lr.enable": enable}))  # MMEngine's key
    parts = build_train_parts(setup_run(cfg, str(tmp_path), "none", amp=False), TrainOptions(no_validate=True))
    assert parts.optimizer.param_groups[0]["initial_lr"] == pytest.approx(lr)


def test_amp_runs_bfloat16_on_cpu_and_says_so(tmp_path, tiny_data, mlflow_env):
    _train(tmp_path, tiny_data, epochs=1, amp=True, no_validate=True)
    ckpt = load_checkpoint(tmp_path / "run" / "epoch_1.pth")
    assert ckpt["meta"]["precision"] == "bf16-amp"
    assert "scaler" in ckpt
    assert not list((tmp_path / "run").glob("best_*"))  # --no-validate: no metric, no best


def test_resume_by_run_id_keeps_the_runs_precision(tmp_path, tiny_data, mlflow_env):
    from mlpose.engine.jobs import resume_run

    run_id = _train(tmp_path, tiny_data, epochs=1, amp=True, no_validate=True)["run_id"]
    resume_run(run_id, ["train_cfg.max_epochs=2"], work_dir=str(tmp_path / "elsewhere"))  # no --amp given
    assert load_checkpoint(tmp_path / "elsewhere" / "epoch_2.pth")["meta"]["precision"] == "bf16-amp"


def test_cpu_training_runs_channels_last_unless_told_not_to(tmp_path, tiny_data, mlflow_env):
    def conv1(name, **cfg):
        _train(tmp_path, tiny_data, name=name, epochs=1, no_validate=True, cfg=cfg)
        return load_checkpoint(tmp_path / name / "epoch_1.pth")["state_dict"]["backbone.conv1.weight"]

    assert conv1("auto").is_contiguous(memory_format=torch.channels_last)
    nchw = conv1("off", **{"env_cfg.channels_last": False})
    assert nchw.is_contiguous() and not nchw.is_contiguous(memory_format=torch.channels_last)


def test_resume_semantics(tmp_path, tiny_data, mlflow_env):
    # --resume with nothing in the work dir starts from scratch
    _train(tmp_path, tiny_data, "r", epochs=1, resume="auto")
    first = load_checkpoint(tmp_path / "r" / "epoch_1.pth")
    # --resume (auto) continues from the latest checkpoint of the work dir
    _train(tmp_path, tiny_data, "r", epochs=2, resume="auto")
    second = load_checkpoint(tmp_path / "r" / "epoch_2.pth")
    assert second["state"]["iteration"] == 2 * first["state"]["iteration"]
    # load_from alone: weights only, training restarts at epoch 0
    _train(tmp_path, tiny_data, "w", epochs=1, cfg={"load_from": str(tmp_path / "r" / "epoch_2.pth")})
    restarted = load_checkpoint(tmp_path / "w" / "epoch_1.pth")
    assert restarted["state"]["iteration"] == first["state"]["iteration"]


def test_bad_batch_size_is_a_clear_error(tmp_path, tiny_data, mlflow_env):
    with pytest.raises(ConfigError, match="fewer than batch_size"):
        _train(tmp_path, tiny_data, cfg={"train_dataloader.batch_size": 4096})


def test_diverging_loss_stops_training_with_a_clear_error(tmp_path, tiny_data, mlflow_env):
    with pytest.raises(FloatingPointError, match="training loss is nan .*lower the learning rate"):
        _train(tmp_path, tiny_data, epochs=2, cfg={"optim_wrapper.optimizer.lr": 1e8})


@pytest.mark.parametrize("backend", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_env_cfg_compile_trains_the_compiled_forward_and_saves_plain_weights(tmp_path, tiny_data, mlflow_env, backend):
    # aot_eager: TorchDynamo and AOTAutograd as on a GPU, without inductor's C++ build (a minute
    # or more on 2 cores; the slow variant compiles with inductor, the default backend).
    import torch._dynamo

    config = tmp_path / "tiny_compiled.py"
    config.write_text(f"_base_ = [{str(resolve_config_path('tiny'))!r}]\n"
                      f"env_cfg = dict(compile=dict(backend={backend!r}))\n")
    torch._dynamo.reset()
    opts = TrainOptions(work_dir=str(tmp_path / "run"), cfg_options=tiny_options(tiny_data, 1), no_validate=True)
    train(str(config), opts)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] > 0  # the forward was compiled
    weights = load_checkpoint(tmp_path / "run" / "epoch_1.pth")["state_dict"]
    assert weights and not any("_orig_mod" in k for k in weights)  # the plain model's names
