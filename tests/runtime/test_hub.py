"""Pretrained weights by URL or model-zoo name, against a real HTTP server on 127.0.0.1: downloaded
once into torch's hub cache, hash-checked, never left half-written, used offline when put there."""
import functools
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest
import torch

from mlpose.errors import ConfigError
from mlpose.runtime import hub


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, records every path asked for; ``/drop/FILE`` sends half of FILE, then hangs up."""

    def __init__(self, *args, seen: list, **kwargs):
        self.seen = seen
        super().__init__(*args, **kwargs)

    def do_GET(self):  # noqa: N802 - http.server's name
        self.seen.append(self.path)
        if not self.path.startswith("/drop/"):
            return super().do_GET()
        data = (Path(self.directory) / self.path[len("/drop/"):]).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """``(folder served, base URL, paths requested)`` of a server on 127.0.0.1."""
    folder, seen = tmp_path / "served", []
    folder.mkdir()
    handler = functools.partial(_Handler, directory=str(folder), seen=seen)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """``$TORCH_HOME`` in the test's folder; returns its checkpoint cache folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(hub.MIRROR_ENV, raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weights_file(folder: Path, stem: str) -> tuple[Path, dict]:
    """A torch file named ``STEM-<its sha256 prefix>.pth``, as model zoos name theirs."""
    state = {"conv.weight": torch.randn(4, 3, 3, 3)}
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    path = folder / f"{stem}-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(path)
    return path, state


def test_download_goes_to_torchs_cache_once(server, torch_home):
    folder, base, seen = server
    served, state = weights_file(folder, "w")
    path = hub.fetch(f"{base}/{served.name}")
    assert path == str(torch_home / served.name) and Path(path).read_bytes() == served.read_bytes()
    assert torch.equal(torch.load(path)["conv.weight"], state["conv.weight"])
    assert hub.fetch(f"{base}/{served.name}") == path and seen == [f"/{served.name}"]  # the second: from the cache
    assert [p.name for p in torch_home.iterdir()] == [served.name]  # no temporary file left


def test_http_error_is_one_line_with_the_path_to_put_the_file_at(server, torch_home):
    _, base, _ = server
    with pytest.raises(ConfigError) as err:
        hub.fetch(f"{base}/missing-0123abcd.pth")
    assert str(err.value) == (f"{base}/missing-0123abcd.pth cannot be downloaded: HTTP 404 File not found; download "
                              f"the file elsewhere and put it at {torch_home / 'missing-0123abcd.pth'}")
    assert not list(torch_home.iterdir())


def test_dropped_connection_leaves_no_file(server, torch_home):
    folder, base, _ = server
    (folder / "big.pth").write_bytes(b"\x80" * 300_000)
    with pytest.raises(ConfigError, match=r"drop/big.pth cannot be downloaded: the connection closed 150000 bytes "
                                          r"before the end of the file; .* put it at .*big.pth$"):
        hub.fetch(f"{base}/drop/big.pth")
    assert not list(torch_home.iterdir())


@pytest.mark.parametrize("ref, path", [
    ("torchvision://resnet18", "/download.pytorch.org/models/resnet18-f37072fd.pth"),
    ("open-mmlab://msra/hrnetv2_w32", "/download.openmmlab.com/pretrain/third_party/hrnetv2_w32-dc9eeb4f.pth"),
    ("mmcls://resnet50",
     "/download.openmmlab.com/mmclassification/v0/resnet/resnet50_8xb32_in1k_20210831-ea4938fc.pth")])
def test_names_resolve_through_the_mirror_and_a_wrong_hash_is_not_kept(ref, path, server, torch_home, monkeypatch):
    folder, base, seen = server
    (folder / path[1:]).parent.mkdir(parents=True)
    torch.save({"w": torch.zeros(3)}, folder / path[1:])  # not the file the name's hash promises
    monkeypatch.setenv(hub.MIRROR_ENV, base + "/")
    with pytest.raises(ConfigError) as err:
        hub.fetch(ref)
    name = path.rsplit("/", 1)[1]
    digest = name.rsplit("-", 1)[1].split(".")[0]
    assert str(err.value).startswith(f"{ref} (https:/{path}) cannot be downloaded from the mirror {base}{path}: "
                                     f"its sha256 starts with ")
    assert f", not {digest} as its file name promises" in str(err.value)
    assert str(err.value).endswith(f"put it at {torch_home / name}")
    assert seen == [path] and not list(torch_home.iterdir())


def test_a_file_put_in_the_cache_by_hand_is_used_offline(torch_home, monkeypatch):
    monkeypatch.setenv(hub.MIRROR_ENV, f"http://127.0.0.1:{closed_port()}")  # any download would fail
    torch_home.mkdir(parents=True)
    (torch_home / "resnet50-0676ba61.pth").write_bytes(b"not even the real file: used as it is")
    assert hub.fetch("torchvision://resnet50") == str(torch_home / "resnet50-0676ba61.pth")
    url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert hub.fetch(url) == str(torch_home / "resnet50-0676ba61.pth")


def test_offline_is_one_line_naming_the_url_and_the_exact_cache_path(torch_home, monkeypatch):
    port = closed_port()
    monkeypatch.setenv(hub.MIRROR_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(ConfigError) as err:
        hub.fetch("torchvision://resnet50")
    url = "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert str(err.value) == (
        f"torchvision://resnet50 ({url}) cannot be downloaded from the mirror http://127.0.0.1:{port}/"
        "download.pytorch.org/models/resnet50-0676ba61.pth: no connection ([Errno 111] Connection refused); "
        f"download the file elsewhere and put it at {torch_home / 'resnet50-0676ba61.pth'}")


def test_the_password_in_a_url_is_never_shown(server, torch_home):
    _, base, _ = server
    with pytest.raises(ConfigError) as err:
        hub.fetch(base.replace("http://", "http://alice:s3cret@") + "/missing.pth")
    assert "s3cret" not in str(err.value) and f"{base}/missing.pth cannot be downloaded" in str(err.value)


def test_names_and_urls_are_checked_without_the_network():
    assert hub.resolve_url("torchvision://resnet50") == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert hub.resolve_url("torchvision://resnet50.imagenet1k_v2").endswith("/resnet50-11ad3fa6.pth")
    assert hub.resolve_url("modelzoo://resnet101") == hub.resolve_url("torchvision://resnet101")
    assert hub.resolve_url("open-mmlab://resnet50_caffe") == hub.resolve_url("open-mmlab://detectron/resnet50_caffe")
    with pytest.raises(ConfigError, match=r"resnet5. is not a name .* did you mean torchvision://resnet50,"):
        hub.resolve_url("torchvision://resnet5")
    with pytest.raises(ConfigError, match="not a URL of a file"):
        hub.resolve_url("https://download.openmmlab.com/")
