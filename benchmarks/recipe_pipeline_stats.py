"""One epoch of a config's training pipeline, summarised, in either tool (never in CI).

    .venv/bin/python benchmarks/recipe_pipeline_stats.py CONFIG                  # mlpose's pipeline
    /tmp/mmpose-venv/bin/python benchmarks/recipe_pipeline_stats.py CONFIG --mmpose   # MMPose's

Run with ``PYTHONPATH`` holding mlpose's worktree (mlpose) or ``benchmarks/zoo_recipe.py``'s
albumentations links (MMPose). Every training sample once, one random draw each: the fraction of
keypoints with a positive weight (inside the crop after RandomHalfBody / RandomBBoxTransform), the
mean input pixel (colour augmentations) and the fraction of all-zero pixels (CoarseDropout, borders).
A systematic gap between the tools points at an augmentation that differs; one draw of a few hundred
samples has a noise of about 0.007 on the first figure and 0.003 on the last.
"""
import sys

import numpy as np
import torch


def mlpose_samples(config: str):
    from mlpose.config import load_config
    from mlpose.datasets import pose_collate
    from mlpose.datasets.loader import build_dataloader
    loader_cfg = dict(load_config(config)["train_dataloader"], batch_size=1, num_workers=0)
    loader = build_dataloader(loader_cfg, "train_dataloader", seed=0, rank=0, world_size=1, train=True,
                              collate_fn=pose_collate)
    for batch in loader:
        yield batch["inputs"][0].float(), np.asarray(batch["targets"]["keypoint_weights"])


def mmpose_samples(config: str):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS
    from mmpose.utils import register_all_modules
    register_all_modules()
    init_default_scope("mmpose")
    torch.manual_seed(0)
    np.random.seed(0)
    dataset = DATASETS.build(Config.fromfile(config).train_dataloader.dataset)
    for i in range(len(dataset)):
        sample = dataset[i]
        yield sample["inputs"].float(), np.asarray(sample["data_samples"].gt_instance_labels.keypoint_weights)


def main() -> None:
    config, tool = sys.argv[1], "MMPose" if "--mmpose" in sys.argv else "mlpose"
    weights, pixels, zeros = [], [], []
    for image, kpt_weights in (mmpose_samples if tool == "MMPose" else mlpose_samples)(config):
        weights.append((kpt_weights > 0).mean())
        pixels.append(image.mean().item())
        zeros.append((image.sum(0) == 0).float().mean().item())
    print(f"| {tool} | {len(weights)} | {np.mean(weights):.4f} | {np.mean(pixels):.2f} | {np.mean(zeros):.4f} |")


if __name__ == "__main__":
    main()
