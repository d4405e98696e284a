"""PackPoseInputs: the data-contract item."""
import numpy as np
import torch

from mlpose.datasets.transforms import PackPoseInputs, RandomFlip
from mlpose.datasets.transforms.pack import image_to_chw


def packed_inputs(tf, **extra):
    item = tf.make_item()
    item.update(img=tf.textured_image(64, 48), img_shape=(64, 48), input_size=(48, 64),
                input_center=np.array([50.0, 60.0], np.float32),
                input_scale=np.array([60.0, 80.0], np.float32),
                raw_keypoints=item["keypoints"].copy(),
                raw_keypoints_visible=item["keypoints_visible"].copy(), **extra)
    return item


def test_inputs_are_uint8_chw_in_bgr_order(tf):
    img = tf.textured_image(64, 48)
    chw = image_to_chw(img)
    assert chw.dtype == torch.uint8 and chw.shape == (3, 64, 48) and chw.is_contiguous()
    for c in range(3):
        np.testing.assert_array_equal(chw[c].numpy(), img[..., c])


def test_train_item_and_meta(tf):
    item = packed_inputs(tf, targets=dict(heatmaps=np.ones((17, 16, 12), np.float32),
                                          keypoint_weights=np.arange(17, dtype=np.float32)))
    item["keypoints"] = item["keypoints"] + 5  # augmented copy; meta must report the raw GT
    out = PackPoseInputs()(item)
    targets = out["targets"]
    assert targets["heatmaps"].shape == (17, 16, 12) and targets["heatmaps"].dtype == torch.float32
    np.testing.assert_array_equal(targets["keypoint_weights"].numpy(), np.arange(17))
    meta = out["meta"]
    assert meta["id"] == 70 and meta["img_id"] == 7 and meta["category_id"] == 1
    assert meta["bbox_score"] == 1.0 and meta["area"] == 1234.0 and meta["dataset_name"] == "coco"
    np.testing.assert_array_equal(meta["center"], [50, 60])
    np.testing.assert_array_equal(meta["scale"], [60, 80])
    assert meta["input_size"] == (48, 64)
    np.testing.assert_array_equal(meta["keypoints"], item["raw_keypoints"][0])
    assert meta["keypoints"].shape == (17, 2) and meta["keypoints_visible"].shape == (17,)
    assert meta["flip_indices"][1] == 2


def test_val_item_has_no_targets_and_extra_meta_keys_are_copied(tf):
    item = packed_inputs(tf, flip=False, ori_shape=(64, 48))
    out = PackPoseInputs(meta_keys=("flip", "ori_shape", "missing_key"))(item)
    assert set(out) == {"inputs", "meta"}
    assert out["meta"]["flip"] is False and out["meta"]["ori_shape"] == (64, 48)
    assert "missing_key" not in out["meta"]


def test_pending_flip_is_applied_when_no_affine_consumed_it(tf):
    item = packed_inputs(tf)
    img = item["img"].copy()
    item = RandomFlip(prob=1.0)(item)
    out = PackPoseInputs()(item)
    np.testing.assert_array_equal(out["inputs"][0].numpy(), img[:, ::-1, 0])
