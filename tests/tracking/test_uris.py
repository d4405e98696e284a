"""Checkpoint references: local paths, runs:/ and models:/ round trips, http(s) downloads, errors."""
import functools
import http.server
import threading
from concurrent.futures import ThreadPoolExecutor

import mlflow.pytorch
import pytest
import torch
from mlflow import MlflowClient

from mlpose.errors import ConfigError
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


def test_models_uri_round_trip_with_registry_alias(uri, tmp_path, pose_checkpoint):
    tracker = Tracker.start({}, config_name="uris")
    tracker.log_model(pose_checkpoint, "best", 4)
    assert tracker.register_models("tiny-pose") == {"best": "1"}
    tracker.finish()
    model_uri = MlflowClient(uri).get_run(tracker.run_id).data.tags["mlpose.model.best"]
    trained = torch.load(pose_checkpoint, weights_only=True)
    for ref in ("models:/tiny-pose@best", "models:/tiny-pose/1", model_uri):
        got = resolve_checkpoint(ref, cache_dir=tmp_path / "cache")
        assert got.source_run_id == tracker.run_id, ref
        ckpt = torch.load(got.path, weights_only=True)  # the model's checkpoint: what `mlpose test` loads
        assert ckpt["state_dict"].keys() == trained["state_dict"].keys()
        assert all(torch.equal(ckpt["state_dict"][k], v) for k, v in trained["state_dict"].items())
        assert (ckpt["meta"], ckpt["state"], ckpt["config"]) == (trained["meta"], trained["state"], trained["config"])
    with pytest.raises(ConfigError, match="not found|does not exist|No such"):
        resolve_checkpoint("models:/no-such-model@best", cache_dir=tmp_path / "cache")


def test_models_of_the_first_format_and_models_logged_without_mlpose(uri, tmp_path):
    model = TinyNet()
    ckpt = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": model.state_dict(), "meta": {"epoch": 7}}, ckpt)
    tracker = Tracker.start({}, config_name="uris")
    # mlpose 0.1 logged a pickled PyTorch model with the checkpoint as extra_files/checkpoint.pth
    mlflow.pytorch.log_model(model, name="first", run_id=tracker.run_id, registered_model_name="first-net",
                             extra_files=[str(ckpt)], serialization_format="pickle", pip_requirements=["torch"])
    mlflow.pytorch.log_model(model, name="plain", run_id=tracker.run_id, registered_model_name="plain-net",
                             serialization_format="pickle", pip_requirements=["torch"])
    tracker.finish()
    assert torch.load(resolve_checkpoint("models:/first-net/1", cache_dir=tmp_path / "c1").path)["meta"]["epoch"] == 7
    got = resolve_checkpoint("models:/plain-net/1", cache_dir=tmp_path / "c2")
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


def test_model_zoo_names_come_from_torchs_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "hrnetv2_w18-00eb2006.pth"
    cached.parent.mkdir(parents=True)
    torch.save({"w": torch.arange(3)}, cached)
    assert resolve_checkpoint("open-mmlab://msra/hrnetv2_w18") == (str(cached), None)


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
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # URLs are cached where torch caches them
    with pytest.raises(ConfigError, match="cannot be downloaded") as err:
        resolve_checkpoint(f"{base}/missing.pth")
    assert "\n" not in str(err.value) and str(tmp_path / "torch" / "hub" / "checkpoints" / "missing.pth") in str(err.value)
    assert not list(tmp_path.rglob("*.pth"))
    (tmp_path / "folder.pth").mkdir()
    with pytest.raises(ConfigError, match="folder.pth' is a folder, not a file"):
        resolve_checkpoint(tmp_path / "folder.pth")
    with pytest.raises(ConfigError, match="foo://"):
        resolve_checkpoint("foo://bucket/x.pth")
    with pytest.raises(ConfigError, match="models:/NAME@ALIAS"):
        resolve_checkpoint("models:/name/notaversion")
