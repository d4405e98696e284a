"""``mlpose evaluate PREDICTIONS --ann-file GT.json``: evaluate against one annotation file
without the five overrides it takes by hand (dataset root, annotation file, image prefix,
detections file, evaluator annotation file)."""
from __future__ import annotations

import os

from mlpose.errors import ConfigError


def ann_file_overrides(cfg, ann_file: str) -> dict:
    """``--cfg-options`` (parsed) pointing ``cfg``'s test split and its evaluator(s) at ``ann_file``:
    GT boxes (no detections file), no root or image prefix (images are not read)."""
    gt = os.path.abspath(ann_file)
    if not os.path.isfile(gt):
        raise ConfigError(f"--ann-file {ann_file}: no such file; give a COCO keypoint annotation JSON")
    dataset = ((cfg.get("test_dataloader") or {}).get("dataset")) or {}
    if "ann_file" not in dataset:
        raise ConfigError(f"{cfg.filename}: test_dataloader.dataset ({dataset.get('type')}) has no ann_file to "
                          "replace; --ann-file needs a single COCO-style test dataset")
    opts = {"test_dataloader.dataset.data_root": "", "test_dataloader.dataset.ann_file": gt,
            "test_dataloader.dataset.data_prefix": {"img": ""}, "+test_dataloader.dataset.bbox_file": None}
    evaluator = cfg.get("test_evaluator")
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    for i, metric in enumerate(metrics):
        if isinstance(metric, dict) and "ann_file" in metric:
            opts[f"test_evaluator.{i}.ann_file" if isinstance(evaluator, list) else "test_evaluator.ann_file"] = gt
    return opts
