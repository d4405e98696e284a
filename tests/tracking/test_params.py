"""Config -> MLflow params: one canonical spelling per value, dotted keys, visible truncation."""
import numpy as np
import pytest
import torch

from mlpose.config import load_config
from mlpose.tracking.params import (MAX_PARAM_VAL_LENGTH, batches, canonical_str, flatten_config, param_key,
                                    truncate)


@pytest.mark.parametrize("value, text", [
    ("SGD", "SGD"),
    (5e-4, "0.0005"),
    (1e-5, "1e-05"),
    (0.1, "0.1"),
    (3, "3"),
    (True, "true"),
    (None, "null"),
    ((192, 256), "[192, 256]"),
    ([192, 256], "[192, 256]"),
    (["a", 1.0, None], '["a", 1.0, null]'),
    ({"b": (1, 2)}, '{"b": [1, 2]}'),
    (float("nan"), "nan"),
    (float("inf"), "inf"),
    (np.float32(0.5), "0.5"),
    (np.float64(0.1), "0.1"),
    (np.int64(7), "7"),
    (np.array([1, 2]), "[1, 2]"),
    (torch.nn.Conv2d, "torch.nn.modules.conv.Conv2d"),
])
def test_canonical_str(value, text):
    assert canonical_str(value) == text


def test_canonical_str_has_no_object_addresses():
    class Thing:
        pass

    assert " at 0x" not in canonical_str(Thing())
    assert canonical_str(Thing()) == canonical_str(Thing())


def test_truncate_keeps_limit_and_says_how_much_was_cut():
    text = "x" * 7000
    cut = truncate(text)
    assert len(cut) == MAX_PARAM_VAL_LENGTH
    kept, suffix = cut.split("...[truncated ")
    assert suffix.endswith(" chars]")
    assert len(kept) + int(suffix[:-len(" chars]")]) == len(text)
    assert truncate("short") == "short"
    assert truncate("x" * MAX_PARAM_VAL_LENGTH) == "x" * MAX_PARAM_VAL_LENGTH


def test_flatten_dotted_keys_and_list_indices():
    cfg = dict(
        optim_wrapper=dict(optimizer=dict(type="Adam", lr=5e-4), paramwise_cfg={}),
        train_pipeline=[dict(type="LoadImage"), dict(type="RandomFlip", prob=0.5)],
        codec=dict(input_size=(192, 256), sigma=2),
        work_dir=None,
        long=list(range(3000)),
    )
    params = flatten_config(cfg)
    assert params["optim_wrapper.optimizer.lr"] == "0.0005"
    assert params["optim_wrapper.paramwise_cfg"] == "{}"
    assert params["train_pipeline.0.type"] == "LoadImage"
    assert params["train_pipeline.1.prob"] == "0.5"
    assert params["codec.input_size"] == "[192, 256]"
    assert params["work_dir"] == "null"
    assert len(params["long"]) == MAX_PARAM_VAL_LENGTH and "...[truncated" in params["long"]


def test_same_value_written_differently_gives_same_param():
    a = flatten_config(dict(lr=0.0005, size=(192, 256), flag=True))
    b = flatten_config(dict(lr=5e-4, size=[192, 256], flag=True))
    assert a == b


def test_param_key_is_valid_for_mlflow():
    from mlflow.utils.validation import _validate_param_name

    for parts in (["a", "b"], ["x y:z", "w@v"], ["k//j"], ["..", "a"], ["a" * 300]):
        key = param_key(parts)
        _validate_param_name(key)  # raises on an invalid key
        assert len(key) <= 250
    assert param_key(["a" * 300]) != param_key(["a" * 299 + "b"])


def test_batches_respect_limit():
    items = list(range(250))
    sizes = [len(b) for b in batches(items)]
    assert sizes == [100, 100, 50]


def test_every_repository_config_flattens_to_valid_params():
    from mlflow.utils.validation import _validate_param_name

    params = flatten_config(load_config("tiny").to_dict())
    assert len(params) > 20
    for key, value in params.items():
        _validate_param_name(key)
        assert isinstance(value, str) and len(value) <= MAX_PARAM_VAL_LENGTH
