"""Image loading, with an optional faster JPEG decoder that gives OpenCV's exact pixels."""
from __future__ import annotations

import struct

import cv2
import numpy as np

from mlpose.datasets.transforms.common import keep_raw_annotations
from mlpose.errors import ConfigError, DataError
from mlpose.registry import TRANSFORMS

try:  # optional: libjpeg-turbo bindings, ~10-15% faster than cv2.imdecode on small JPEGs
    import simplejpeg
except ImportError:  # pragma: no cover - depends on the environment
    simplejpeg = None

BACKENDS = ("cv2", "simplejpeg", "auto")


def exif_orientation(data: bytes) -> int | None:
    """EXIF orientation (1-8) of JPEG bytes, 1 when absent, None when it cannot be read."""
    pos, end = 2, len(data)
    while pos + 4 <= end and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xDA, 0xD9):  # start of scan / end of image: no more metadata
            return 1
        length = (data[pos + 2] << 8) | data[pos + 3]
        if marker == 0xE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            return _tiff_orientation(data[pos + 10 : pos + 2 + length])
        pos += 2 + length
    return None  # truncated or malformed marker chain


def _tiff_orientation(tiff: bytes) -> int | None:
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd,) = struct.unpack(order + "I", tiff[4:8])
        (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
        for i in range(count):
            entry = tiff[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
            tag, _, _, value = struct.unpack(order + "HHIH", entry[:10])
            if tag == 0x0112:
                return value
        return 1
    except (KeyError, struct.error):
        return None


def decode_image(data: bytes, backend: str = "cv2") -> np.ndarray | None:
    """Decode image bytes to BGR uint8 ``(H, W, 3)`` exactly as ``cv2.imdecode(IMREAD_COLOR)``.

    ``'simplejpeg'``/``'auto'`` use libjpeg-turbo directly for plain JPEGs (same library and
    settings as OpenCV, so the same pixels) and fall back to OpenCV for everything else:
    other formats, EXIF-rotated JPEGs (OpenCV applies the rotation), CMYK, or a missing package.

    Returns:
        The image, or None when the bytes cannot be decoded.
    """
    if backend != "cv2" and simplejpeg is not None and data[:2] == b"\xff\xd8":
        if exif_orientation(data) == 1:
            try:
                return simplejpeg.decode_jpeg(data, colorspace="BGR")
            except ValueError:
                pass  # e.g. CMYK or a damaged file: let OpenCV decide
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def bad_image_message(results: dict, problem: str) -> str:
    """One line naming the image file, its annotation and image ids, the problem and the ways out."""
    ids = ", ".join(f"{name} {results[key]}" for key, name in (("id", "annotation id"), ("img_id", "image id"))
                    if results.get(key) is not None)
    return (f"{results.get('img_path')}: {problem}{f' ({ids})' if ids else ''}; replace or remove the file, "
            "or set data_cfg.skip_bad_images=True to train without it")


@TRANSFORMS.register()
class LoadImage:
    """Read ``img_path`` into a BGR uint8 image.

    If ``img`` is already set (an in-memory image) it is kept and only the shape keys are set.
    Also keeps an untouched copy of the GT keypoints (see ``keep_raw_annotations``).

    Required keys: img_path (or img).
    Added keys: img ``(H, W, 3)`` uint8 BGR, img_shape ``(H, W)``, ori_shape ``(H, W)``,
    raw_keypoints, raw_keypoints_visible (when keypoints are present).

    Args:
        backend: ``'auto'`` (default: libjpeg-turbo for plain
            JPEGs through ``simplejpeg`` when installed, OpenCV otherwise), ``'cv2'`` or ``'simplejpeg'``; the
            pixels are identical either way).
        to_float32: convert the image to float32.
        color_type: only ``'color'`` (3-channel BGR) is supported.
        imdecode_backend: MMPose's name for ``backend``; overrides it when given.
        backend_args: MMPose file-backend arguments; only local files (None) are supported.
        ignore_empty: return None instead of raising when the file is missing or unreadable.
    """

    def __init__(
        self,
        backend: str = "auto",
        to_float32: bool = False,
        color_type: str = "color",
        imdecode_backend: str | None = None,
        backend_args: dict | None = None,
        ignore_empty: bool = False,
    ):
        backend = imdecode_backend or backend
        if backend not in BACKENDS:
            raise ConfigError(f"LoadImage.backend: {backend!r} is not one of {BACKENDS}")
        if color_type != "color":
            raise ConfigError(f"LoadImage.color_type: only 'color' is supported, got {color_type!r}")
        if backend_args not in (None, {}, {"backend": "local"}):
            raise ConfigError(
                f"LoadImage.backend_args: only local files are supported, got {backend_args!r}; "
                "remove backend_args"
            )
        self.backend = backend
        self.to_float32 = to_float32
        self.ignore_empty = ignore_empty

    def __call__(self, results: dict) -> dict | None:
        img = results.get("img")
        if img is None:
            path = results["img_path"]
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as exc:
                if self.ignore_empty:
                    return None
                raise DataError(bad_image_message(results, f"cannot read the image file ({exc.strerror or exc})")) from None
            try:
                img = decode_image(data, self.backend) if data else None
            except cv2.error:
                img = None
            if img is None:
                if self.ignore_empty:
                    return None
                what = "the image file is empty (0 bytes)" if not data else f"not a decodable image ({len(data)} bytes)"
                raise DataError(bad_image_message(results, what))
        elif not isinstance(img, np.ndarray):
            raise TypeError(f"LoadImage: results['img'] must be a numpy array, got {type(img)}")
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        keep_raw_annotations(results)
        return results

    def __repr__(self) -> str:
        return f"LoadImage(backend={self.backend!r}, to_float32={self.to_float32})"
