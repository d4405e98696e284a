"""Parameters and GFLOPs as MMPose's model-zoo tables count them (multiply-adds), and the cache."""
import pytest
import torch
from torch import nn

from mlpose.config import load_config
from mlpose.zoo import measure
from mlpose.zoo.measure import load_cache, measure_config, measure_model, save_cache


class Net(nn.Module):
    """A 3x3 convolution and a linear layer: 4*3*9*6*8 + 192*5 = 6144 multiply-adds on an 8x6 crop."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.fc = nn.Linear(4 * 6 * 8, 5)

    def forward(self, x):
        return self.fc(self.conv(x.float()).flatten(1))


def test_one_multiply_add_is_one_flop():
    m = measure_model(Net(), (8, 6))
    assert m.params == 108 + 192 * 5 + 5
    assert m.gflops * 1e9 == pytest.approx(6144)


def test_res50_counts_as_mmpose_counts_it(measure_cache):
    cache = load_cache()
    m = measure_config(load_config("res50"), cache)
    save_cache(cache)  # the zoo listing test reads it
    # MMPose 1.3.2's own counter (mmengine get_model_complexity_info) on its res50 256x192: 5.45
    # GFLOPs, 34.0 M parameters; it adds ~0.4% for BatchNorm and the like, which are not counted here
    assert m.gflops == pytest.approx(5.45, rel=0.01) and m.params == pytest.approx(34.0e6, rel=0.001)


def test_measures_come_from_the_cache_once_measured(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cfg = load_config("tiny", ["model.backbone.base_channels=8", "model.head.in_channels=64"])
    cache = load_cache()
    first = measure_config(cfg, cache)
    save_cache(cache)
    assert (tmp_path / "mlpose" / "zoo-measures.json").is_file()

    def no_build(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(measure, "build", no_build)
    assert measure_config(cfg, load_cache()) == first
    other = load_config("tiny", ["model.backbone.base_channels=16", "model.head.in_channels=128"])
    with pytest.raises(AssertionError, match="measured again"):  # another model is another key
        measure_config(other, load_cache())


def test_a_forward_that_cannot_run_on_the_meta_device_is_measured_on_the_cpu(monkeypatch):
    cfg = load_config("tiny", ["model.backbone.base_channels=8", "model.head.in_channels=64"])
    on_meta = measure_config(cfg)
    real = measure.measure_model
    devices = []

    def no_meta(model, size, device="cpu"):
        devices.append(device)
        if device == "meta":
            raise RuntimeError("this forward needs real values")
        return real(model, size, device)

    monkeypatch.setattr(measure, "measure_model", no_meta)
    assert measure_config(cfg) == on_meta and devices == ["meta", "cpu"]


def test_a_config_without_an_input_size_has_no_measure():
    cfg = load_config("tiny").to_dict()
    del cfg["model"]["head"]["decoder"], cfg["codec"]
    cfg["val_dataloader"]["dataset"]["pipeline"] = cfg["test_dataloader"]["dataset"]["pipeline"] = []
    assert measure_config(cfg) is None
