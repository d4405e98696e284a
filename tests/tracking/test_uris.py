"""Checkpoint references: local paths, runs:/ and models:/ round trips, http(s) downloads, errors."""
import functools
import http.server
import threading
from concurrent.futures import ThreadPoolExecutor

import mlflow.pytorch
import pytest
import torch
from mlflow import MlflowClient

from mlpose.registry import ConfigError
from mlpose.tracking import Tracker, resolve_checkpoint


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x)


def test_local_paths(tmp_path):
    path = tmp_path / "a.pth"
    torch.save({"x": 1}, path)
    assert resolve_checkpoint(path) == (str(path), None)
    assert resolve_checkpoint(f"file://{path}").path == str(path)
    with pytest.raises(ConfigError, match="does not exist") as err:
        resolve_checkpoint(tmp_path / "missing.pth")
    assert "\n" not in str(err.value)


def test_runs_uri_round_trip(uri, tmp_path):
    ckpt = tmp_path / "best_coco_AP_epoch_2.pth"
    torch.save({"meta": {"epoch": 2}}, ckpt)
    tracker = Tracker.start({}, config_name="uris")
    tracker.log_checkpoint(ckpt, "best.pth")
    tracker.finish()
    got = resolve_checkpoint(f"runs:/{tracker.run_id}/checkpoints/best.pth", cache_dir=tmp_path / "cache")
    assert got.source_run_id == tracker.run_id
    assert got.path.startswith(str(tmp_path / "cache"))
    assert torch.load(got.path)["meta"]["epoch"] == 2
    with pytest.raises(ConfigError, match="names a file"):
        resolve_checkpoint(f"runs:/{tracker.run_id}")
    with pytest.raises(ConfigError, match="not found"):
        resolve_checkpoint("runs:/0123456789abcdef0123456789abcdef/checkpoints/best.pth")
    with pytest.raises(ConfigError, match="checkpoints/nope.pth|nope.pth"):
        resolve_checkpoint(f"runs:/{tracker.run_id}/checkpoints/nope.pth", cache_dir=tmp_path / "cache")


def test_models_uri_round_trip_with_registry_alias(uri, tmp_path):
    torch.manual_seed(0)
    model = TinyNet()
    tracker = Tracker.start({}, config_name="uris")
    info = tracker.log_model(model, registered_model_name="tiny-pose", alias="best")
    tracker.finish()
    client = MlflowClient(uri)
    assert client.get_model_version_by_alias("tiny-pose", "best").version == info.registered_model_version
    expected = model.state_dict()
    for ref in ("models:/tiny-pose@best", "models:/tiny-pose/1", info.model_uri):
        got = resolve_checkpoint(ref, cache_dir=tmp_path / "cache")
        assert got.source_run_id == tracker.run_id, ref
        state = torch.load(got.path, weights_only=True)["state_dict"]
        assert state.keys() == expected.keys()
        assert all(torch.equal(state[k], expected[k]) for k in expected)
    # The model itself loads through MLflow's flavor too.
    loaded = mlflow.pytorch.load_model("models:/tiny-pose@best")
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(loaded(x), model.eval()(x))
    with pytest.raises(ConfigError, match="not found|does not exist|No such"):
        resolve_checkpoint("models:/no-such-model@best", cache_dir=tmp_path / "cache")


def test_models_uri_returns_the_given_training_checkpoint(uri, tmp_path):
    ckpt = tmp_path / "best.pth"
    torch.save({"state_dict": TinyNet().state_dict(), "meta": {"epoch": 7}}, ckpt)
    tracker = Tracker.start({}, config_name="uris")
    tracker.log_model(TinyNet(), name="best_model", registered_model_name="tiny-ckpt", checkpoint_path=ckpt)
    tracker.finish()
    got = resolve_checkpoint("models:/tiny-ckpt@best", cache_dir=tmp_path / "cache")
    assert torch.load(got.path)["meta"]["epoch"] == 7


def test_models_logged_without_mlpose_give_their_state_dict(uri, tmp_path):
    model = TinyNet()
    tracker = Tracker.start({}, config_name="uris")
    mlflow.pytorch.log_model(model, name="plain", run_id=tracker.run_id, registered_model_name="plain-net",
                             serialization_format="pickle", pip_requirements=["torch"])
    tracker.finish()
    got = resolve_checkpoint("models:/plain-net/1", cache_dir=tmp_path / "cache")
    state = torch.load(got.path)["state_dict"]
    assert torch.equal(state["conv.weight"], model.conv.weight)


def test_concurrent_resolution_of_one_uri(uri, tmp_path):
    """DDP ranks resolve the same URI into the same cache at once."""
    torch.save({"w": torch.arange(1000)}, tmp_path / "ck.pth")
    tracker = Tracker.start({}, config_name="uris")
    tracker.log_checkpoint(tmp_path / "ck.pth", "last.pth")
    tracker.finish()
    ref = f"runs:/{tracker.run_id}/checkpoints/last.pth"
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: resolve_checkpoint(ref, cache_dir=tmp_path / "cache").path, range(8)))
    assert len(set(paths)) == 1 and torch.equal(torch.load(paths[0])["w"], torch.arange(1000))


@pytest.fixture
def http_dir(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def test_http_download_is_cached(http_dir, tmp_path):
    folder, base, server = http_dir
    torch.save({"w": torch.arange(5)}, folder / "res50.pth")
    cache = tmp_path / "cache"
    got = resolve_checkpoint(f"{base}/res50.pth", cache_dir=cache)
    assert got.source_run_id is None and got.path.endswith("res50.pth")
    assert torch.equal(torch.load(got.path)["w"], torch.arange(5))
    server.shutdown()  # the second call is served from the cache
    assert resolve_checkpoint(f"{base}/res50.pth", cache_dir=cache).path == got.path
    assert [p.name for p in cache.rglob("*") if p.is_file()] == ["res50.pth"]  # no partial files


def test_http_errors_and_bad_schemes_are_one_line(http_dir, tmp_path, monkeypatch):
    _, base, _ = http_dir
    monkeypatch.setenv("MLPOSE_CACHE", str(tmp_path / "c"))
    with pytest.raises(ConfigError, match="cannot be downloaded") as err:
        resolve_checkpoint(f"{base}/missing.pth")
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "c").rglob("*.pth"))
    with pytest.raises(ConfigError, match="foo://"):
        resolve_checkpoint("foo://bucket/x.pth")
    with pytest.raises(ConfigError, match="models:/NAME@ALIAS"):
        resolve_checkpoint("models:/name/notaversion")
