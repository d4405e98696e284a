"""What ``mlpose infer`` reads: image files, folders, videos (every N-th frame), and bad inputs as
one line each while the rest is still read."""
import json
import os
import shutil

import cv2
import numpy as np
import pytest

from mlpose.errors import ConfigError
from mlpose.inference.sources import Detections, count_frames, example_person, expand_inputs, read_frames


def test_files_folders_and_coco_image_ids(tiny_data, tmp_path):
    val = tiny_data / "images" / "val"
    named = tmp_path / "street photo.png"
    cv2.imwrite(str(named), cv2.imread(str(next(val.iterdir()))))
    paths = expand_inputs([str(val), str(named)])
    frames = list(read_frames(paths))
    files = sorted(val.iterdir())
    assert [f.name for f in frames] == [str(p) for p in files] + [str(named)]
    assert [f.image_id for f in frames] == [int(p.stem) for p in files] + [1]  # COCO number, else the first free
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


def test_image_ids_are_unique_within_a_call(tiny_data, tmp_path, write_video):
    jpeg = next((tiny_data / "images" / "val").iterdir()).read_bytes()
    (tmp_path / "sub").mkdir()
    for name in ("a.jpg", "2.jpg", "sub/2.jpg", "3.jpg"):
        (tmp_path / name).write_bytes(jpeg)
    write_video(tmp_path / "clip.avi", 2)
    inputs = [str(tmp_path / n) for n in ("a.jpg", "2.jpg", "sub/2.jpg", "3.jpg", "clip.avi")]
    frames = list(read_frames(expand_inputs(inputs)))
    # a.jpg takes the first number no input is named by; sub/2.jpg loses 2 to 2.jpg; frames count on
    assert [f.image_id for f in frames] == [1, 2, 4, 3, 5, 6]
    assert [f.note for f in frames if f.note] == [f"{tmp_path / 'sub/2.jpg'}: image id 2 is taken by "
                                                  f"{tmp_path / '2.jpg'}; this image gets id 4"]
    assert [f.image_id for f in read_frames(expand_inputs([str(tmp_path / "clip.avi")]))] == [0, 1]  # alone


def test_an_empty_or_unreadable_file_in_a_folder_is_one_line_and_the_rest_is_read(tiny_data, tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(tiny_data / "images" / "val", folder)
    (folder / "000000000000.jpg").write_bytes(b"")  # first in sorted order
    (folder / "header.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    frames = list(read_frames(expand_inputs([str(folder), str(locked)])))
    problems = [f.problem for f in frames if f.problem]
    assert problems[0] == f"image {folder / '000000000000.jpg'} is empty (0 bytes)"
    assert "header.png is not a readable image (38 bytes" in problems[1]
    if os.geteuid() != 0:  # root reads any folder
        assert problems[2].startswith(f"folder {locked} cannot be read (Permission denied")
    assert len([f for f in frames if f.image is not None]) == 4
    locked.chmod(0o755)


def _detections(tmp_path, entries, thr=0.3):
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(entries))
    return Detections(str(path), thr)


def test_detections_say_how_they_matched_the_inputs(tiny_data, tmp_path):
    frames = [f for f in read_frames(expand_inputs([str(tiny_data / "images" / "val")]))]
    box = {"bbox": [1, 2, 30, 40], "score": 0.9}
    dets = _detections(tmp_path, [{"image_id": frames[0].image_id, **box}, {"image_id": 7, **box},
                                  {"file_name": "elsewhere.jpg", **box}])
    assert [len(dets.boxes_for(f)[0]) for f in frames] == [1, 0, 0, 0]
    warning, error = dets.matching(num_images=4, num_matched=1)
    assert error is None and warning.endswith("detections matched 1 of 4 images; 2 of its images match no input "
                                              "(file_name elsewhere.jpg, image_id 7); the other images get 0 people")
    none = _detections(tmp_path, [{"image_id": 7, **box}])
    assert none.boxes_for(frames[0])[0].shape == (0, 4)
    assert "no input matched its detections (image_id 7); give the entries a file_name" in none.matching(4, 0)[1]
    low = _detections(tmp_path, [{"image_id": frames[0].image_id, "bbox": [1, 2, 3, 4], "score": 0.1}])
    assert low.matching(4, 0) == (f"--boxes {tmp_path / 'dets.json'}: none of its 1 entries is a person box scoring "
                                  ">= --bbox-thr 0.3 (the best score is 0.1); every image gets 0 people", None)
    for bad in ({"image_id": "x", **box}, {"image_id": 1, "bbox": [1, 2, "a", 4]}, {"image_id": 1.5, **box},
                {"image_id": 1, "bbox": [1, 2, 3, 4], "score": None}):
        with pytest.raises(ConfigError, match=r"entry 0 .* needs image_id \(an integer\) or file_name, bbox"):
            _detections(tmp_path, [bad])
