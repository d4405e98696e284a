"""Model-zoo checkpoint files (MMPose 1.x published, MMEngine training, MMPose 0.x) read without their
code: tensors, plain values, numpy and inert stand-ins; a malicious pickle is refused and never runs."""
import collections
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from mlpose.datasets.metainfo import load_metainfo
from mlpose.errors import ConfigError
from mlpose.runtime.checkpoint_io import load_checkpoint
from mlpose.runtime.foreign import StandIn, dataset_meta, describe, model_weights


@pytest.fixture(scope="module")
def weights():
    """``(averaged, raw)`` weights of a small model with a head: what EMAHook leaves in a file."""
    torch.manual_seed(0)
    net = torch.nn.ModuleDict({"backbone": torch.nn.Conv2d(3, 4, 3), "head": torch.nn.Conv2d(4, 2, 1)})
    raw = {k: v.clone() for k, v in net.state_dict().items()}
    return {k: v + 1 for k, v in raw.items()}, raw


@pytest.fixture(scope="module")
def files(weights, zoo_files, mmpose_meta, tmp_path_factory):
    meta = mmpose_meta(load_metainfo(None, "experiments/_base_/datasets/coco.py"))
    averaged, raw = weights
    folder = tmp_path_factory.mktemp("zoo")
    paths = zoo_files(folder, [dict(kind="mmengine", weights=averaged, raw=raw, dataset_meta=meta),
                               dict(kind="mmpose", weights=averaged, dataset_meta=meta),
                               dict(kind="mmpose0x", weights=averaged)])
    return dict(zip(("mmengine", "mmpose", "mmpose0x"), paths))


def test_an_mmengine_training_checkpoint_loads_without_mmengine(files, weights):
    ckpt = load_checkpoint(files["mmengine"])
    assert "mmengine" not in sys.modules and not any(m.startswith("mmengine.") for m in sys.modules)
    buffer = ckpt["message_hub"]["log_scalars"]["train/loss"]
    assert isinstance(buffer, StandIn) and buffer.original == "mmengine.logging.history_buffer.HistoryBuffer"
    assert np.array_equal(buffer.state["_log_history"], [0.5, 0.25])
    assert buffer.state["_statistics_methods"]["min"] == "mmengine.logging.history_buffer.HistoryBuffer.min"
    assert ckpt["message_hub"]["runtime_info"]["eta"] == 0.0 and ckpt["param_schedulers"][0]["last_step"] == 7
    assert describe(ckpt).startswith("an MMEngine training checkpoint (meta, message_hub, optimizer")
    sigmas = dataset_meta(ckpt)["sigmas"]
    assert isinstance(sigmas, np.ndarray) and sigmas.dtype == np.float32 and sigmas[0] == np.float32(0.026)


def test_ema_weights_are_the_ones_loaded_and_the_raw_ones_stay_reachable(files, weights):
    averaged, raw = weights
    ckpt = load_checkpoint(files["mmengine"])
    assert int(ckpt["ema_state_dict"]["steps"]) == 7
    for name, got in ((True, model_weights(ckpt)), (False, model_weights(ckpt, ema=False))):
        want = averaged if name else raw
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want), name


def test_an_mlpose_checkpoint_of_an_ema_run_gives_its_average_or_its_raw_weights(weights):
    averaged, raw = weights
    ckpt = {"model": averaged, "ema": {"steps": torch.tensor(7), "raw": raw}, "state": {"epoch": 1}}
    assert all(torch.equal(model_weights(ckpt)[k], averaged[k]) for k in averaged)
    assert all(torch.equal(model_weights(ckpt, ema=False)[k], raw[k]) for k in raw)


@pytest.mark.parametrize("kind", ["mmpose", "mmpose0x"])
def test_published_and_0x_files_give_the_weights_under_mlpose_names(kind, files, weights):
    assert files[kind].read_bytes()[:2] == b"\x80\x02"  # the legacy (non-zip) serialization publish_model writes
    ckpt = load_checkpoint(files[kind])
    got = model_weights(ckpt)
    assert got.keys() == weights[0].keys() and all(torch.equal(got[k], weights[0][k]) for k in got)
    assert describe(ckpt) == {"mmpose": "an MMPose/MMEngine model file (meta + state_dict)",
                              "mmpose0x": "an MMPose 0.x file"}[kind]


class _Evil:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("make, refused", [
    (lambda cmd: _Evil(os.system, cmd), "posix.system"),
    (lambda cmd: _Evil(eval, f"__import__('os').system({cmd!r})"), "builtins.eval"),
    (lambda cmd: _Evil(subprocess.call, cmd.split()), "subprocess.call"),
    (lambda cmd: _Evil(getattr, collections.OrderedDict, "fromkeys"), "builtins.getattr"),
])
def test_a_malicious_pickle_is_refused_and_never_runs(make, refused, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "meta": make(f"touch {marker}")}, path)
    with pytest.raises(ConfigError) as err:
        load_checkpoint(path)
    assert str(err.value).startswith(f"checkpoint {str(path)!r} refers to {refused}, which no checkpoint needs")
    assert "\n" not in str(err.value) and not marker.exists()


def test_openmmlab_code_named_by_a_file_never_runs(zoo_files, tmp_path):
    marker = tmp_path / "pwned"
    (path,) = zoo_files(tmp_path, [dict(kind="trap", weights={"w": torch.zeros(1)}, cmd=f"touch {marker}")])
    trap = load_checkpoint(path)["meta"]["trap"]
    assert isinstance(trap, StandIn) and trap.original == "mmengine.evil.run" and trap.args == (f"touch {marker}",)
    assert not marker.exists()


def test_a_dict_subclass_of_an_openmmlab_package_is_one_line(zoo_files, tmp_path):
    (path,) = zoo_files(tmp_path, [dict(kind="configdict", weights={"w": torch.zeros(1)})])
    with pytest.raises(ConfigError) as err:
        load_checkpoint(path)
    assert str(err.value) == (f"checkpoint {str(path)!r} holds an object mlpose does not read (Can only SETITEM for "
                              "dict, collections.OrderedDict, collections.Counter, but got <class "
                              "'mmengine.config.ConfigDict'>); mlpose reads only tensors, plain values, numpy arrays "
                              "and inert OpenMMLab objects")
