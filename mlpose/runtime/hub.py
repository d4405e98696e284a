"""Pretrained weights by name or URL, downloaded once into torch's hub cache::

    path = fetch("torchvision://resnet50")   # $TORCH_HOME/hub/checkpoints/resnet50-0676ba61.pth

References (in ``init_cfg.checkpoint``, ``load_from``, ``--model`` and ``mlpose test CHECKPOINT``):

- ``torchvision://NAME`` (``modelzoo://NAME``): torchvision's model table as MMEngine's
  ``torchvision`` scheme reads it: the classic names (``resnet50``) and, for the ResNet family,
  the weight-enum names (``resnet50.imagenet1k_v2``, ``resnet50.default``);
- ``open-mmlab://NAME`` (``openmmlab://NAME``) and ``mmcls://NAME``: MMEngine's OpenMMLab and
  MMClassification tables (the names MMPose 1.x configs use and the common ones);
- ``http://`` and ``https://`` URLs.

The cache is torch's: ``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``,
default ``~/.cache/torch/hub/checkpoints``), one file per URL named by the URL's last path
component, as ``torch.hub.load_state_dict_from_url`` and MMEngine name it. A file there, whether
downloaded by torch, MMEngine, mlpose or put there by hand, is used as it is without touching the
network. A download goes to a temporary file in that folder, renamed into place when complete; a
file name of the form ``NAME-<hex>.ext`` promises that its sha256 starts with ``<hex>``, checked as
``load_state_dict_from_url(check_hash=True)`` does (a file that fails is not kept).

``MLPOSE_HUB_MIRROR=URL`` fetches ``https://HOST/PATH`` from ``URL/HOST/PATH`` instead (a mirror
of download.pytorch.org / download.openmmlab.com laid out by host name); cache names are unchanged.
"""
from __future__ import annotations

import difflib
import hashlib
import http.client
import logging
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable

from mlpose.errors import ConfigError, first_line

logger = logging.getLogger(__name__)

MIRROR_ENV = "MLPOSE_HUB_MIRROR"
_TV = "https://download.pytorch.org/models/"
_MM = "https://download.openmmlab.com/"
_MMCLS = _MM + "mmclassification/v0/"
_THIRD = _MM + "pretrain/third_party/"
# torch.hub's rule: the first "-<hex>." in a file name is a prefix of the file's sha256
_HASH = re.compile(r"-([a-f0-9]*)\.")

# torchvision's model_urls table (torchvision 0.12, which MMEngine keeps for these names), and
# the weight-enum names of torchvision >= 0.13 for the ResNet family.
TORCHVISION = {name: _TV + file for name, file in {
    "alexnet": "alexnet-owt-7be5be79.pth",
    "densenet121": "densenet121-a639ec97.pth", "densenet161": "densenet161-8d451a50.pth",
    "densenet169": "densenet169-b2777c0a.pth", "densenet201": "densenet201-c1103571.pth",
    "googlenet": "googlenet-1378be20.pth", "inception_v3_google": "inception_v3_google-0cc3c7bd.pth",
    "mobilenet_v2": "mobilenet_v2-b0353104.pth", "mobilenet_v3_large": "mobilenet_v3_large-8738ca79.pth",
    "mobilenet_v3_small": "mobilenet_v3_small-047dcff4.pth",
    "resnet18": "resnet18-f37072fd.pth", "resnet34": "resnet34-b627a593.pth", "resnet50": "resnet50-0676ba61.pth",
    "resnet101": "resnet101-63fe2227.pth", "resnet152": "resnet152-394f9c45.pth",
    "resnext50_32x4d": "resnext50_32x4d-7cdf4587.pth", "resnext101_32x8d": "resnext101_32x8d-8ba56ff5.pth",
    "wide_resnet50_2": "wide_resnet50_2-95faca4d.pth", "wide_resnet101_2": "wide_resnet101_2-32ee1156.pth",
    "shufflenetv2_x0.5": "shufflenetv2_x0.5-f707e7126e.pth", "shufflenetv2_x1.0": "shufflenetv2_x1-5666bf0f80.pth",
    "squeezenet1_0": "squeezenet1_0-b66bff10.pth", "squeezenet1_1": "squeezenet1_1-b8a52dc0.pth",
    "vgg11": "vgg11-8a719046.pth", "vgg13": "vgg13-19584684.pth", "vgg16": "vgg16-397923af.pth",
    "vgg19": "vgg19-dcbb9e9d.pth", "vgg11_bn": "vgg11_bn-6002323d.pth", "vgg13_bn": "vgg13_bn-abd245e5.pth",
    "vgg16_bn": "vgg16_bn-6c64b313.pth", "vgg19_bn": "vgg19_bn-c79401a0.pth",
    **{f"efficientnet_b{i}": f"efficientnet_b{i}_{file}" for i, file in enumerate((
        "rwightman-3dd342df.pth", "rwightman-533bc792.pth", "rwightman-bcdf34b7.pth", "rwightman-cf984f9c.pth",
        "rwightman-7eb33cd5.pth", "lukemelas-b6417697.pth", "lukemelas-c76e70fd.pth", "lukemelas-dcc49843.pth"))},
    **{f"regnet_{kind}_{size}": f"regnet_{kind}_{size}-{digest}.pth" for kind, size, digest in (
        ("y", "400mf", "c65dace8"), ("y", "800mf", "1b27b58c"), ("y", "1_6gf", "b11a554e"), ("y", "3_2gf", "b5a9779c"),
        ("y", "8gf", "d0d0e4a8"), ("y", "16gf", "9e6ed7dd"), ("y", "32gf", "4dee3f7a"), ("x", "400mf", "adf1edd5"),
        ("x", "800mf", "ad17e45c"), ("x", "1_6gf", "e3633e7f"), ("x", "3_2gf", "f342aeae"), ("x", "8gf", "03ceed89"),
        ("x", "16gf", "2007eb11"), ("x", "32gf", "9d47f8d0"))},
}.items()}
_V2 = {"resnet50": "resnet50-11ad3fa6.pth", "resnet101": "resnet101-cd907fc2.pth",
       "resnet152": "resnet152-f82ba261.pth", "resnext50_32x4d": "resnext50_32x4d-1a0047aa.pth",
       "resnext101_32x8d": "resnext101_32x8d-110c445d.pth", "wide_resnet50_2": "wide_resnet50_2-9ba9bcbe.pth",
       "wide_resnet101_2": "wide_resnet101_2-d733dc28.pth"}
for _name in ("resnet18", "resnet34", *_V2):  # resnet18/34 have only V1 weights
    TORCHVISION[f"{_name}.imagenet1k_v1"] = TORCHVISION[f"{_name}.default"] = TORCHVISION[_name]
    if _name in _V2:
        TORCHVISION[f"{_name}.imagenet1k_v2"] = TORCHVISION[f"{_name}.default"] = _TV + _V2[_name]
TORCHVISION["resnext101_64x4d.imagenet1k_v1"] = TORCHVISION["resnext101_64x4d.default"] = (
    _TV + "resnext101_64x4d-173b62eb.pth")
del _name

# MMEngine's open-mmlab:// table (hub/openmmlab.json): HRNet, ResNet/ResNeXt variants, common backbones.
OPENMMLAB = {name: _THIRD + file for name, file in {
    **{f"msra/hrnetv2_{w}": f"hrnetv2_{w}-{digest}.pth" for w, digest in (
        ("w18_small", "b5a04e21"), ("w18", "00eb2006"), ("w32", "dc9eeb4f"), ("w40", "ed0b031c"), ("w48", "d2186c55"))},
    "resnet18_v1c": "resnet18_v1c-b5776b93.pth", "resnet50_v1c": "resnet50_v1c-2cccc1ad.pth",
    "resnet101_v1c": "resnet101_v1c-e67eebb6.pth",
    "resnext50_32x4d": "resnext50-32x4d-0ab1a123.pth", "resnext101_32x4d": "resnext101_32x4d-a5af3160.pth",
    "resnext101_64x4d": "resnext101_64x4d-ee2c6f71.pth",
    "detectron/resnet50_caffe": "resnet50_caffe-788b5fa3.pth",
    "detectron2/resnet50_caffe": "resnet50_msra-5891d200.pth",
    "detectron/resnet101_caffe": "resnet101_caffe-3ad79236.pth",
    "detectron2/resnet101_caffe": "resnet101_msra-6cc46731.pth",
    "vgg16_caffe": "vgg16_caffe-292e1171.pth", "darknet53": "darknet53-a628ea1b.pth",
    "contrib/mobilenet_v3_large": "mobilenet_v3_large-bc2c3fd3.pth",
    "contrib/mobilenet_v3_small": "mobilenet_v3_small-47085aa1.pth",
    "resnest50": "resnest50_d2-7497a55b.pth", "resnest101": "resnest101_d2-f3b931b2.pth",
    "resnest200": "resnest200_d2-ca88e41f.pth",
}.items()}
OPENMMLAB["mmdet/mobilenet_v2"] = _MM + "mmdetection/v2.0/third_party/mobilenet_v2_batch256_imagenet-ff34753d.pth"
OPENMMLAB_RENAMED = {"resnet50_caffe": "detectron/resnet50_caffe", "resnet101_caffe": "detectron/resnet101_caffe"}

# MMEngine's mmcls:// table (hub/mmcls.json): every name MMPose 1.x configs use, and the plain ResNets.
MMCLS = {name: _MMCLS + file for name, file in {
    **{f"resnet{d}": f"resnet/resnet{d}_8xb32_in1k_{date}-{digest}.pth" for d, date, digest in (
        (18, "20210831", "fbbb1da6"), (34, "20210831", "f257d4e6"), (50, "20210831", "ea4938fc"),
        (101, "20210831", "539c63f8"), (152, "20210901", "4d7582fa"))},
    **{f"resnet{d}_v1d": f"resnet/resnetv1d{d}_b32x8_imagenet_20210531-{digest}.pth" for d, digest in (
        (50, "db14775a"), (101, "6e13bcd3"), (152, "278cf22a"))},
    "resnext50_32x4d": "resnext/resnext50_32x4d_b32x8_imagenet_20210429-56066e27.pth",
    "resnext101_32x4d": "resnext/resnext101_32x4d_b32x8_imagenet_20210506-e0fa3dd5.pth",
    "resnext101_32x8d": "resnext/resnext101_32x8d_b32x8_imagenet_20210506-23a247d5.pth",
    "resnext152_32x4d": "resnext/resnext152_32x4d_b32x8_imagenet_20210524-927787be.pth",
    "se-resnet50": "se-resnet/se-resnet50_batch256_imagenet_20200804-ae206104.pth",
    "se-resnet101": "se-resnet/se-resnet101_batch256_imagenet_20200804-ba5b51d4.pth",
    **{f"resnest{d}": f"resnest/resnest{d}_imagenet_converted-{digest}.pth" for d, digest in (
        (50, "1ebf0afe"), (101, "032caa52"), (200, "581a60f2"), (269, "59930960"))},
    "shufflenet_v1": "shufflenet_v1/shufflenet_v1_batch1024_imagenet_20200804-5d6cec73.pth",
    "shufflenet_v2": "shufflenet_v2/shufflenet_v2_batch1024_imagenet_20200812-5bf4721e.pth",
    "mobilenet_v2": "mobilenet_v2/mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth",
    "vgg16_bn": "vgg/vgg16_bn_batch256_imagenet_20210208-7e55cd29.pth",
}.items()}

#: scheme -> (name table, renamed names): every reference that is not an http(s) URL.
TABLES = {"torchvision://": (TORCHVISION, {}), "modelzoo://": (TORCHVISION, {}),
          "open-mmlab://": (OPENMMLAB, OPENMMLAB_RENAMED), "openmmlab://": (OPENMMLAB, OPENMMLAB_RENAMED),
          "mmcls://": (MMCLS, {})}
SCHEMES = (*TABLES, "http://", "https://")


def is_remote(ref: object) -> bool:
    """Whether ``ref`` is a name or URL this module downloads (see the module docstring)."""
    return isinstance(ref, str) and ref.startswith(SCHEMES)


def resolve_url(ref: str) -> str:
    """The http(s) URL of ``ref`` (itself for a URL).

    Raises:
        ConfigError: an unknown name (with the closest known ones) or a URL without a file name.
    """
    for scheme, (table, renamed) in TABLES.items():
        if ref.startswith(scheme):
            name = renamed.get(ref[len(scheme):], ref[len(scheme):])
            if name not in table:
                close = difflib.get_close_matches(name, list(table), n=3)
                hint = f"did you mean {', '.join(scheme + c for c in close)}?" if close else (
                    f"known names: {', '.join(sorted(table)[:8])}, ...")
                raise ConfigError(f"{ref!r} is not a name mlpose knows for {scheme}; {hint} (or give the "
                                  "file's https:// URL or a local path)")
            return table[name]
    parts = urllib.parse.urlsplit(ref)
    if parts.scheme not in ("http", "https") or not parts.hostname or not os.path.basename(parts.path):
        raise ConfigError(f"{_shown(ref)!r} is not a URL of a file (http(s)://HOST/PATH/FILE.pth)")
    return ref


def hub_dir() -> Path:
    """torch's checkpoint cache folder: ``torch.hub.get_dir()/checkpoints``."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def cache_path(ref: str, folder: str | os.PathLike | None = None) -> Path:
    """Where ``ref``'s file is cached: ``folder`` (default :func:`hub_dir`) / the URL's file name."""
    url = resolve_url(ref)
    return Path(folder or hub_dir()) / os.path.basename(urllib.parse.urlsplit(url).path)


def fetch(ref: str, folder: str | os.PathLike | None = None, progress: bool = True,
          request: Callable[[str], urllib.request.Request] = urllib.request.Request) -> str:
    """The local file of ``ref``: the cached one, else downloaded once (see the module docstring).

    Args:
        ref: a ``torchvision://``, ``open-mmlab://``, ``mmcls://`` name or an http(s) URL.
        folder: the cache folder (default: torch's, :func:`hub_dir`).
        progress: draw a progress bar while downloading.
        request: builds the request for a URL (e.g. one that turns ``user:password@`` into a header).

    Returns:
        The path of the cached file.

    Raises:
        ConfigError: one line with the reference, the URL, the reason and the exact path to put
            the file at, for a failed download (offline, HTTP error, dropped connection, wrong hash).
    """
    url = resolve_url(ref)
    target = cache_path(url, folder)
    if target.is_file():
        return str(target)
    source = _mirrored(url)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _download(source, target, progress, request)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        shown = _shown(ref) if ref == url else f"{ref} ({_shown(url)})"
        via = f" from the mirror {_shown(source)}" if source != url else ""
        raise ConfigError(f"{shown} cannot be downloaded{via}: {_reason(exc)}; download the file elsewhere "
                          f"and put it at {target}") from None
    return str(target)


def _download(url: str, target: Path, progress: bool, request: Callable) -> None:
    """Stream ``url`` into a temporary file beside ``target``, check its size and hash prefix,
    then rename it to ``target``; nothing is left behind on failure."""
    logger.info("downloading %s to %s", _shown(url), target)
    with urllib.request.urlopen(request(url), timeout=60) as response:  # noqa: S310 - a URL the user configured
        total = int(response.headers.get("Content-Length") or 0) or None
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        try:
            digest, size = _copy(response, os.fdopen(fd, "wb"), target.name, total, progress)
            if total is not None and size != total:
                raise http.client.IncompleteRead(b"", total - size)
            wanted = _HASH.search(target.name)
            if wanted and not digest.startswith(wanted.group(1)):
                raise ValueError(f"its sha256 starts with {digest[:len(wanted.group(1))]}, not {wanted.group(1)} "
                                 "as its file name promises (a corrupt or substituted file; not kept)")
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)


def _copy(response, out, name: str, total: int | None, progress: bool) -> tuple[str, int]:
    """Copy the response body into ``out`` (closed after); returns (sha256 hex, bytes)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    sha, size = hashlib.sha256(), 0
    with out, Progress(TextColumn(name), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                       transient=True, disable=not progress) as bar:
        task = bar.add_task("download", total=total)
        while chunk := response.read(1 << 20):
            out.write(chunk)
            sha.update(chunk)
            size += len(chunk)
            bar.advance(task, len(chunk))
    return sha.hexdigest(), size


def _mirrored(url: str) -> str:
    """``url`` as fetched from ``$MLPOSE_HUB_MIRROR`` (``MIRROR/HOST/PATH``), or ``url`` without one."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return url
    parts = urllib.parse.urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.hostname}{parts.path}"


def _reason(exc: BaseException) -> str:
    """A short reason for a failed download."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}" + ("; check the user and password in the URL"
                                                  if exc.code in (401, 403) else "")
    if isinstance(exc, urllib.error.URLError):
        return f"no connection ({first_line(exc.reason) if isinstance(exc.reason, BaseException) else exc.reason})"
    if isinstance(exc, http.client.IncompleteRead):
        return f"the connection closed {exc.expected} bytes before the end of the file"
    if isinstance(exc, (TimeoutError, http.client.HTTPException)):
        return f"the connection failed ({first_line(exc)})"
    return first_line(exc)


def _shown(url: str) -> str:
    """``url`` without ``user:password@`` (never shown in messages or logs)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
