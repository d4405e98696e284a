"""Albumentation: MMPose's lists through the albumentations library, seeded from numpy, checked at load."""
import pickle
import random

import cv2
import numpy as np
import pytest

from mlpose.config import load_config
from mlpose.datasets.transforms import Albumentation
from mlpose.errors import ConfigError

# the lists of MMPose 1.3.2's configs, unchanged
RTMPOSE_STAGE1 = [dict(type="Blur", p=0.1), dict(type="MedianBlur", p=0.1),
                  dict(type="CoarseDropout", max_holes=1, max_height=0.4, max_width=0.4, min_holes=1,
                       min_height=0.2, min_width=0.2, p=1.0)]
HRNET_COARSE = [dict(type="CoarseDropout", max_holes=8, max_height=40, max_width=40, min_holes=1,
                     min_height=10, min_width=10, p=0.5)]
HRNET_GRID = [dict(type="GridDropout", unit_size_min=10, unit_size_max=40, random_offset=True, p=0.5)]


def crop(value: int = 200) -> dict:
    """A 256x192 network input of one non-zero grey level, and keypoints that must not move."""
    return dict(img=np.full((256, 192, 3), value, np.uint8),
                transformed_keypoints=np.array([[[50.0, 60.0]]], np.float32))


def run(transform, item: dict, seed: int) -> dict:
    np.random.seed(seed)
    return transform(item)


def test_rtmpose_coarse_dropout_makes_one_hole_of_20_to_40_percent_of_each_side():
    t = Albumentation(transforms=RTMPOSE_STAGE1[2:])
    heights, widths = [], []
    for seed in range(200):
        holes = (run(t, crop(), seed)["img"] == 0).all(axis=-1)
        num, labels, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8))
        assert num == 2, f"seed {seed}: {num - 1} holes"  # p=1: always exactly one
        x, y, w, h, area = stats[1]
        assert area == w * h  # a filled rectangle
        heights.append(h), widths.append(w)
    # albumentations: int(side * U(0.2, 0.4)) pixels
    assert int(0.2 * 256) <= min(heights) < 56 and 98 < max(heights) <= int(0.4 * 256)
    assert int(0.2 * 192) <= min(widths) < 42 and 73 < max(widths) <= int(0.4 * 192)


def test_hrnet_coarse_dropout_holes_are_10_to_40_pixels_half_the_time():
    t = Albumentation(transforms=HRNET_COARSE)
    applied, counts = 0, []
    for seed in range(200):
        holes = (run(t, crop(), seed)["img"] == 0).all(axis=-1)
        if not holes.any():
            continue
        applied += 1
        ys, xs = np.nonzero(holes)
        num, _, stats, _ = cv2.connectedComponentsWithStats(holes.astype(np.uint8))
        counts.append(num - 1)
        assert 10 * 10 <= holes.sum() <= 8 * 40 * 40
        assert (stats[1:, 2:4] >= 10).all()  # each hole (or overlap of holes) spans 10 px or more
    assert applied / 200 == pytest.approx(0.5, abs=0.08)
    assert min(counts) == 1 and 6 <= max(counts) <= 8  # 1 to 8 holes (overlapping ones merge)


def test_hrnet_grid_dropout_drops_a_regular_grid_half_the_time():
    t = Albumentation(transforms=HRNET_GRID)
    fractions = [(run(t, crop(), seed)["img"] == 0).all(axis=-1).mean() for seed in range(100)]
    applied = [f for f in fractions if f > 0]
    assert len(applied) / 100 == pytest.approx(0.5, abs=0.12)
    # ratio=0.5: half of each unit's side, a quarter of the area (less at the borders)
    assert 0.12 < np.mean(applied) < 0.3


def test_blur_changes_pixels_and_leaves_keypoints_alone(tf):
    t = Albumentation(transforms=[dict(type="Blur", p=1.0)])
    item = dict(img=tf.textured_image(256, 192), transformed_keypoints=np.array([[[50.0, 60.0]]], np.float32))
    before = item["img"].copy()
    out = run(t, item, 0)
    assert out["img"].shape == before.shape and out["img"].dtype == np.uint8
    assert (out["img"] != before).any()
    np.testing.assert_array_equal(out["transformed_keypoints"], [[[50.0, 60.0]]])


def test_rtmpose_blurs_each_happen_one_time_in_ten(tf):
    # no dropout here, so any change is a blur: P(Blur or MedianBlur) = 1 - 0.9 ** 2
    t = Albumentation(transforms=RTMPOSE_STAGE1[:2])
    img = tf.textured_image(256, 192)
    changed = np.mean([(run(t, dict(img=img.copy()), s)["img"] != img).any() for s in range(600)])
    assert changed == pytest.approx(0.19, abs=0.045)


def test_same_numpy_seed_same_pixels_and_python_random_untouched(tf):
    t = Albumentation(transforms=RTMPOSE_STAGE1)
    img = tf.textured_image(256, 192)
    random.seed(5)
    state = random.getstate()
    a, b = run(t, dict(img=img.copy()), 3)["img"], run(t, dict(img=img.copy()), 3)["img"]
    np.testing.assert_array_equal(a, b)
    assert random.getstate() == state  # only numpy's seeded stream is drawn from
    others = [run(t, dict(img=img.copy()), s)["img"] for s in range(4, 8)]
    assert any((o != a).any() for o in others)
    copy = pickle.loads(pickle.dumps(t))  # what a DataLoader worker gets
    np.testing.assert_array_equal(run(copy, dict(img=img.copy()), 3)["img"], a)


def test_keymap_names_the_results_key():
    t = Albumentation(transforms=[dict(type="InvertImg", p=1.0)], keymap={"img": "image"})
    assert (run(t, crop(200), 0)["img"] == 55).all()


@pytest.mark.parametrize("transforms,message", [
    ([dict(type="CoarseDropOut")],
     r"transforms\.0: 'CoarseDropOut' is not an albumentations .* did you mean CoarseDropout"),
    ([dict(type="Blur"), dict(type="CoarseDropout", max_hole=1)],
     r"transforms\.1: CoarseDropout .*no argument 'max_hole' \(did you mean 'max_holes'\?\)"),
    ([dict(type="Blur", p=2)], r"transforms\.0: Blur: p: Input should be less than or equal to 1"),
    ([dict(type="Blur", blur_limit=-3)], r"transforms\.0: Blur: blur_limit: Invalid kernel size"),
    ([dict(type="HorizontalFlip")], r"transforms\.0: HorizontalFlip moves or resizes pixels"),
    ([dict(type="OneOf", transforms=[dict(type="Blur"), dict(type="Rotate")])],
     r"transforms\.0\.transforms\.1: Rotate moves"),
    (["Blur"], r"transforms\.0: expected dict\(type="),
    ([], r"transforms: expected a non-empty list"),
])
def test_bad_entries_are_one_line_config_errors_naming_the_entry(transforms, message):
    with pytest.raises(ConfigError, match=message) as err:
        Albumentation(transforms=transforms)
    assert "\n" not in str(err.value)


def test_a_misspelt_transform_fails_at_config_load_naming_the_pipeline_entry(tmp_path):
    cfg = tmp_path / "bad_albu.py"
    cfg.write_text(
        "train_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),\n"
        "    dict(type='Albumentation', transforms=[dict(type='Blur', p=0.1), dict(type='MedianBlur', p=0.1),\n"
        "        dict(type='CoarseDropout', max_holes=1, max_heigth=0.4, p=1.0)])]\n")
    where = r"bad_albu\.py: train_pipeline\.2\.transforms\.2: CoarseDropout .*'max_heigth'"
    with pytest.raises(ConfigError, match=where):
        load_config(cfg)
    cfg.write_text("train_pipeline = [dict(type='Albumentation', transforms=[dict(type='Blurr')])]\n")
    with pytest.raises(ConfigError, match=r"train_pipeline\.0\.transforms\.0: 'Blurr'"):
        load_config(cfg)


def test_mmpose_lists_load_unchanged(tmp_path):
    cfg = tmp_path / "albu.py"
    cfg.write_text(f"train_pipeline = [dict(type='Albumentation', transforms={RTMPOSE_STAGE1!r}),\n"
                   f"    dict(type='Albumentation', transforms={HRNET_COARSE!r}),\n"
                   f"    dict(type='Albumentation', transforms={HRNET_GRID!r})]\n")
    load_config(cfg)
