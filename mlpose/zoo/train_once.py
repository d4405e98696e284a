"""One training iteration of any config on generated data (``mlpose zoo check --train``).

The config is pointed at a ``mlpose data synth`` folder the way ``tests/conftest.py::tiny_options``
points the tiny recipe, but for any family and dataset layout: ``data_root``, ``ann_file``,
``data_prefix`` and ``bbox_file`` of every dataset of every dataloader (wrapped and combined ones
included) and every evaluator's ``ann_file``; batch size 2, no loader workers, no tracking, no
validation, no checkpoint file, and no pretrained weights (``init_cfg`` of type ``Pretrained``,
``load_from``): the check is of the recipe, not of weights that may need a download. Then the
real ``mlpose train`` job runs, its log captured.
"""
from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from mlpose.config import dump_config
from mlpose.errors import ConfigError
from mlpose.registry import component_args

from .capture import quiet

BATCH_SIZE = 2
#: dataset types whose files are the generated AI Challenger twin (the rest read the COCO files)
_AIC = "aic"


def on_generated_data(cfg: dict, data: Path) -> dict:
    """A copy of ``cfg`` (plain dict) that trains one iteration on ``data``, as described above."""
    cfg = copy.deepcopy(cfg)
    cfg["train_cfg"] = {**(cfg.get("train_cfg") or {}), "max_epochs": 1, "val_interval": 1}
    hooks = cfg["default_hooks"] = dict(cfg.get("default_hooks") or {})
    hooks["checkpoint"] = {**(hooks.get("checkpoint") or {}), "interval": 1_000_000, "save_last": False,
                           "save_best": None}
    cfg["tracking"] = {**(cfg.get("tracking") or {}), "enabled": False}
    cfg.update(load_from=None, resume=False)
    cfg["model"] = without_pretrained(cfg["model"])
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if not isinstance(loader, dict) or not isinstance(loader.get("dataset"), dict):
            continue
        loader.update(num_workers=0, persistent_workers=False)
        if split == "train":
            loader["batch_size"] = BATCH_SIZE
        leaves = list(_leaves(loader["dataset"]))
        share = BATCH_SIZE // len(leaves) if split == "train" else None  # one batch from all of them
        for dataset in leaves:
            _point(dataset, data, "train" if split == "train" else "val", share)
    for split in ("val", "test"):
        for node in _dicts(cfg.get(f"{split}_evaluator")):
            if "ann_file" in node:
                aic = _AIC in str(node["ann_file"]).lower()  # an AIC metric's ground truth
                node["ann_file"] = str(data / "annotations" / f"{'aic' if aic else 'person_keypoints'}_val.json")
            for dataset in node.get("datasets") or []:
                for leaf in _leaves(dataset):
                    _point(leaf, data, "val", None)
    return cfg


def _point(dataset: dict, data: Path, split: str, indices: int | None) -> None:
    """Point one dataset at ``data``'s ``split`` files (only keys its type takes or already has)."""
    aic = _AIC in str(dataset.get("type", "")).lower()
    values = {"data_root": str(data), "ann_file": f"annotations/{'aic' if aic else 'person_keypoints'}_{split}.json",
              "data_prefix": {"img": f"images/{split}/"}}
    if dataset.get("bbox_file"):
        values["bbox_file"] = str(data / "annotations" / "person_detection_results_val.json")
    if indices is not None:
        values["indices"] = max(1, indices)  # the first N people: one batch in all
    takes = set(component_args(dataset.get("type")))
    dataset.update({k: v for k, v in values.items() if k in dataset or k in takes})


def _leaves(dataset: Any) -> Iterator[dict]:
    """The datasets that read files: not wrappers (``dataset=``) or combinations (``datasets=``)."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get("dataset"), dict):
        yield from _leaves(dataset["dataset"])
    elif dataset.get("datasets"):
        for sub in dataset["datasets"]:
            yield from _leaves(sub)
    else:
        yield dataset


def _dicts(node: Any) -> Iterator[dict]:
    """Every dict in ``node`` (an evaluator or a list of them), outermost first; not into datasets."""
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key != "datasets":
                yield from _dicts(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _dicts(item)


def without_pretrained(node: Any) -> Any:
    """``node`` (a model config) without any ``init_cfg`` entry of type ``Pretrained`` (in dicts
    and lists of them, at any depth): the check builds and trains from random weights."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "init_cfg":
                value = _drop_pretrained(value)
                if value is None:
                    continue
            out[key] = without_pretrained(value)
        return out
    if isinstance(node, list):
        return [without_pretrained(v) for v in node]
    return node


def _drop_pretrained(init_cfg: Any) -> Any:
    def pretrained(c: Any) -> bool:
        return isinstance(c, dict) and str(c.get("type", "")).rpartition(".")[2] == "Pretrained"

    if isinstance(init_cfg, list):
        kept = [c for c in init_cfg if not pretrained(c)]
        return kept or None
    return None if pretrained(init_cfg) else init_cfg


def train_once(cfg: Any, data: Path) -> None:
    """Train ``cfg`` (a loaded config) one iteration on ``data`` with the ``mlpose train`` job.

    Raises:
        ConfigError: when no training iteration ran; whatever the job raised otherwise.
    """
    from mlpose.engine.jobs import TrainOptions, train

    work = Path(tempfile.mkdtemp(prefix="mlpose-zoo-train-"))
    try:
        plain = cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)
        file = dump_config(on_generated_data(plain, data), work / f"{Path(cfg.filename).stem}.py")
        with quiet() as log:
            train(str(file), TrainOptions(work_dir=str(work / "run"), no_validate=True))
        if "Epoch(train)" not in log.getvalue():
            raise ConfigError("no training iteration ran (the generated data gave no batch)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
