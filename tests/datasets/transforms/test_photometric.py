"""PhotometricDistortion and YOLOXHSVRandomAug: ranges, probabilities, determinism, bad arguments."""
import cv2
import numpy as np
import pytest

from mlpose.datasets.transforms import PhotometricDistortion, YOLOXHSVRandomAug
from mlpose.errors import ConfigError
from mlpose.registry import TRANSFORMS, build

# one flat colour far from the hue wrap (OpenCV hue 0-179) and from the clip edges
BGR = (60, 120, 180)


def flat(bgr=BGR, h: int = 32, w: int = 24) -> np.ndarray:
    return np.tile(np.array(bgr, np.uint8), (h, w, 1))


def hsv_of(img: np.ndarray) -> np.ndarray:
    """HSV (OpenCV 8-bit) of a flat image's centre pixel, as ints."""
    return cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[img.shape[0] // 2, img.shape[1] // 2].astype(int)


def outputs(transform, img: np.ndarray, seeds=range(400)) -> list[np.ndarray]:
    out = []
    for s in seeds:
        np.random.seed(s)
        out.append(transform(dict(img=img.copy()))["img"])
    return out


def test_brightness_alone_shifts_by_at_most_delta_half_the_time():
    t = PhotometricDistortion(brightness_delta=32, contrast_range=(1, 1), saturation_range=(1, 1), hue_delta=0)
    grey = flat((128, 128, 128))
    shifts = np.array([int(o[0, 0, 0]) - 128 for o in outputs(t, grey)])
    assert all((o == o[0, 0, 0]).all() for o in outputs(t, grey, range(20)))  # grey stays grey
    assert np.abs(shifts).max() <= 32 and np.abs(shifts).max() >= 30
    assert (shifts != 0).mean() == pytest.approx(0.5, abs=0.07)


def test_contrast_alone_scales_within_range_squared_a_quarter_of_the_time():
    # MMPose 1.3.2 applies contrast before and after the HSV step in mode 1 and never in mode 0
    t = PhotometricDistortion(brightness_delta=0, contrast_range=(0.8, 1.2), saturation_range=(1, 1), hue_delta=0)
    grey = flat((100, 100, 100))
    ratios = np.array([o[0, 0, 0] / 100 for o in outputs(t, grey)])
    changed = ratios[np.abs(ratios - 1) > 0.011]
    assert len(changed) / len(ratios) == pytest.approx(0.25, abs=0.06)
    assert changed.min() >= 0.8**2 - 0.02 and changed.max() <= 1.2**2 + 0.01
    assert changed.min() < 0.7 and changed.max() > 1.35  # both ends of alpha**2 are reached


def test_saturation_and_hue_stay_in_range():
    t = PhotometricDistortion(brightness_delta=0, contrast_range=(1, 1), saturation_range=(0.5, 1.5), hue_delta=18)
    h0, s0, v0 = hsv_of(flat())
    outs = outputs(t, flat())
    hsv = np.array([hsv_of(o) for o in outs])
    # saturation and value do not depend on the channel order the last step may swap
    ratio_s = hsv[:, 1] / s0
    assert ratio_s.min() >= 0.5 - 0.02 and ratio_s.max() <= 1.5 + 0.02
    assert (np.abs(hsv[:, 2] - v0) <= 2).all()
    assert (np.abs(ratio_s - 1) > 0.03).mean() == pytest.approx(0.5, abs=0.07)  # hsv_mode 1 or 3 of 0-3
    # the hue before the swap: that of one of the output's channel orders
    orders = [(0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)]
    dh = np.array([min(abs(hsv_of(np.ascontiguousarray(o[..., p]))[0] - h0) for p in orders) for o in outs])
    assert dh.max() <= 18 and dh.max() >= 15
    assert (dh > 0).mean() == pytest.approx(0.5 * 35 / 36, abs=0.07)  # hsv_mode 2 or 3; randint(-18, 18) != 0


def test_channel_swap_permutes_the_channels_about_half_the_time():
    t = PhotometricDistortion(brightness_delta=0, contrast_range=(1, 1), saturation_range=(1, 1), hue_delta=0)
    img = flat()
    outs = outputs(t, img)
    # no hue/saturation change, so each output is a channel permutation of BGR (HSV round trip: +-1)
    for o in outs:
        assert sorted(int(v) for v in o[0, 0]) == pytest.approx(sorted(BGR), abs=1)
    swapped = np.mean([np.abs(o[0, 0].astype(int) - BGR).max() > 2 for o in outs])
    assert swapped == pytest.approx(0.5 * 5 / 6, abs=0.07)  # the identity permutation is one of 6


def test_yolox_gains_stay_in_range_each_half_the_time():
    t = build(dict(type="mmdet.YOLOXHSVRandomAug"), TRANSFORMS, "train_pipeline.6")  # MMPose's spelling
    assert isinstance(t, YOLOXHSVRandomAug)
    h0, s0, v0 = hsv_of(flat())
    d = np.array([hsv_of(o) for o in outputs(t, flat())]) - (h0, s0, v0)
    # this colour survives the HSV round trip to within a level, so the change is the gain
    for axis, delta in enumerate((5, 30, 30)):
        assert np.abs(d[:, axis]).max() <= delta + 1 and np.abs(d[:, axis]).max() >= delta - 2
        # kept with probability 1/2, and int(U(-1, 1) * delta) != 0 with probability 1 - 1 / delta
        assert (d[:, axis] != 0).mean() == pytest.approx(0.5 * (1 - 1 / delta), abs=0.07)


def test_hue_wraps_modulo_180_in_yolox():
    t = YOLOXHSVRandomAug(hue_delta=20, saturation_delta=0, value_delta=0)
    red = flat((20, 20, 230))  # hue near 0: a negative gain must come out near 179, not green
    hues = np.array([hsv_of(o)[0] for o in outputs(t, red, range(100))])
    assert ((hues <= 21) | (hues >= 159)).all() and (hues >= 159).any()


@pytest.mark.parametrize("transform", [PhotometricDistortion(), YOLOXHSVRandomAug()], ids=repr)
def test_same_seed_same_pixels_and_the_crop_keeps_its_shape(transform, tf):
    img = tf.textured_image(64, 48)
    a, b = outputs(transform, img, [7, 7])
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and a.dtype == np.uint8 and a.flags.c_contiguous
    assert any((o != a).any() for o in outputs(transform, img, range(8, 12)))


@pytest.mark.parametrize("kwargs,message", [
    (dict(contrast_range=(1.5, 0.5)), r"PhotometricDistortion\.contrast_range: expected 0 <= low <= high"),
    (dict(saturation_range=0.5), r"PhotometricDistortion\.saturation_range: expected \(low, high\)"),
    (dict(hue_delta=2.5), r"PhotometricDistortion\.hue_delta: expected an int"),
    (dict(brightness_delta=-1), r"PhotometricDistortion\.brightness_delta: expected a number in \[0, 255\]"),
])
def test_photometric_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PhotometricDistortion(**kwargs)


def test_yolox_bad_argument():
    with pytest.raises(ConfigError, match=r"YOLOXHSVRandomAug\.value_delta: expected a number"):
        YOLOXHSVRandomAug(value_delta="30")
