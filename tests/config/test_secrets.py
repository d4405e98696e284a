"""A config logged with *** for its secrets (a resumed run's) gets them from the environment,
or fails in one line naming the key and the variable; it is never used with ***."""
import pytest

from mlpose.config import load_config, resolve_config_path
from mlpose.config.secrets import restore_secrets, secret_env_var
from mlpose.errors import ConfigError


def _resolved(tmp_path, text: str):
    path = tmp_path / "resolved.py"
    path.write_text(f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n" + text)
    return load_config(str(path))


def test_secrets_come_from_the_environment(tmp_path, monkeypatch):
    cfg = _resolved(tmp_path, "sweep = dict(storage='postgresql://optuna:***@db.example/optuna')\n"
                              "tracking = dict(uri='http://mlflow:***@mlflow.example:5000')\n")
    monkeypatch.setenv("PGPASSWORD", "pg-secret-1")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "ml-secret-2")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert sorted(restore_secrets(cfg)) == ["sweep.storage", "tracking.uri"]
    assert cfg.sweep.storage == "postgresql://optuna:pg-secret-1@db.example/optuna"
    assert cfg.tracking.uri == "http://mlflow:ml-secret-2@mlflow.example:5000"


def test_a_whole_value_from_its_own_variable(tmp_path, monkeypatch):
    cfg = _resolved(tmp_path, "sweep = dict(storage='***')\n")
    assert secret_env_var("sweep.storage") == "MLPOSE_SECRET_SWEEP_STORAGE"
    monkeypatch.setenv("MLPOSE_SECRET_SWEEP_STORAGE", "sqlite:///optuna.db")
    restore_secrets(cfg)
    assert cfg.sweep.storage == "sqlite:///optuna.db"


def test_missing_secret_is_one_line_naming_the_key(tmp_path, monkeypatch):
    for var in ("PGPASSWORD", "MLPOSE_SECRET_SWEEP_STORAGE"):
        monkeypatch.delenv(var, raising=False)
    cfg = _resolved(tmp_path, "sweep = dict(storage='postgresql://optuna:***@db.example/optuna')\n")
    with pytest.raises(ConfigError) as err:
        restore_secrets(cfg)
    message = str(err.value)
    assert "\n" not in message and "sweep.storage holds a redacted secret" in message
    assert "MLPOSE_SECRET_SWEEP_STORAGE" in message and "--cfg-options sweep.storage=" in message
    assert cfg.sweep.storage.count("***") == 1  # unchanged


def test_a_config_without_secrets_is_untouched(tmp_path):
    cfg = _resolved(tmp_path, "")
    before = cfg.to_dict()
    assert restore_secrets(cfg) == [] and cfg.to_dict() == before
