"""Metric names map to MLflow keys MLflow accepts; save_best accepts either spelling."""
import pytest
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import _validate_metric_name

from mlpose.errors import ConfigError
from mlpose.evaluation import is_valid_mlflow_key, mlflow_key, resolve_metric_name
from mlpose.evaluation.coco_metric import STAT_NAMES

PRODUCED = ([f"{p}/{n}" for p in ("coco", "aic") for n in STAT_NAMES] + list(STAT_NAMES)
            + ["coco/PCK", "mpii/PCKh", "jhmdb/tPCK", "onehand10k/AUC", "onehand10k/EPE"])


@pytest.mark.parametrize("name", PRODUCED)
def test_every_produced_name_has_a_key_mlflow_accepts(name):
    key = mlflow_key(name)
    _validate_metric_name(key)  # raises MlflowException when MLflow would refuse it
    assert is_valid_mlflow_key(key)
    assert mlflow_key(key) == key  # stable: mapping a key again changes nothing


@pytest.mark.parametrize("name, key", [
    ("coco/AP", "coco/AP"), ("coco/AP .5", "coco/AP .5"), ("AP (M)", "AP_M"),
    ("coco/AR (L)", "coco/AR_L"), ("crowdpose/AP(E)", "crowdpose/AP_E"),
    ("PCK@0.05", "PCK_0.05"), ("a//b", "a/b"), ("/coco/AP/", "coco/AP"),
])
def test_documented_mapping(name, key):
    assert mlflow_key(name) == key


def test_the_mapping_is_needed_for_mmpose_names():
    with pytest.raises(MlflowException):
        _validate_metric_name("coco/AP (M)")


def test_resolve_accepts_the_name_and_its_key():
    names = [f"coco/{n}" for n in STAT_NAMES]
    assert resolve_metric_name("coco/AP", names) == "coco/AP"
    assert resolve_metric_name("coco/AP (M)", names) == "coco/AP (M)"
    assert resolve_metric_name("coco/AP_M", names) == "coco/AP (M)"
    with pytest.raises(ConfigError, match="'coco/APX'.*'coco/AP', 'coco/AP .5'"):
        resolve_metric_name("coco/APX", names)
    with pytest.raises(ConfigError, match="'AP'"):
        resolve_metric_name("AP", names)  # the dataset prefix is part of the name


def test_nothing_left_is_an_error():
    with pytest.raises(ValueError, match="no valid MLflow key"):
        mlflow_key("()")
