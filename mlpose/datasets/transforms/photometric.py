"""Colour augmentations on the uint8 BGR crop: MMPose's PhotometricDistortion, mmdet's YOLOX HSV.

Both give the same pixels as MMPose 1.3.2 / mmdet 3.2 for the same numpy RNG state (same draws in
the same order, same OpenCV conversions); the per-value arithmetic runs as 256-entry lookup tables
(``cv2.LUT``), which is exact for a function of one uint8 value and several times faster than
float arithmetic over the image. They change pixel values only, so a flip that ``RandomFlip``
left pending for ``TopdownAffine`` may stay pending.
"""
from __future__ import annotations

from numbers import Number

import cv2
import numpy as np

from mlpose.errors import ConfigError
from mlpose.registry import TRANSFORMS

_LEVELS = np.arange(256, dtype=np.float32)
_IDENTITY = np.arange(256, dtype=np.uint8)


def _range(value, key: str) -> tuple[float, float]:
    """``(low, high)`` with ``0 <= low <= high``, or a ConfigError naming ``key``."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected (low, high), got {value!r}") from None
    if not 0.0 <= lo <= hi:
        raise ConfigError(f"{key}: expected 0 <= low <= high, got {value!r}")
    return lo, hi


def _delta(value, key: str, high: float = float("inf")) -> Number:
    if isinstance(value, bool) or not isinstance(value, Number) or not 0 <= value <= high:
        raise ConfigError(f"{key}: expected a number in [0, {high}], got {value!r}")
    return value


def _affine_lut(alpha: float = 1.0, beta: float = 0.0) -> np.ndarray:
    """``uint8(clip(v * alpha + beta, 0, 255))`` for every level ``v``, in float32 as MMPose's
    ``_convert``."""
    return np.clip(_LEVELS * alpha + beta, 0, 255).astype(np.uint8)


@TRANSFORMS.register()
class PhotometricDistortion:
    """MMPose's photometric distortion: brightness, contrast, HSV saturation/hue, channel swap.

    Exactly MMPose 1.3.2's draws, in its order, all from numpy's global RNG: contrast_mode,
    brightness/contrast flags (each 1/2), hsv_mode (0-3: none, saturation, hue, both), swap
    flag (1/2), brightness ``U(-d, d)``, contrast ``U(range)``, saturation ``U(range)``, hue
    ``randint(-d, d)`` and a channel permutation. Two MMPose quirks are kept so that the numbers
    match: contrast runs both before and after the HSV step when ``contrast_mode == 1`` (and not
    at all when 0), and a hue shift below 0 wraps through uint8 (256 + h) before OpenCV reads
    the hue modulo 180.

    Required keys: img ``(H, W, 3)`` uint8 BGR.
    Modified keys: img.

    Args:
        brightness_delta: brightness offset range ``[-d, d]`` in grey levels.
        contrast_range: ``(low, high)`` contrast factor range.
        saturation_range: ``(low, high)`` saturation factor range.
        hue_delta: hue offset range in OpenCV hue units (2 degrees each); 0 turns hue off.
    """

    def __init__(
        self,
        brightness_delta: int = 32,
        contrast_range: tuple[float, float] = (0.5, 1.5),
        saturation_range: tuple[float, float] = (0.5, 1.5),
        hue_delta: int = 18,
    ):
        self.brightness_delta = _delta(brightness_delta, "PhotometricDistortion.brightness_delta", 255)
        self.contrast_range = _range(contrast_range, "PhotometricDistortion.contrast_range")
        self.saturation_range = _range(saturation_range, "PhotometricDistortion.saturation_range")
        if isinstance(hue_delta, bool) or not isinstance(hue_delta, int):
            raise ConfigError(f"PhotometricDistortion.hue_delta: expected an int in [0, 180], got {hue_delta!r}")
        self.hue_delta = _delta(hue_delta, "PhotometricDistortion.hue_delta", 180)

    def _draw(self) -> tuple:
        flags = [np.random.randint(2), np.random.randint(2), np.random.randint(2), np.random.randint(4),
                 np.random.randint(2)]
        beta = np.random.uniform(-self.brightness_delta, self.brightness_delta)
        alpha = np.random.uniform(*self.contrast_range)
        saturation = np.random.uniform(*self.saturation_range)
        hue = np.random.randint(-self.hue_delta, self.hue_delta) if self.hue_delta else 0
        return (*flags, beta, alpha, saturation, hue, np.random.permutation(3))

    def __call__(self, results: dict) -> dict:
        mode, bright, contrast, hsv, swap, beta, alpha, saturation, hue, order = self._draw()
        contrast_lut = _affine_lut(alpha=alpha) if mode == 1 and contrast else None
        # consecutive per-level steps compose into one table: brightness, then contrast
        lut = _affine_lut(beta=beta) if bright else None
        if contrast_lut is not None:
            lut = contrast_lut if lut is None else contrast_lut[lut]
        img = results["img"] if lut is None else cv2.LUT(results["img"], lut)
        if hsv:
            h, s, v = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
            if hsv in (1, 3):
                s = cv2.LUT(s, _affine_lut(alpha=saturation))
            if hsv in (2, 3):  # MMPose adds the offset in int and stores it in uint8: modulo 256
                h = cv2.LUT(h, ((_IDENTITY.astype(np.int64) + hue) % 256).astype(np.uint8))
            img = cv2.cvtColor(cv2.merge([h, s, v]), cv2.COLOR_HSV2BGR)
        if contrast_lut is not None:
            img = cv2.LUT(img, contrast_lut)
        if swap:
            channels = cv2.split(img)  # a few times faster than numpy's img[..., order]
            img = cv2.merge([channels[i] for i in order])
        results["img"] = img
        return results

    def __repr__(self) -> str:
        return (f"PhotometricDistortion(brightness_delta={self.brightness_delta}, "
                f"contrast_range={self.contrast_range}, saturation_range={self.saturation_range}, "
                f"hue_delta={self.hue_delta})")


@TRANSFORMS.register()
class YOLOXHSVRandomAug:
    """mmdet's YOLOX HSV jitter (MMPose's RTMPose configs write ``mmdet.YOLOXHSVRandomAug``).

    Gains ``U(-1, 1) * (hue_delta, saturation_delta, value_delta)``, each kept with
    probability 1/2 and truncated to an integer; then in OpenCV's HSV (hue 0-179) the hue is
    shifted modulo 180 and saturation and value are shifted and clipped to ``[0, 255]``. The
    BGR -> HSV -> BGR round trip always runs, as in mmdet (it is not lossless).

    Required keys: img ``(H, W, 3)`` uint8 BGR.
    Modified keys: img.

    Args:
        hue_delta: hue gain range in OpenCV hue units (2 degrees each).
        saturation_delta: saturation gain range in levels.
        value_delta: value gain range in levels.
    """

    def __init__(self, hue_delta: int = 5, saturation_delta: int = 30, value_delta: int = 30):
        self.hue_delta = _delta(hue_delta, "YOLOXHSVRandomAug.hue_delta", 180)
        self.saturation_delta = _delta(saturation_delta, "YOLOXHSVRandomAug.saturation_delta", 255)
        self.value_delta = _delta(value_delta, "YOLOXHSVRandomAug.value_delta", 255)

    def __call__(self, results: dict) -> dict:
        gains = np.random.uniform(-1, 1, 3) * [self.hue_delta, self.saturation_delta, self.value_delta]
        gains = (gains * np.random.randint(0, 2, 3)).astype(np.int16)
        levels = _IDENTITY.astype(np.int16)
        lut = np.stack([(levels + gains[0]) % 180, np.clip(levels + gains[1], 0, 255),
                        np.clip(levels + gains[2], 0, 255)], axis=-1).astype(np.uint8)[:, None, :]
        hsv = cv2.LUT(cv2.cvtColor(results["img"], cv2.COLOR_BGR2HSV), lut)
        results["img"] = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        return results

    def __repr__(self) -> str:
        return (f"YOLOXHSVRandomAug(hue_delta={self.hue_delta}, saturation_delta={self.saturation_delta}, "
                f"value_delta={self.value_delta})")
