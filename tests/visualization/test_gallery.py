"""Sample tiles, grids (RGB for MLflow) and the per-keypoint bar chart."""
import numpy as np

from mlpose.visualization.gallery import TILE_SIZE, keypoint_chart, sample_tile, tile_grid


def _tile(img=None, label="7  OKS 0.50"):
    kp = np.array([[40.0, 40.0], [60.0, 80.0]])
    return sample_tile(img, np.array([30, 30, 70, 90]), kp, np.ones(2), kp + 2, np.ones(2),
                       skeleton=[(0, 1)], label=label)


def test_tile_has_the_fixed_size_and_draws_on_the_cut_out_box():
    img = np.zeros((120, 100, 3), np.uint8)
    tile = _tile(img)
    assert tile.shape == (TILE_SIZE[1], TILE_SIZE[0], 3) and tile.dtype == np.uint8
    assert (tile[: TILE_SIZE[1] - 16] != 0).any()  # keypoints and links drawn above the label
    assert (_tile(None)[:10] == 96).all()  # an unreadable image gives a grey tile, no error


def test_grid_rows_of_four_in_rgb():
    red_bgr = np.zeros((10, 8, 3), np.uint8)
    red_bgr[..., 2] = 255
    grid = tile_grid([red_bgr] * 5, cols=4, gap=2)
    assert grid.shape == (2 * 10 + 2, 4 * 8 + 3 * 2, 3)
    assert tuple(grid[0, 0]) == (255, 0, 0)  # RGB, as MLflow's log_image expects
    assert tuple(grid[-1, -1]) == (16, 16, 16)  # the last row is padded


def test_keypoint_chart_is_an_rgb_image_and_survives_nan():
    img = keypoint_chart(["nose", "eye"], np.array([0.5, np.nan]), np.array([3.0, np.nan]), "coco step 8")
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8 and img.shape[0] > 50
