"""Validation at load time: every problem names the file and the key path."""
import pytest

from mlpose.config import load_config, resolve_config_path
from mlpose.errors import ConfigError

TINY = resolve_config_path("tiny").resolve()


def _cfg(tmp_path, body):
    path = tmp_path / "c.py"
    path.write_text(f"_base_ = ['{TINY}']\n{body}\n")
    return path


@pytest.mark.parametrize("body, pattern", [
    ("train_cfg = dict(max_epoch=3)", r"c\.py: unknown key train_cfg\.max_epoch; did you mean train_cfg\.max_epochs"),
    ("train_cfg = dict(max_epochs='3')", r"train_cfg\.max_epochs must be int, got str"),
    ("randomness = dict(seed=1.5)", r"randomness\.seed must be int or None"),
    ("model = dict(backbone=dict(type='ResNet50'))", r"unknown type 'ResNet50' at model\.backbone in registry 'models'"),
    ("model = dict(head=dict(decoder=dict(type='MSRAHeatmap', sgima=2)))", r"model\.head\.decoder: bad arguments for MSRAHeatmap"),
    ("train_pipeline = [dict(type='LoadImage'), dict(type='RandomFlop')]", r"unknown type 'RandomFlop' at train_pipeline\.1"),
    ("train_dataloader = dict(batch_sise=3)", r"unknown key train_dataloader\.batch_sise"),
    ("val_evaluator = dict(type='CocoMetric', ann_fle='x')", r"val_evaluator: bad arguments for CocoMetric"),
    ("param_scheduler = [dict(type='LinearLR', ende=3)]", r"param_scheduler\.0: bad arguments for LinearLR"),
    ("optim_wrapper = dict(optimizer=dict(type='Adamm'))", r"unknown type 'Adamm' at optim_wrapper\.optimizer in registry 'optimizers'"),
    ("optim_wrapper = dict(type='FancyWrapper')", r"optim_wrapper\.type: unknown 'FancyWrapper'"),
    ("default_hooks = dict(checkpoint=dict(intervall=2))", r"unknown key default_hooks\.checkpoint\.intervall"),
])
def test_problems_are_named_at_load(tmp_path, body, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(_cfg(tmp_path, body))


@pytest.mark.parametrize("options, pattern", [
    # a plain crop under the tiny recipe's UDP decoder: predictions would come back shifted
    (["val_dataloader.dataset.pipeline.2.use_udp=False"],
     r"val_dataloader\.dataset\.pipeline\.2\.use_udp=False does not match model\.head\.decoder, "
     r"which is a UDP codec; set use_udp=True"),
    # a UDP training crop feeding a plain MSRA encoder: the targets would be shifted
    (["train_dataloader.dataset.pipeline.5.encoder.type=MSRAHeatmap"],
     r"train_dataloader\.dataset\.pipeline\.4\.use_udp=True does not match "
     r"train_dataloader\.dataset\.pipeline GenerateTarget encoder, which is not a UDP codec"),
])
def test_crops_and_codecs_must_agree_on_udp(options, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config("tiny", options)


def test_free_top_level_variables_are_allowed(tmp_path):
    assert load_config(_cfg(tmp_path, "my_note = 'anything'\ndata_mode = 'topdown'")).my_note == "anything"
