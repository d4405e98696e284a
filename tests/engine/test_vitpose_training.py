"""ViTPose end to end on generated data, with a tiny ViT: the vitpose-b recipe's MMPose-style
optimizer (custom_imports of MMPose's module, layer-decay AdamW, clip_grad), MAE-style pretrained
weights whose position embedding is resized on load, two epochs, the second again from the first's
checkpoint (bit-identical weights), and ONNX export checked against the eager model."""
import textwrap
from pathlib import Path

import torch

from mlpose.engine.jobs import TrainOptions, train
from mlpose.engine.predict import export
from mlpose.inference.export import TOLERANCE
from mlpose.models import VisionTransformer
from mlpose.runtime.checkpoint_io import load_checkpoint

TINY_RECIPE = Path(__file__).resolve().parents[2] / "experiments" / "tiny.py"
ARCH = dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64)


def _config(tmp_path, mae_file) -> str:
    """The demo recipe (128x96 crops, 64x48 UDP heatmaps) with ViTPose's backbone and optimizer."""
    path = tmp_path / "tiny_vitpose.py"
    path.write_text(textwrap.dedent(f"""
        _base_ = [{str(TINY_RECIPE)!r}]
        custom_imports = dict(imports=['mmpose.engine.optim_wrappers.layer_decay_optim_wrapper'],
                              allow_failed_imports=False)
        optim_wrapper = dict(
            _delete_=True,
            optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.1),
            paramwise_cfg=dict(num_layers=2, layer_decay_rate=0.75, custom_keys={{'bias': dict(decay_multi=0.0)}}),
            constructor='LayerDecayOptimWrapperConstructor',
            clip_grad=dict(max_norm=1., norm_type=2))
        model = dict(
            backbone=dict(_delete_=True, type='mmpretrain.VisionTransformer', arch={ARCH!r}, img_size=(128, 96),
                          patch_size=8, qkv_bias=True, drop_path_rate=0.3, with_cls_token=False,
                          out_type='featmap', patch_cfg=dict(padding=2),
                          init_cfg=dict(type='Pretrained', checkpoint={str(mae_file)!r})),
            head=dict(in_channels=32, deconv_out_channels=(16, 16), deconv_kernel_sizes=(4, 4)))
    """))
    return str(path)


def _options(data, epochs: int) -> list[str]:
    ann = data / "annotations" / "person_keypoints_val.json"
    opts = {"train_cfg.max_epochs": epochs, "train_cfg.val_interval": 2, "param_scheduler.0.end": 5,
            "train_dataloader.batch_size": 4, "train_dataloader.num_workers": 0,
            "val_dataloader.batch_size": 8, "val_dataloader.num_workers": 0,
            "train_dataloader.dataset.data_root": str(data), "val_dataloader.dataset.data_root": str(data),
            "test_dataloader.dataset.data_root": str(data), "val_evaluator.ann_file": str(ann),
            "test_evaluator.ann_file": str(ann), "default_hooks.checkpoint.interval": 1,
            "randomness.seed": 0, "randomness.deterministic": True, "tracking.enabled": False}
    return [f"{k}={v}" for k, v in opts.items()]


def test_tiny_vitpose_trains_resumes_exactly_and_exports(tmp_path, tiny_data):
    mae = VisionTransformer(arch=ARCH, img_size=64, patch_size=8, out_type="featmap")  # 8x8 grid + cls token
    torch.save({"state_dict": mae.state_dict()}, tmp_path / "mae.pth")
    config = _config(tmp_path, tmp_path / "mae.pth")

    straight = train(config, TrainOptions(work_dir=str(tmp_path / "straight"), cfg_options=_options(tiny_data, 2)))
    assert "coco/AP" in straight["metrics"]
    train(config, TrainOptions(work_dir=str(tmp_path / "resumed"), cfg_options=_options(tiny_data, 2),
                               resume=str(tmp_path / "straight" / "epoch_1.pth")))

    ref, got = (load_checkpoint(tmp_path / run / "epoch_2.pth") for run in ("straight", "resumed"))
    assert all(torch.equal(got["state_dict"][k], ref["state_dict"][k]) for k in ref["state_dict"])
    groups = got["optimizer"]["param_groups"]
    assert [g["group_name"] for g in groups][:2] == ["layer_0_no_decay", "layer_0_decay"]
    assert min(g["initial_lr"] for g in groups) == 5e-4 * 0.75 ** 3  # patch and position embedding

    report = export(str(tmp_path / "resumed" / "epoch_2.pth"), "onnx", str(tmp_path / "vitpose.onnx"))
    assert max(report.max_abs_diff.values()) <= TOLERANCE
