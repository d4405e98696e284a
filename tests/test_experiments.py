"""Contract test over experiments/: every config loads, validates, and builds its model, its
datasets (one sample through each pipeline) and its evaluators, on generated data laid out
where the recipes expect COCO and AIC (data/coco, data/aic, data/synth)."""
import re
import shutil
from pathlib import Path

import pytest
import torch

from mlpose.config import load_config
from mlpose.datasets.synth import generate
from mlpose.evaluation import build_evaluator
from mlpose.registry import DATASETS, MODELS, build

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
CONFIGS = sorted(p.name for p in EXPERIMENTS.glob("*.py"))
#: a model with more parameters (ViT-B/L) is built and run on the meta device: every argument is
#: checked and every shape flows through, in a fraction of a second instead of many seconds
META_ABOVE = 50_000_000


@pytest.fixture(scope="module")
def data_tree(tmp_path_factory):
    """Generated people, placed under the file names of the real COCO and AIC releases."""
    root = tmp_path_factory.mktemp("tree")
    synth = root / "data" / "synth"
    generate(synth, num_train=3, num_val=2, image_size=(96, 96), progress=False)
    ann = synth / "annotations"
    coco, aic = root / "data" / "coco", root / "data" / "aic"
    for folder in (coco / "annotations", coco / "person_detection_results", aic / "annotations",
                   aic / "ai_challenger_keypoint_train_20170902", aic / "ai_challenger_keypoint_validation_20170911"):
        folder.mkdir(parents=True)
    for split, year in (("train", "train2017"), ("val", "val2017")):
        shutil.copy(ann / f"person_keypoints_{split}.json", coco / "annotations" / f"person_keypoints_{year}.json")
        (coco / year).symlink_to(synth / "images" / split)
        shutil.copy(ann / f"aic_{split}.json", aic / "annotations" / f"aic_{split}.json")
    shutil.copy(ann / "person_detection_results_val.json",
                coco / "person_detection_results" / "COCO_val2017_detections_AP_H_56_person.json")
    (aic / "ai_challenger_keypoint_train_20170902" / "keypoint_train_images_20170902").symlink_to(synth / "images" / "train")
    (aic / "ai_challenger_keypoint_validation_20170911" / "keypoint_validation_images_20170911").symlink_to(synth / "images" / "val")
    return root


def test_the_folder_has_the_documented_recipes():
    assert {"res50.py", "res18.py", "tiny.py", "res50-coco-aic.py",
            "td-hm_res50_8xb64-210e_coco-256x192.py", "hrnet-w32.py", "hrnet-w48.py", "hrnet-w32-dark.py",
            "hrnet-w32-udp.py", "resnetv1d50.py", "resnext50.py", "seresnet50.py", "vitpose-b.py",
            "vitpose-b-simple.py", "vitpose-l.py"} <= set(CONFIGS)
    assert _alias_of("hrnet-w32.py") == "td-hm_hrnet-w32_8xb64-210e_coco-256x192.py" and not _alias_of("tiny-sweep.py")


def _alias_of(name: str) -> str | None:
    """The recipe a short name stands for: a file whose only statement is ``_base_ = ['X']``."""
    code = [line for line in (EXPERIMENTS / name).read_text().splitlines() if line.strip() and not line.startswith("#")]
    match = re.fullmatch(r"_base_ = \['([^']+)'\]\s*(#.*)?", code[0]) if len(code) == 1 else None
    return match.group(1) if match else None


def _build_model(cfg) -> tuple[torch.nn.Module, torch.device]:
    with torch.device("meta"):
        model = build(cfg.model, MODELS, "model")
    if sum(p.numel() for p in model.parameters()) > META_ABOVE:
        return model, torch.device("meta")
    return build(cfg.model, MODELS, "model"), torch.device("cpu")


@pytest.mark.parametrize("name", CONFIGS)
def test_config_loads_and_builds(name, data_tree, monkeypatch):
    monkeypatch.chdir(data_tree)
    cfg = load_config(EXPERIMENTS / name)
    if _alias_of(name):  # a short name: the recipe it names is built under its own name
        assert cfg == load_config(EXPERIMENTS / _alias_of(name))
        return
    model, device = _build_model(cfg)
    for split in ("train", "val", "test"):
        loader = cfg.get(f"{split}_dataloader")
        if not loader:
            continue
        dataset = build(loader["dataset"], DATASETS, f"{split}_dataloader.dataset")
        assert len(dataset) > 0
        item = dataset[0]
        assert item["inputs"].dtype == torch.uint8 and item["inputs"].shape[0] == 3
        if split == "train":
            model.eval()
            outputs = model(item["inputs"][None].to(device))
            outputs = outputs if isinstance(outputs, tuple) else (outputs,)
            # the head's outputs have the shape of the codec's targets (heatmaps; SimCC vectors)
            shapes = [tuple(o.shape[1:]) for o in outputs]
            assert shapes == [tuple(t.shape) for k, t in item["targets"].items() if k != "keypoint_weights"]
        evaluator = cfg.get(f"{split}_evaluator")
        if evaluator and split != "train":
            build_evaluator(evaluator, dataset.metainfo)
