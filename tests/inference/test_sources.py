"""What ``mlpose infer`` reads: image files, folders, videos (every N-th frame), and bad inputs as
one line each while the rest is still read."""
import shutil

import cv2
import numpy as np
import pytest

from mlpose.errors import ConfigError
from mlpose.inference.sources import count_frames, example_person, expand_inputs, read_frames


def test_files_folders_and_coco_image_ids(tiny_data, tmp_path):
    val = tiny_data / "images" / "val"
    named = tmp_path / "street photo.png"
    cv2.imwrite(str(named), cv2.imread(str(next(val.iterdir()))))
    paths = expand_inputs([str(val), str(named)])
    frames = list(read_frames(paths))
    files = sorted(val.iterdir())
    assert [f.name for f in frames] == [str(p) for p in files] + [str(named)]
    assert [f.image_id for f in frames] == [int(p.stem) for p in files] + [5]  # COCO number, else position
    assert [f.vis_name for f in frames][-1] == "street photo.jpg"
    assert all(f.image.shape == (128, 128, 3) and f.image.dtype == np.uint8 and not f.problem for f in frames)
    assert np.array_equal(frames[0].image, cv2.imread(str(files[0])))  # decoded as LoadImage decodes
    assert count_frames(paths, every=1) == len(frames)


def test_video_frames_every_n(tmp_path, write_video):
    video = tmp_path / "walk.avi"
    written = write_video(video, 7)
    frames = list(read_frames(expand_inputs([str(video)]), every=3))
    assert [f.image_id for f in frames] == [0, 3, 6]
    assert [f.vis_name for f in frames] == ["walk/000000.jpg", "walk/000003.jpg", "walk/000006.jpg"]
    assert frames[1].name == f"{video}#000003"
    for f in frames:  # MJPG is lossy: the frame read back is close to the one written
        assert np.abs(f.image.astype(int) - written[f.image_id]).mean() < 4
    assert count_frames(expand_inputs([str(video)]), every=3) == 3
    with pytest.raises(ConfigError, match="--every must be >= 1"):
        list(read_frames(expand_inputs([str(video)]), every=0))


def test_bad_inputs_are_one_line_each_and_the_rest_is_read(tiny_data, tmp_path):
    good = tmp_path / "good.jpg"
    shutil.copy(next((tiny_data / "images" / "val").iterdir()), good)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    inputs = [str(tmp_path / "broken.jpg"), str(tmp_path / "empty"), str(tmp_path / "missing.png"),
              str(tmp_path / "broken.mp4"), str(good)]
    frames = list(read_frames(expand_inputs(inputs)))
    problems = [f.problem for f in frames if f.problem]
    assert len(problems) == 4 and all("\n" not in p for p in problems)
    assert "broken.jpg is not a readable image (20 bytes" in problems[0]
    assert problems[1].startswith(f"folder {tmp_path / 'empty'} has no images (.jpg")
    assert problems[2] == f"{tmp_path / 'missing.png'} does not exist"
    assert "broken.mp4" in problems[3] and "OpenCV" in problems[3]
    assert [f.name for f in frames if f.image is not None] == [str(good)]


def test_example_person_is_a_deterministic_picture_with_its_box():
    image, box = example_person()
    again, box2 = example_person()
    assert image.shape == (256, 192, 3) and np.array_equal(image, again) and box == box2
    x, y, w, h = box
    assert 0 <= x < x + w <= 192 and 0 <= y < y + h <= 256 and w * h > 2000
