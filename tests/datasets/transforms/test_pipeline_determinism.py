"""The new augmentations inside the seeded loader: a sample's pixels are a function of
(seed, epoch, index), whatever the number of workers (what exact resume relies on)."""
import torch

from mlpose.datasets import pose_collate
from mlpose.datasets.loader import build_dataloader

CODEC = dict(type="MSRAHeatmap", input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
# RTMPose's stage-1 augmentations (MMPose 1.3.2 config values) plus HRNet's photometric one
PIPELINE = [
    dict(type="LoadImage"), dict(type="GetBBoxCenterScale"), dict(type="RandomFlip", direction="horizontal"),
    dict(type="RandomHalfBody"), dict(type="RandomBBoxTransform", scale_factor=[0.6, 1.4], rotate_factor=80),
    dict(type="TopdownAffine", input_size=CODEC["input_size"]), dict(type="mmdet.YOLOXHSVRandomAug"),
    dict(type="PhotometricDistortion"),
    dict(type="Albumentation", transforms=[
        dict(type="Blur", p=0.1), dict(type="MedianBlur", p=0.1),
        dict(type="CoarseDropout", max_holes=1, max_height=0.4, max_width=0.4, min_holes=1, min_height=0.2,
             min_width=0.2, p=1.0)]),
    dict(type="GenerateTarget", encoder=CODEC), dict(type="PackPoseInputs"),
]


def inputs(data, workers: int, epoch: int = 0, pipeline=PIPELINE) -> torch.Tensor:
    cfg = dict(batch_size=4, num_workers=workers, sampler=dict(shuffle=False),
               dataset=dict(type="CocoDataset", data_root=str(data), ann_file="annotations/person_keypoints_train.json",
                            data_prefix=dict(img="images/train/"), pipeline=pipeline))
    loader = build_dataloader(cfg, "train_dataloader", seed=3, rank=0, world_size=1, train=True,
                              collate_fn=pose_collate)
    loader.sampler.set_epoch(epoch)
    return torch.cat([batch["inputs"] for batch in loader])


def test_augmented_pixels_do_not_depend_on_workers_or_repetition(tiny_data):
    single = inputs(tiny_data, workers=0)
    assert torch.equal(single, inputs(tiny_data, workers=0))
    assert torch.equal(single, inputs(tiny_data, workers=2))
    assert not torch.equal(single, inputs(tiny_data, workers=0, epoch=1))  # a new epoch, new draws
    pixel_steps = ("mmdet.YOLOXHSVRandomAug", "PhotometricDistortion", "Albumentation")
    plain = inputs(tiny_data, workers=0, pipeline=[s for s in PIPELINE if s["type"] not in pixel_steps])
    assert (single != plain).flatten(1).any(1).all()  # every crop was changed by the colour/dropout steps
