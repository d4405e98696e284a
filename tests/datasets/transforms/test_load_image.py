"""LoadImage: OpenCV-exact BGR decoding, clear errors, optional simplejpeg backend."""
import io

import cv2
import numpy as np
import pytest

from mlpose.datasets.transforms import LoadImage, decode_image
from mlpose.datasets.transforms.loading import exif_orientation, simplejpeg
from mlpose.errors import ConfigError, DataError
from mlpose.registry import TRANSFORMS, build


def test_loads_bgr_uint8_and_shapes_and_keeps_raw_keypoints(tf, jpeg_path):
    item = tf.make_item(jpeg_path)
    out = build(dict(type="LoadImage"), TRANSFORMS)(item)
    expected = cv2.imread(str(jpeg_path))
    assert out["img"].dtype == np.uint8
    np.testing.assert_array_equal(out["img"], expected)
    assert out["img_shape"] == (120, 100) and out["ori_shape"] == (120, 100)
    np.testing.assert_array_equal(out["raw_keypoints"], item["keypoints"])
    assert out["raw_keypoints"] is not out["keypoints"]


def test_missing_file_error_names_the_path(tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(DataError, match="nope.jpg"):
        LoadImage()(dict(img_path=str(missing)))
    assert LoadImage(ignore_empty=True)(dict(img_path=str(missing))) is None


def test_undecodable_file_error_names_the_path(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="broken.jpg"):
        LoadImage()(dict(img_path=str(bad)))


def test_in_memory_image_is_kept(tf):
    img = tf.textured_image(30, 20)
    out = LoadImage()(dict(img=img))
    assert out["img"] is img and out["img_shape"] == (30, 20)


def test_mmpose_arguments_and_bad_values():
    assert LoadImage(imdecode_backend="cv2", backend_args=None).backend == "cv2"
    with pytest.raises(ConfigError, match="backend"):
        LoadImage(backend="pillow")
    with pytest.raises(ConfigError, match="color_type"):
        LoadImage(color_type="grayscale")
    with pytest.raises(ConfigError, match="backend_args"):
        LoadImage(backend_args=dict(backend="petrel"))


def jpeg_with_orientation(img: np.ndarray, orientation: int) -> bytes:
    from PIL import Image

    pil = Image.fromarray(img[..., ::-1])
    exif = pil.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    pil.save(buf, "JPEG", exif=exif.tobytes(), quality=95)
    return buf.getvalue()


def test_exif_orientation_parser(tf):
    img = tf.textured_image(40, 60)
    assert exif_orientation(cv2.imencode(".jpg", img)[1].tobytes()) == 1
    assert exif_orientation(jpeg_with_orientation(img, 6)) == 6
    assert exif_orientation(jpeg_with_orientation(img, 1)) == 1
    assert exif_orientation(b"\xff\xd8\xff") is None  # truncated


@pytest.mark.parametrize("backend", ["auto", "simplejpeg"])
def test_fast_backend_gives_opencv_pixels(tf, backend, tmp_path):
    img = tf.textured_image(64, 48, seed=3)
    cases = [
        cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes(),
        cv2.imencode(".jpg", img[..., 0])[1].tobytes(),  # grayscale JPEG
        cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes(),
        jpeg_with_orientation(img, 6),  # OpenCV rotates it; the fast path must too (fallback)
        cv2.imencode(".png", img)[1].tobytes(),
    ]
    for data in cases:
        expected = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        np.testing.assert_array_equal(decode_image(data, backend), expected)
    if simplejpeg is None:
        pytest.skip("simplejpeg not installed: only the OpenCV fallback was exercised")
