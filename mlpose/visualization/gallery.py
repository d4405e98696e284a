"""Step pictures for the tracker: sample tiles with predicted and GT skeletons, grids, bar charts.

Everything here runs on the tracker's upload thread (it is handed over as a callable), so
reading images and drawing never take time from training. Tiles are BGR like OpenCV; the
grid and the chart that reach MLflow are RGB.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from mlpose.visualization.draw import draw_pose

TILE_SIZE = (144, 192)  # (w, h) pixels of one sample's tile
_LABEL_BG = (32, 32, 32)


def sample_tile(img: np.ndarray | None, box: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                gt_keypoints: np.ndarray, gt_visible: np.ndarray, skeleton: Sequence[tuple[int, int]] = (),
                label: str = "", size: tuple[int, int] = TILE_SIZE, kpt_thr: float = 0.0) -> np.ndarray:
    """One sample: its box (x1 y1 x2 y2 px, widened 25%) cut from ``img``, scaled into ``size``,
    GT in thin green and the prediction in colour on top, ``label`` along the bottom. Every
    predicted keypoint is drawn by default (``kpt_thr=0``): an early model's guesses are the story.

    Args:
        img: (H, W, 3) BGR uint8, or None (unreadable file: a grey tile).
        keypoints, gt_keypoints: (K, 2) image pixels. scores: (K,). gt_visible: (K,).

    Returns:
        (size[1], size[0], 3) BGR uint8.
    """
    w, h = size
    tile = np.full((h, w, 3), 96, np.uint8)
    if img is not None:
        box = np.asarray(box, np.float64).reshape(-1)[:4]
        center, half = (box[:2] + box[2:]) / 2, np.maximum((box[2:] - box[:2]) * 0.625, 4.0)
        scale = min(w / (2 * half[0]), h / (2 * half[1]))  # whole box inside, aspect kept
        origin = center - np.array([w, h]) / (2 * scale)
        warp = np.array([[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]])
        tile = cv2.warpAffine(img, warp, (w, h), flags=cv2.INTER_LINEAR, borderValue=(96, 96, 96))
        to_tile = lambda p: (np.asarray(p, np.float64) - origin) * scale  # noqa: E731
        tile = draw_pose(tile, to_tile(keypoints)[None], np.asarray(scores)[None], skeleton=skeleton,
                         kpt_thr=kpt_thr, radius=2, thickness=1, gt_keypoints=to_tile(gt_keypoints)[None],
                         gt_visible=np.asarray(gt_visible)[None])
    if label:
        cv2.rectangle(tile, (0, h - 16), (w, h), _LABEL_BG, -1)
        cv2.putText(tile, label, (3, h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def tile_grid(tiles: Sequence[np.ndarray], cols: int = 4, gap: int = 2) -> np.ndarray:
    """Tiles of one size in rows of ``cols`` (the last row padded) on a dark background;
    returns the grid as RGB uint8 (what MLflow expects)."""
    if not tiles:
        raise ValueError("tile_grid needs at least one tile")
    th, tw = tiles[0].shape[:2]
    cols = max(1, min(cols, len(tiles)))
    rows = -(-len(tiles) // cols)
    grid = np.full((rows * th + (rows - 1) * gap, cols * tw + (cols - 1) * gap, 3), 16, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        grid[r * (th + gap):r * (th + gap) + th, c * (tw + gap):c * (tw + gap) + tw] = tile
    return np.ascontiguousarray(grid[..., ::-1])


def keypoint_chart(names: Sequence[str], pck: np.ndarray, mean_error_px: np.ndarray, title: str) -> np.ndarray:
    """Two horizontal bar charts side by side: PCK and mean pixel error per keypoint.

    Drawn with matplotlib's Agg canvas directly (no pyplot: no global state, safe off the main
    thread). Returns the figure as an (H, W, 3) RGB uint8 array.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 0.8 + 0.22 * len(names)), dpi=80)
    canvas = FigureCanvasAgg(fig)
    ax_pck, ax_err = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(names))
    pck = np.nan_to_num(np.asarray(pck, np.float64), nan=0.0)
    err = np.nan_to_num(np.asarray(mean_error_px, np.float64), nan=0.0)
    ax_pck.barh(y, pck, color="#3b7dd8")
    ax_pck.set_xlim(0, 1)
    ax_pck.set_yticks(y, list(names), fontsize=7)
    ax_pck.invert_yaxis()
    ax_pck.set_xlabel("PCK")
    ax_err.barh(y, err, color="#d8643b")
    ax_err.set_xlabel("mean error (px)")
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.17, right=0.98, top=1 - 0.5 / fig.get_figheight(), bottom=0.5 / fig.get_figheight(),
                        wspace=0.06)  # fixed margins: tight_layout would cost more than the drawing
    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])
