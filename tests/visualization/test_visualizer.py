import json

import cv2
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlpose.errors import ConfigError
from mlpose.registry import VISBACKENDS
from mlpose.visualization.draw import GT_COLOR, draw_pose, show_image
from mlpose.visualization.visualizer import Visualizer, build_visualizer

MMPOSE_VISUALIZER = dict(type="PoseLocalVisualizer", name="visualizer",
                         vis_backends=[dict(type="LocalVisBackend"), dict(type="TensorboardVisBackend")])


def test_registered_backends():
    assert {"LocalVisBackend", "TensorboardVisBackend"} <= set(VISBACKENDS.names())


def test_local_and_tensorboard_outputs(tmp_path):
    save_dir = tmp_path / "20240101_000000" / "vis_data"
    vis = build_visualizer(MMPOSE_VISUALIZER, save_dir=str(save_dir))
    vis.add_config("model = dict(type='TopdownPoseEstimator')\n")
    vis.add_scalars({"loss": torch.tensor(0.5), "lr": 1e-3, "epoch": 1}, step=10)
    vis.add_scalars({"loss": np.float32(0.25), "lr": 5e-4, "coco/AP": float("nan")}, step=20)
    img = np.zeros((16, 12, 3), np.uint8)
    img[..., 0] = 255  # pure blue in BGR
    vis.add_image("val/sample 1", img, step=20)
    vis.close()

    rows = [json.loads(line) for line in (save_dir / "scalars.json").read_text().splitlines()]
    assert rows == [{"loss": 0.5, "lr": 1e-3, "epoch": 1, "step": 10},
                    {"loss": 0.25, "lr": 5e-4, "coco/AP": None, "step": 20}]
    assert (save_dir / "config.py").read_text().startswith("model = dict(")
    assert np.array_equal(cv2.imread(str(save_dir / "vis_image" / "val_sample 1_20.png")), img)

    acc = EventAccumulator(str(save_dir), size_guidance={"images": 0})
    acc.Reload()
    assert {"loss", "lr", "coco/AP"} <= set(acc.Tags()["scalars"])
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(10, 0.5), (20, 0.25)]
    assert [e.step for e in acc.Scalars("lr")] == [10, 20]
    assert acc.Scalars("lr")[1].value == pytest.approx(5e-4)
    assert "val/sample 1" in acc.Tags()["images"]
    png = acc.Images("val/sample 1")[0].encoded_image_string
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded, img)  # BGR in, stored as RGB, decodes back to BGR


def test_no_backends_writes_nothing(tmp_path):
    vis = Visualizer(vis_backends=[], save_dir=str(tmp_path / "v"))
    vis.add_scalars({"loss": 1.0}, 1)
    vis.close()
    assert not (tmp_path / "v").exists()


@pytest.mark.parametrize("cfg, match", [
    (dict(type="WandbVisualizer"), "unknown 'WandbVisualizer'"),
    (dict(vis_backends=[dict(type="WandbVisBackend")]), r"vis_backends\[0\]"),
    (dict(vis_backends=[dict(type="LocalVisBackend", bogus=1)]), "bad arguments"),
    (dict(colour="red"), "bad arguments"),
])
def test_bad_visualizer_configs(tmp_path, cfg, match):
    with pytest.raises(ConfigError, match=match):
        build_visualizer(cfg, save_dir=str(tmp_path))


def test_scalars_must_be_numbers(tmp_path):
    vis = Visualizer([dict(type="LocalVisBackend")], save_dir=str(tmp_path))
    with pytest.raises(TypeError, match="numbers"):
        vis.add_scalars({"loss": "high"}, 1)


def test_draw_pose_colours_threshold_and_gt():
    img = np.zeros((64, 64, 3), np.uint8)
    kpts = np.array([[[10, 10], [50, 50], [10, 50]]], np.float32)
    scores = np.array([[0.9, 0.8, 0.1]])
    out = draw_pose(img, kpts, scores, skeleton=[(0, 1), (1, 2)], kpt_thr=0.3,
                    kpt_colors=[[255, 0, 0], [0, 255, 0], [0, 0, 255]], link_colors=[[255, 255, 0], [0, 255, 255]],
                    radius=3, thickness=3, gt_keypoints=np.array([[30, 10], [0, 0], [0, 0]]),
                    gt_visible=np.array([1, 0, 0]))
    assert not img.any()  # input untouched
    assert out[10, 10].tolist() == [0, 0, 255]  # RGB red -> BGR
    assert out[50, 50].tolist() == [0, 255, 0]
    assert out[30, 30].tolist() == [0, 255, 255]  # link 0-1 midpoint, RGB yellow -> BGR
    assert not out[40:60, 5:15].any()  # keypoint 2 below threshold: neither it nor its link
    ring = out[10, 34].astype(int)  # hollow GT ring (antialiased: a shade of GT_COLOR)
    assert out[10, 30].tolist() == [0, 0, 0] and ring[1] > 150 and ring[1] > ring[0] + 50 and ring[1] > ring[2] + 50
    assert GT_COLOR[1] > GT_COLOR[0] and GT_COLOR[1] > GT_COLOR[2]
    assert not out[0:3, 0:3].any()  # invisible GT points not drawn


def test_draw_pose_shapes_and_errors():
    img = np.zeros((32, 32, 3), np.uint8)
    out = draw_pose(img, np.array([[5.0, 5.0], [20.0, 20.0]]), None, skeleton=[(0, 1)])
    assert out[5, 5].any() and out[20, 20].any()
    with pytest.raises(ValueError, match="outside 2 keypoints"):
        draw_pose(img, np.zeros((2, 2)), skeleton=[(0, 2)])
    with pytest.raises(ValueError, match="uint8"):
        draw_pose(img.astype(np.float32), np.zeros((2, 2)))


def test_show_without_display_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(ConfigError, match="--show-dir"):
        show_image(np.zeros((4, 4, 3), np.uint8))
