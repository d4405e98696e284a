"""One tiny end-to-end run per backbone family of the model zoo (HRNet; the ResNet variants as
SEResNet-D: deep stem, average-pooled shortcuts, SE gates, activation checkpointing): train an
epoch, resume for a second, export to ONNX and check it against the eager model."""
import pytest
import torch

from mlpose.config import resolve_config_path
from mlpose.engine.jobs import TrainOptions, train
from mlpose.engine.predict import export
from mlpose.inference.export import TOLERANCE
from mlpose.runtime.checkpoint_io import load_checkpoint

# The tiny recipe (96x128 crops, UDP) with HRNet's real shape at widths 4..32 and one block per
# branch; the head is the final 1x1 conv, as in every HRNet config, so heatmaps are at 1/4: 24x32.
HRNET = """
codec = dict(type='UDPHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1)
stage = lambda n: dict(num_modules=1, num_branches=n, block='BASIC', num_blocks=(1,) * n,
                       num_channels=(4, 8, 16, 32)[:n])
model = dict(
    backbone=dict(_delete_=True, type='HRNet', extra=dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,), num_channels=(8,)),
        stage2=stage(2), stage3=stage(3), stage4=stage(4))),
    head=dict(in_channels=4, deconv_out_channels=None, decoder=codec))
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImage'), dict(type='GetBBoxCenterScale'), dict(type='RandomFlip', direction='horizontal'),
    dict(type='TopdownAffine', input_size=codec['input_size'], use_udp=True),
    dict(type='GenerateTarget', encoder=codec), dict(type='PackPoseInputs')]))
del stage
"""
# SE-ResNet-50-D cut to its first two stages (1/8 of the input): two deconvs make 48x64 heatmaps.
SERESNET_D = """
model = dict(
    backbone=dict(_delete_=True, type='SEResNet', depth=50, base_channels=8, se_ratio=4, deep_stem=True,
                  avg_down=True, with_cp=True, num_stages=2, out_indices=(1,)),
    head=dict(in_channels=64, deconv_out_channels=(16, 16), deconv_kernel_sizes=(4, 4)))
"""


@pytest.mark.parametrize("body", [HRNET, SERESNET_D], ids=["hrnet", "seresnet-d"])
def test_family_trains_resumes_and_exports_onnx(body, tmp_path, tiny_data, tiny_opts):
    config = tmp_path / "family.py"
    config.write_text(f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n{body}")
    work = tmp_path / "work"

    def options(epochs: int) -> list[str]:
        opts = [o for o in tiny_opts(tiny_data, epochs) if not o.startswith("model.")]
        return opts + ["tracking.enabled=False"]

    train(str(config), TrainOptions(work_dir=str(work), cfg_options=options(1)))
    first = load_checkpoint(work / "epoch_1.pth")
    train(str(config), TrainOptions(work_dir=str(work), cfg_options=options(2), resume="auto"))
    second = load_checkpoint(work / "epoch_2.pth")
    assert second["state"]["epoch"] == 2 and second["state"]["iteration"] == 2 * first["state"]["iteration"]
    key = next(k for k in first["state_dict"] if k.endswith("conv.weight") or k.endswith("conv1.weight"))
    assert not torch.equal(first["state_dict"][key], second["state_dict"][key])  # the second epoch trained on

    report = export(str(work / "epoch_2.pth"), "onnx", str(tmp_path / "pose.onnx"))
    assert max(report.max_abs_diff.values()) <= TOLERANCE
