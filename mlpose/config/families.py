"""mlpose runs top-down pose estimators: one person crop (from a box) at a time.

MMPose's bottom-up and one-stage families (associative embedding, CID, DEKR, ED-Pose, RTMO,
YOLOX-Pose) find every person of a whole image at once. Their config files say so in one of a
few keys; the first one found is named in a one-line refusal at load, before any of their
components would be reported as missing.
"""
from __future__ import annotations

from typing import Iterator

from mlpose.errors import ConfigError

#: estimator types of whole-image (bottom-up / one-stage) models
BOTTOM_UP_MODELS = ("BottomupPoseEstimator",)
TOP_DOWN_MODE = "topdown"


def not_top_down(where: str, shown_by: str) -> ConfigError:
    """The refusal of a bottom-up config; ``shown_by`` is what shows it (``"model.type='X'"``)."""
    return ConfigError(f"{where}: {shown_by} shows a bottom-up (whole-image) pose model; mlpose trains and "
                       "tests top-down models only (one person box at a time: model.type='TopdownPoseEstimator', "
                       "data_mode='topdown'); use MMPose for this config")


def check_top_down(cfg: dict, source: str) -> None:
    """Raise :func:`not_top_down` naming the first key that shows a bottom-up config."""
    model = cfg.get("model")
    kind = model.get("type") if isinstance(model, dict) else None
    if isinstance(kind, str) and kind.rpartition(".")[2] in BOTTOM_UP_MODELS:
        raise not_top_down(source, f"model.type={kind!r}")
    if cfg.get("data_mode", TOP_DOWN_MODE) != TOP_DOWN_MODE:
        raise not_top_down(source, f"data_mode={cfg['data_mode']!r}")
    for path, dataset in _datasets(cfg):
        if dataset.get("data_mode", TOP_DOWN_MODE) != TOP_DOWN_MODE:
            raise not_top_down(source, f"{path}.data_mode={dataset['data_mode']!r}")


def _datasets(cfg: dict) -> Iterator[tuple[str, dict]]:
    """``(key path, dataset dict)`` of every dataset of the three dataloaders, wrapped ones included."""
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if isinstance(loader, dict) and isinstance(loader.get("dataset"), dict):
            yield from _walk(loader["dataset"], f"{split}_dataloader.dataset")


def _walk(dataset: dict, path: str) -> Iterator[tuple[str, dict]]:
    yield path, dataset
    if isinstance(dataset.get("dataset"), dict):  # RepeatDataset and other wrappers
        yield from _walk(dataset["dataset"], f"{path}.dataset")
    for i, sub in enumerate(dataset.get("datasets") or []):  # CombinedDataset
        if isinstance(sub, dict):
            yield from _walk(sub, f"{path}.datasets.{i}")
