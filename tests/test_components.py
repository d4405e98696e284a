"""Contract test over every registered component: each builds from its defaults or the minimal
config below through ``build()``, and what DataLoader workers receive (datasets, their pipelines'
transforms, codecs) survives pickling. A component registered without an entry here fails
``test_every_registered_component_has_a_minimal_config``: add one."""
import pickle

import numpy as np
import pytest
import torch

from mlpose import registry as R
from mlpose.config import load_config

TINY = load_config("tiny")
CODEC = dict(TINY.codec)
MODEL = TINY.model.to_dict() if hasattr(TINY.model, "to_dict") else dict(TINY.model)
_ANN = "annotations/person_keypoints_val.json"
#: an HRNet of MMPose's shape (stage1..4), 1 block per branch and widths 4..32
TINY_HRNET = dict(
    stage1=dict(num_modules=1, num_branches=1, block="BOTTLENECK", num_blocks=(1,), num_channels=(8,)),
    stage2=dict(num_modules=1, num_branches=2, block="BASIC", num_blocks=(1, 1), num_channels=(4, 8)),
    stage3=dict(num_modules=1, num_branches=3, block="BASIC", num_blocks=(1, 1, 1), num_channels=(4, 8, 16)),
    stage4=dict(num_modules=1, num_branches=4, block="BASIC", num_blocks=(1, 1, 1, 1), num_channels=(4, 8, 16, 32)))


def _dataset(kind: str, data) -> dict:
    ann = "annotations/aic_val.json" if kind == "AicDataset" else _ANN
    return dict(type=kind, data_root=str(data), ann_file=ann, data_prefix=dict(img="images/val/"),
                test_mode=True, pipeline=[dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
                                          dict(type="TopdownAffine", input_size=CODEC["input_size"]),
                                          dict(type="PackPoseInputs")])


#: registry name -> component -> function(data folder) returning its config (``type`` included).
MINIMAL = {
    "models": {
        "ResNet": lambda d: dict(type="ResNet", depth=18, base_channels=8),
        "ResNetV1d": lambda d: dict(type="ResNetV1d", depth=50, base_channels=8),
        "ResNeXt": lambda d: dict(type="ResNeXt", depth=50, base_channels=8, groups=4, width_per_group=2),
        "SEResNet": lambda d: dict(type="SEResNet", depth=50, base_channels=8, se_ratio=4),
        "HRNet": lambda d: dict(type="HRNet", extra=TINY_HRNET),
        "HeatmapHead": lambda d: dict(type="HeatmapHead", in_channels=64, out_channels=17,
                                      deconv_out_channels=(16,), deconv_kernel_sizes=(4,)),
        "KeypointMSELoss": lambda d: dict(type="KeypointMSELoss"),
        "CombinedTargetMSELoss": lambda d: dict(type="CombinedTargetMSELoss", use_target_weight=True),
        "PoseDataPreprocessor": lambda d: dict(type="PoseDataPreprocessor"),
        "TopdownPoseEstimator": lambda d: MODEL,
        "VisionTransformer": lambda d: dict(type="VisionTransformer", arch=dict(embed_dims=16, num_layers=2, num_heads=2,
                                                                            feedforward_channels=32),
                                            img_size=(64, 48), out_type="featmap", with_cls_token=False),
        "FeatureMapProcessor": lambda d: dict(type="FeatureMapProcessor", scale_factor=2.0, apply_relu=True),
    },
    "codecs": {
        "MSRAHeatmap": lambda d: dict(type="MSRAHeatmap", input_size=(48, 64), heatmap_size=(12, 16), sigma=2),
        "UDPHeatmap": lambda d: dict(CODEC),
    },
    "transforms": {
        "LoadImage": lambda d: dict(type="LoadImage"),
        "GetBBoxCenterScale": lambda d: dict(type="GetBBoxCenterScale"),
        "RandomFlip": lambda d: dict(type="RandomFlip"),
        "RandomHalfBody": lambda d: dict(type="RandomHalfBody"),
        "RandomBBoxTransform": lambda d: dict(type="RandomBBoxTransform"),
        "TopdownAffine": lambda d: dict(type="TopdownAffine", input_size=(96, 128)),
        "GenerateTarget": lambda d: dict(type="GenerateTarget", encoder=dict(CODEC)),
        "PackPoseInputs": lambda d: dict(type="PackPoseInputs"),
        "KeypointConverter": lambda d: dict(type="KeypointConverter", num_keypoints=17, mapping=[(0, 0), (1, 1)]),
        "Albumentation": lambda d: dict(type="Albumentation", transforms=[dict(type="Blur", p=0.1)]),
        "PhotometricDistortion": lambda d: dict(type="PhotometricDistortion"),
        "YOLOXHSVRandomAug": lambda d: dict(type="mmdet.YOLOXHSVRandomAug"),
    },
    "datasets": {
        "CocoDataset": lambda d: _dataset("CocoDataset", d),
        "AicDataset": lambda d: _dataset("AicDataset", d),
        "CombinedDataset": lambda d: dict(type="CombinedDataset", metainfo=dict(from_file="experiments/_base_/datasets/coco.py"),
                                          datasets=[_dataset("CocoDataset", d)], pipeline=[]),
    },
    "metrics": {
        "CocoMetric": lambda d: dict(type="CocoMetric", ann_file=str(d / _ANN)),
        "PCKAccuracy": lambda d: dict(type="PCKAccuracy"),
        "AUC": lambda d: dict(type="AUC"),
        "EPE": lambda d: dict(type="EPE"),
        "Evaluator": lambda d: dict(type="Evaluator", metrics=[dict(type="EPE")]),
        "MultiDatasetEvaluator": lambda d: dict(type="MultiDatasetEvaluator", metrics=[dict(type="EPE")],
                                                datasets=[dict(type="CocoDataset", dataset_name="coco")]),
    },
    "optimizers": {name: (lambda d, n=name: dict(type=n, params=[torch.nn.Parameter(torch.zeros(2))], lr=0.1))
                   for name in ("Adam", "AdamW", "SGD")},
    "schedulers": {
        "LinearLR": lambda d: dict(type="LinearLR"),
        "ConstantLR": lambda d: dict(type="ConstantLR"),
        "MultiStepLR": lambda d: dict(type="MultiStepLR", milestones=[2]),
        "ExponentialLR": lambda d: dict(type="ExponentialLR", gamma=0.9),
        "CosineAnnealingLR": lambda d: dict(type="CosineAnnealingLR", T_max=4),
    },
    "vis_backends": {
        "LocalVisBackend": lambda d: dict(type="LocalVisBackend", save_dir=str(d / "vis")),
        "TensorboardVisBackend": lambda d: dict(type="TensorboardVisBackend", save_dir=str(d / "tb")),
    },
}
#: what DataLoader workers get a pickled copy of
PICKLED = {"codecs", "transforms", "datasets"}

R._load_builtins()
CASES = [(reg, name) for reg in R.ALL for name in reg.names()]


def test_every_registered_component_has_a_minimal_config():
    missing = [f"{reg.name}/{name}" for reg, name in CASES if name not in MINIMAL.get(reg.name, {})]
    stale = [f"{r}/{n}" for r, names in MINIMAL.items() for n in names
             if n not in next(reg for reg in R.ALL if reg.name == r)]
    assert not missing and not stale, f"registered without a MINIMAL entry: {missing}; entries without a component: {stale}"


@pytest.mark.parametrize("reg,name", CASES, ids=[f"{r.name}-{n}" for r, n in CASES])
def test_component_builds_and_pickles_where_workers_need_it(reg, name, tiny_data, tmp_path):
    cfg = MINIMAL[reg.name][name](tiny_data if reg.name != "vis_backends" else tmp_path)
    obj = R.build(cfg, reg, f"{reg.name}.{name}")
    assert obj is not None
    if reg.name in PICKLED:
        copy = pickle.loads(pickle.dumps(obj))
        assert type(copy) is type(obj)
    if reg.name == "datasets":
        item, again = obj[0], pickle.loads(pickle.dumps(obj))[0]
        assert item["inputs"].dtype == torch.uint8 and torch.equal(item["inputs"], again["inputs"])
    if reg.name == "codecs":
        w, h = obj.input_size
        kpts = np.array([[[w / 2, h / 3]] * 17], dtype=np.float32)
        encoded = obj.encode(kpts, np.ones((1, 17), dtype=np.float32))
        assert set(obj.target_keys) <= set(encoded) and set(obj.instance_keys) <= set(obj.target_keys)
        assert all(np.isfinite(encoded[k]).all() for k in obj.target_keys)
        assert all(encoded[k].shape[0] == 1 for k in obj.instance_keys)  # one instance in
