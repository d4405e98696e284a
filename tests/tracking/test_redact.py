"""Credentials never reach MLflow: redaction of text, dicts, and of everything a run logs."""
import os
from collections.abc import MutableMapping
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts

from mlpose.tracking import Tracker, redact, redact_text
from mlpose.tracking.redact import REDACTED, is_secret_key

PG_PASSWORD = "pgS3cretPassw0rd"
TOKEN = "tok_9f8e7d6c5b4a"


@pytest.mark.parametrize("text, secret", [
    (f"postgresql://mlflow:{PG_PASSWORD}@db.lab:5432/mlflow", PG_PASSWORD),
    (f"postgresql+psycopg2://u:{PG_PASSWORD}@h/db", PG_PASSWORD),
    (f"https://user:p@ss:word@host/x", "p@ss:word"),
    (f"https://host/file.pth?token={TOKEN}&x=1", TOKEN),
    (f"--cfg-options tracking.token={TOKEN}", TOKEN),
    (f"password = '{PG_PASSWORD}'", PG_PASSWORD),
    (f'{{"api_key": "{TOKEN}"}}', TOKEN),
    (f"AWS_SECRET_ACCESS_KEY={TOKEN}", TOKEN),
    (f"Authorization: Bearer {TOKEN}", TOKEN),
    ("https://ghp_abcdefghijklmnopqrstuvwx@github.com/x.git", "ghp_abcdefghijklmnopqrstuvwx"),
])
def test_redact_text_removes_secret(text, secret):
    out = redact_text(text)
    assert secret not in out
    assert REDACTED in out


class _VanishingEnviron(MutableMapping):
    """An environment in which a variable disappears between being listed and being read, as
    MLflow's telemetry thread does to one at run start (os.environ.items() then raises)."""

    def __init__(self, values: dict):
        self.values = values

    def __iter__(self):
        return iter([*self.values, "_GONE_MEANWHILE"])

    def __len__(self):
        return len(self.values) + 1

    def __getitem__(self, key):
        return self.values[key]

    def __setitem__(self, key, value):  # pytest's own teardown writes to the environment
        self.values[key] = value

    def __delitem__(self, key):
        del self.values[key]


def test_env_secrets_survive_a_variable_vanishing_meanwhile(monkeypatch):
    monkeypatch.setattr(os, "environ", _VanishingEnviron({"DB_PASSWORD": PG_PASSWORD}))
    assert PG_PASSWORD not in redact_text(f"connected with {PG_PASSWORD}")


def test_redact_text_keeps_harmless_text():
    for text in ("postgresql://postgres@127.0.0.1:5432/mlflow", "http://127.0.0.1:5000/#/experiments",
                 "num_keypoints=17 save_best='coco/AP'", "lr=0.0005", "sqlite:////tmp/mlflow.db"):
        assert redact_text(text) == text


def test_redact_text_masks_secret_env_values(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "envPassw0rd!")
    monkeypatch.setenv("MY_SERVICE_TOKEN", "envtoken123")
    out = redact_text("connected with envPassw0rd! and envtoken123 at /tmp")
    assert "envPassw0rd!" not in out and "envtoken123" not in out and "/tmp" in out


def test_redact_dict_by_key_and_value():
    cfg = {"tracking": {"uri": f"postgresql://u:{PG_PASSWORD}@h/db", "token": TOKEN, "api_key": "k" * 10,
                        "run_name": None},
           "model": {"keypoint_weights": [1.0, 2.0], "num_keypoints": 17, "secret_sauce": 3},
           "optim_wrapper": {"paramwise_cfg": {"custom_keys": {"backbone": {"lr_mult": 0.1}}}},
           "pipeline": [{"meta_keys": ("id", "img_id")}, ("a", f"x://u:{PG_PASSWORD}@h")]}
    out = redact(cfg)
    assert out["tracking"] == {"uri": "postgresql://u:***@h/db", "token": REDACTED, "api_key": REDACTED,
                               "run_name": None}
    assert out["model"] == {"keypoint_weights": [1.0, 2.0], "num_keypoints": 17, "secret_sauce": REDACTED}
    assert out["optim_wrapper"] == cfg["optim_wrapper"]
    assert out["pipeline"][0] == {"meta_keys": ("id", "img_id")}
    assert isinstance(out["pipeline"][1], tuple) and PG_PASSWORD not in str(out)
    assert PG_PASSWORD in str(cfg)  # the caller's config is not modified


def test_booleans_under_secret_looking_names_are_kept():
    """A ViT's ``with_cls_token=False`` must survive into the checkpoint's config."""
    cfg = {"backbone": {"type": "VisionTransformer", "with_cls_token": False}, "token": TOKEN}
    assert redact(cfg) == {"backbone": {"type": "VisionTransformer", "with_cls_token": False}, "token": REDACTED}
    assert redact_text(f"with_cls_token=False, token={TOKEN}") == "with_cls_token=False, token=***"


@pytest.mark.parametrize("key, secret", [
    ("password", True), ("db_password", True), ("token", True), ("aws_secret_access_key", True),
    ("api_key", True), ("ssh_key", True), ("keypoint_info", False), ("num_keypoints", False),
    ("custom_keys", False), ("meta_keys", False), ("save_best", False), ("max_keep_ckpts", False),
])
def test_is_secret_key(key, secret):
    assert is_secret_key(key) is secret


def test_secrets_never_reach_params_tags_or_artifacts(uri, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "envTrackingToken42")
    storage = f"postgresql://optuna:{PG_PASSWORD}@db.lab:5432/optuna"
    config_file = tmp_path / "secret_cfg.py"
    config_file.write_text(f"sweep = dict(storage='{storage}')\ntracking = dict(token='{TOKEN}')\n"
                           "note = 'envTrackingToken42'\n")
    cfg = {"sweep": {"storage": storage}, "tracking": {"token": TOKEN}, "note": "envTrackingToken42"}
    tracker = Tracker.start(cfg, config_file=str(config_file), config_name="secret_cfg", command=[
        "mlpose", "train", str(config_file), "--cfg-options", f"tracking.token={TOKEN}"],
        extra_tags={"mlpose.source": storage})
    log = tmp_path / "train.log"
    log.write_text(f"connecting to {storage}\n")
    tracker.log_artifact(log)
    try:
        raise RuntimeError(f"could not connect to {storage} with token={TOKEN}")
    except RuntimeError as exc:
        tracker.finish("FAILED", exc)

    run = MlflowClient(uri).get_run(tracker.run_id)
    assert run.data.params["sweep.storage"] == "postgresql://optuna:***@db.lab:5432/optuna"
    assert run.data.params["tracking.token"] == REDACTED
    assert "mlpose.error" in run.data.tags and "mlpose.command" in run.data.tags
    logged = " ".join([*run.data.params.values(), *run.data.tags.values()])
    folder = Path(download_artifacts(run_id=tracker.run_id, dst_path=str(tmp_path / "dl")))
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"secret_cfg.py", "resolved.py", "train.log", "error.txt"}
    logged += " ".join(p.read_text() for p in files)
    for secret in (PG_PASSWORD, TOKEN, "envTrackingToken42"):
        assert secret not in logged
