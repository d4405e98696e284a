"""The checkpoint table: what a file holds, that save and restore walk the same entries, and that
checkpoints written by earlier mlpose versions still resume exactly."""
from pathlib import Path

import pytest
import torch

from mlpose.datasets.synth import generate
from mlpose.engine.jobs import TrainOptions, train
from mlpose.errors import ConfigError
from mlpose.runtime.checkpoint_io import load_checkpoint, save_checkpoint

#: Written by mlpose 0.1.0 (commit 30790e5, before the checkpoint table), single-threaded, with
#: ``train("tiny", TrainOptions(cfg_options=opts(1)))`` on the ``data`` below: epoch 1 of 2.
OLD_EPOCH_1 = Path(__file__).parent / "data" / "tiny-w8_epoch_1_v0.1.0.pth"
ENTRIES = ["state_dict", "optimizer", "scheduler", "scaler", "state", "sampler", "checkpoints", "rng", "config", "meta"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt-data")
    generate(out, num_train=6, num_val=2, seed=0, image_size=(128, 128), progress=False)
    return out


@pytest.fixture(scope="module")
def opts(data, tiny_opts):
    """``opts(epochs)``: the options the fixture file was written with, for ``epochs`` epochs."""
    return lambda epochs: tiny_opts(data, epochs=epochs, width=8) + ["train_dataloader.batch_size=2"]


def test_a_checkpoint_is_every_table_entry_plus_config_and_meta(opts, tmp_path, mlflow_env):
    train("tiny", TrainOptions(work_dir=str(tmp_path / "w"), cfg_options=opts(1)))
    ckpt = load_checkpoint(tmp_path / "w" / "epoch_1.pth")
    assert list(ckpt) == ENTRIES
    assert ckpt["state"] == {"epoch": 1, "iteration": 6, "epoch_iter": 0}  # 13 people, batches of 2
    assert ckpt["sampler"] == {"epoch": 1, "start": 0, "num_samples": 13, "world_size": 1}
    assert ckpt["meta"]["run_id"] and ckpt["meta"]["precision"] == "fp32"


@pytest.fixture
def one_thread():
    """The fixture file was written single-threaded; bit-identity needs the same reduction order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def layout(obj):
    """A checkpoint's shape without its values: keys, types, tensor shapes and dtypes."""
    if isinstance(obj, dict):
        return {key: layout(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [layout(value) for value in obj]
    if isinstance(obj, torch.Tensor):
        return ("tensor", tuple(obj.shape), str(obj.dtype))
    return type(obj).__name__


def as_previous_format(ckpt: dict) -> dict:
    """Today's file in mlpose 0.1.0's layout: ``model`` for ``state_dict``, no ``sampler`` entry, 0.1.0's order."""
    return {("model" if name == "state_dict" else name): ckpt[name]  # 0.1.0 named the weights' entry model
            for name in ("state_dict", "optimizer", "scheduler", "scaler", "state", "rng", "checkpoints", "config", "meta")}


def test_a_checkpoint_of_the_previous_format_resumes_bit_identically(opts, tmp_path, mlflow_env, one_thread):
    # The real 0.1.0 file resumes; its floats depend on the CPU that wrote it (oneDNN kernels
    # differ between instruction sets), so bit-identity is checked on today's epoch 1 written
    # in its layout, which must be the real file's layout exactly.
    real = load_checkpoint(OLD_EPOCH_1)
    assert "sampler" not in real and real["state"]["epoch"] == 1
    resumed_real = train("tiny", TrainOptions(work_dir=str(tmp_path / "real"), resume=str(OLD_EPOCH_1),
                                              cfg_options=opts(2)))
    assert load_checkpoint(tmp_path / "real" / "epoch_2.pth")["state"]["epoch"] == 2 and resumed_real["metrics"]

    straight = train("tiny", TrainOptions(work_dir=str(tmp_path / "straight"), cfg_options=opts(2)))
    old = as_previous_format(load_checkpoint(tmp_path / "straight" / "epoch_1.pth"))
    assert {k: layout(v) for k, v in old.items() if k != "meta"} == {k: layout(v) for k, v in real.items() if k != "meta"}
    save_checkpoint(old, tmp_path / "old.pth")
    resumed = train("tiny", TrainOptions(work_dir=str(tmp_path / "resumed"), resume=str(tmp_path / "old.pth"),
                                         cfg_options=opts(2)))
    a = load_checkpoint(tmp_path / "straight" / "epoch_2.pth")
    b = load_checkpoint(tmp_path / "resumed" / "epoch_2.pth")
    assert b["state"] == a["state"] == {"epoch": 2, "iteration": 12, "epoch_iter": 0}
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    assert resumed["metrics"] == straight["metrics"]


def test_a_checkpoint_missing_an_entry_is_refused_by_name(opts, tmp_path, mlflow_env):
    ckpt = load_checkpoint(OLD_EPOCH_1)
    del ckpt["optimizer"]
    save_checkpoint(ckpt, tmp_path / "partial.pth")
    with pytest.raises(ConfigError, match=r"partial\.pth: no 'optimizer' in this checkpoint.*load_from"):
        train("tiny", TrainOptions(work_dir=str(tmp_path / "w"), resume=str(tmp_path / "partial.pth"),
                                   cfg_options=opts(2)))


def test_untracked_training_writes_no_mlflow_store(opts, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = train("tiny", TrainOptions(work_dir="w", cfg_options=opts(1) + ["tracking.enabled=False"]))
    assert result["run_id"] is None and (tmp_path / "w" / "epoch_1.pth").is_file()
    assert load_checkpoint(tmp_path / "w" / "epoch_1.pth")["meta"]["run_id"] is None
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_resuming_an_mmengine_checkpoint_says_to_start_from_its_weights(zoo_files, tmp_path):
    from mlpose.engine.checkpoint import CheckpointManager
    from mlpose.engine.checkpointer import Checkpointer, ModelState

    net = torch.nn.Linear(2, 3)
    (path,) = zoo_files(tmp_path, [dict(kind="mmengine", weights=net.state_dict())])
    checkpointer = Checkpointer({"state_dict": ModelState(net)}, CheckpointManager(tmp_path / "w"), lambda run_id: {})
    with pytest.raises(ConfigError) as err:
        checkpointer.restore(str(path))
    assert str(err.value) == (f"{path} is an MMEngine training checkpoint (meta, message_hub, optimizer, "
                              "param_schedulers), so mlpose cannot continue its training; start a new run from its "
                              f"weights instead: --cfg-options load_from={path} (without --resume or resume=True)")


def test_optimizer_moments_of_parameters_in_another_order_are_refused_not_misapplied():
    from mlpose.engine.checkpointer import OptimizerState

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 3)).sum().backward()
    optimizer.step()
    state = OptimizerState(optimizer).state_dict()
    swapped = torch.optim.Adam([model[1].weight, model[1].bias, model[0].weight, model[0].bias])
    with pytest.raises(ConfigError, match=r"exp_avg of parameter 0 is \(4, 3\) but the model's parameter there is \(2, 4\)"):
        OptimizerState(swapped).load_state_dict(state)
    OptimizerState(torch.optim.Adam(model.parameters())).load_state_dict(state)  # the same order loads
