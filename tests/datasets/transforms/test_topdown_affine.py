"""Warp matrices and TopdownAffine: MMPose's construction, inverses, pixel placement."""
import cv2
import numpy as np
import pytest

from mlpose.datasets.transforms import TopdownAffine, get_udp_warp_matrix, get_warp_matrix, invert_affine
from mlpose.datasets.transforms.warp import apply_affine, fix_aspect_ratio
from mlpose.errors import ConfigError


def three_point_matrix(center, scale, rot, out_size):
    """MMPose's documented construction: centre, a point above it rotated by ``rot``, and a
    third point at 90 degrees, mapped to the output centre and the matching points."""
    t = np.deg2rad(rot)
    up = np.array([0.0, -0.5 * scale[0]])
    src_dir = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ up
    dst_c = np.array(out_size) * 0.5
    dst_dir = np.array([0.0, -0.5 * out_size[0]])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    src = np.array([center, center + src_dir, third(center, center + src_dir)], np.float32)
    dst = np.array([dst_c, dst_c + dst_dir, third(dst_c, dst_c + dst_dir)], np.float32)
    return cv2.getAffineTransform(src, dst)


@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0, 180.0])
def test_warp_matrix_equals_three_point_construction(rot):
    center, scale = np.array([120.0, 90.0]), np.array([150.0, 200.0])
    np.testing.assert_allclose(
        get_warp_matrix(center, scale, rot, (192, 256)),
        three_point_matrix(center, scale, rot, (192, 256)),
        atol=1e-4,
    )


@pytest.mark.parametrize("udp", [False, True])
def test_warp_then_inverse_recovers_keypoints(udp):
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 300, size=(1, 17, 2))
    center, scale = np.array([140.0, 160.0]), np.array([120.0, 160.0])
    mat = (get_udp_warp_matrix if udp else get_warp_matrix)(center, scale, 37.0, (192, 256))
    back = apply_affine(apply_affine(kp, mat), invert_affine(mat))
    np.testing.assert_allclose(back, kp, atol=1e-9)
    if not udp:
        np.testing.assert_allclose(get_warp_matrix(center, scale, 37.0, (192, 256), inv=True), invert_affine(mat))


def test_box_centre_and_edges_land_on_the_crop():
    center, scale = np.array([100.0, 80.0]), np.array([60.0, 80.0])
    mat = get_warp_matrix(center, scale, 0.0, (192, 256))
    np.testing.assert_allclose(apply_affine(np.array([[100.0, 80.0], [70.0, 40.0]]), mat), [[96, 128], [0, 0]])
    udp = get_udp_warp_matrix(center, scale, 0.0, (192, 256))
    np.testing.assert_allclose(apply_affine(np.array([[100.0, 80.0], [70.0, 40.0]]), udp), [[95.5, 127.5], [0, 0]])


def test_fix_aspect_ratio_only_grows():
    out = fix_aspect_ratio(np.array([[30.0, 100.0], [100.0, 30.0]], np.float32), 0.75)
    np.testing.assert_allclose(out, [[75, 100], [100, 100 / 0.75]])


def test_topdown_affine_outputs_and_pixel_placement(tf):
    img = np.zeros((120, 100, 3), np.uint8)
    item = tf.make_item(img_size=(100, 120))
    item["keypoints"][0, 5] = [62.0, 71.0]
    cv2.circle(img, (62, 71), 2, (255, 255, 255), -1)
    item.update(img=img, img_shape=img.shape[:2], bbox_center=np.array([[50.0, 60.0]], np.float32),
                bbox_scale=np.array([[70.0, 80.0]], np.float32), bbox_rotation=np.array([25.0], np.float32))
    out = TopdownAffine(input_size=(48, 64))(item)
    assert out["img"].shape == (64, 48, 3) and out["img"].dtype == np.uint8
    assert out["input_size"] == (48, 64)
    np.testing.assert_allclose(out["bbox_scale"], [[70, 70 / 0.75]], rtol=1e-6)
    np.testing.assert_allclose(out["input_scale"], [70, 70 / 0.75], rtol=1e-6)
    tk = out["transformed_keypoints"]
    assert tk.shape == (1, 17, 2) and tk.dtype == np.float32
    gray = out["img"][..., 0].astype(np.float64)
    ys, xs = np.nonzero(gray > 0.5 * gray.max())
    weights = gray[ys, xs]
    blob = [np.average(xs, weights=weights), np.average(ys, weights=weights)]
    np.testing.assert_allclose(blob, tk[0, 5], atol=0.6)


def test_affine_rejects_several_boxes_and_bad_size(tf):
    item = dict(img=tf.textured_image(), bbox_center=np.zeros((2, 2)), bbox_scale=np.ones((2, 2)))
    with pytest.raises(ValueError, match="one box"):
        TopdownAffine((48, 64))(item)
    with pytest.raises(ConfigError, match="input_size"):
        TopdownAffine(input_size=192)
