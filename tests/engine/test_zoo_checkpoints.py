"""Model-zoo checkpoint files (MMEngine training checkpoint with EMA, MMPose 1.x published file, MMPose 0.x
file), written by the test as MMPose/MMEngine write them, through the commands: ``mlpose test`` gives what
the mlpose checkpoint of the same weights gives; ``infer`` and ``export`` with ``--config``; ``init_cfg``;
``--resume`` says to use ``load_from``."""
import json
import shutil

import pytest
import torch

from mlpose.config import load_config, resolve_config_path
from mlpose.datasets.metainfo import load_metainfo
from mlpose.engine.predict import InferOptions, export, infer, load_predictor
from mlpose.errors import ConfigError
from mlpose.registry import MODELS, build

COCO = "experiments/_base_/datasets/coco.py"
WIDTH8 = ["model.backbone.base_channels=8", "model.head.in_channels=64", "model.head.deconv_out_channels=(16,16,8,8)"]
KINDS = ("mmengine", "mmpose", "mmpose0x")


@pytest.fixture(scope="module")
def weights(pose_checkpoint):
    return torch.load(pose_checkpoint, weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def zoo(weights, zoo_files, mmpose_meta, tmp_path_factory):
    """The trained tiny model's weights in each foreign format; the MMEngine file's raw (non-EMA)
    weights are noise, its ``dataset_meta`` names the layout ``zoo-coco``."""
    raw = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in weights.items()}
    meta = mmpose_meta(load_metainfo(None, COCO), name="zoo-coco")
    paths = zoo_files(tmp_path_factory.mktemp("zoo"), [
        dict(kind="mmengine", weights=weights, raw=raw, dataset_meta=meta),
        dict(kind="mmpose", weights=weights, dataset_meta=meta), dict(kind="mmpose0x", weights=weights)])
    return dict(zip(KINDS, paths))


def _test(run_cli, folder, checkpoint, opts, env=None) -> tuple[dict, list]:
    folder.mkdir()
    run_cli(["test", "tiny", str(checkpoint), "--work-dir", "work", "--out", "metrics.json", "--dump", "dump.json",
             "--cfg-options", *opts], folder, env=env)
    return json.loads((folder / "metrics.json").read_text()), json.loads((folder / "dump.json").read_text())


@pytest.fixture(scope="module")
def reference(pose_checkpoint, tiny_data, tiny_opts, run_cli, tmp_path_factory):
    """``mlpose test`` of the mlpose checkpoint: metrics and every prediction."""
    opts = tiny_opts(tiny_data, 1, width=8, **{"tracking.enabled": False})
    return _test(run_cli, tmp_path_factory.mktemp("reference") / "run", pose_checkpoint, opts)


@pytest.mark.parametrize("kind", ["mmengine", pytest.param("mmpose", marks=pytest.mark.slow),
                                  pytest.param("mmpose0x", marks=pytest.mark.slow)])
def test_mlpose_test_of_a_zoo_file_gives_what_the_mlpose_checkpoint_gives(kind, zoo, reference, tiny_data, tiny_opts,
                                                                         run_cli, mlflow_env, tmp_path):
    metrics, dump = _test(run_cli, tmp_path / kind, zoo[kind], tiny_opts(tiny_data, 1, width=8))
    assert metrics == reference[0] and "coco/AP" in metrics
    assert dump == reference[1] and len(dump["predictions"]) > 5  # every keypoint of every person, bit for bit


def test_infer_and_export_with_the_config(zoo, pose_checkpoint, tiny_data, tmp_path):
    images = [str(tiny_data / "images" / "val")]
    boxes = str(tiny_data / "annotations" / "person_detection_results_val.json")
    want = infer(images, str(pose_checkpoint), InferOptions(boxes=boxes))["results"]
    got = infer(images, str(zoo["mmpose"]), InferOptions(boxes=boxes, config="tiny", cfg_options=WIDTH8))["results"]
    assert got == want  # (the training checkpoint went through `mlpose test` above)
    report = export(str(zoo["mmpose0x"]), "torchscript", str(tmp_path / "pose.pt"), config="tiny", cfg_options=WIDTH8)
    assert (tmp_path / "pose.pt").is_file() and max(report.max_abs_diff.values()) <= 1e-4
    with pytest.raises(ConfigError, match=r"mmpose.pth: this checkpoint \(an MMPose/MMEngine model file .*\) "
                                          r"carries no config; give the config it was trained with \(--config"):
        load_predictor(str(zoo["mmpose"]))


def tiny_config(folder, extra: str) -> str:
    """A config file: the ``tiny`` recipe at width 8 (the trained model's) plus ``extra`` lines."""
    path = folder / "tiny-8.py"
    path.write_text(f"_base_ = ['{resolve_config_path('tiny').resolve()}']\n"
                    "model = dict(backbone=dict(base_channels=8), head=dict(in_channels=64, "
                    "deconv_out_channels=(16, 16, 8, 8)))\n" + extra)
    return str(path)


def test_the_files_keypoint_layout_is_used_where_the_config_names_none(zoo, tmp_path):
    assert load_predictor(str(zoo["mmpose"]), "tiny", WIDTH8).metainfo["dataset_name"] == "zoo-coco"
    assert load_predictor(str(zoo["mmpose0x"]), "tiny", WIDTH8).metainfo["dataset_name"] == "coco"  # none in the file
    named = tiny_config(tmp_path, f"test_dataloader = dict(dataset=dict(metainfo=dict(from_file='{COCO}')))\n")
    predictor = load_predictor(str(zoo["mmengine"]), named)  # the config's own wins
    assert predictor.metainfo["dataset_name"] == "coco"
    assert predictor.metainfo["flip_indices"] == load_metainfo(None, COCO)["flip_indices"]


def test_zoo_files_as_init_cfg(zoo, weights, tmp_path):
    cfg = load_config(tiny_config(tmp_path, f"model.update(init_cfg=dict(type='Pretrained', "
                                            f"checkpoint='{zoo['mmengine']}'))\n"))
    model = build(cfg.model, MODELS, "model")
    model.init_weights()  # the whole model from an MMEngine training checkpoint: its EMA weights
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    cfg = load_config(tiny_config(tmp_path, f"model['backbone'].update(init_cfg=dict(type='Pretrained', "
                                            f"checkpoint='{zoo['mmpose0x']}', prefix='backbone.'))\n"))
    model = build(cfg.model, MODELS, "model")
    model.init_weights()
    assert all(torch.equal(v, weights[f"backbone.{k}"]) for k, v in model.backbone.state_dict().items())


@pytest.mark.slow
def test_load_from_a_zoo_file_trains_on_and_resume_says_to_use_it(zoo, tiny_data, tiny_opts, run_cli, mlflow_env,
                                                                   tmp_path):
    opts = tiny_opts(tiny_data, 1, width=8)
    proc = run_cli(["train", "tiny", "--work-dir", "run", "--cfg-options", *opts, f"load_from={zoo['mmengine']}"],
                   tmp_path)
    assert f"load_from: weights from {zoo['mmengine']}, training from scratch" in proc.stdout + proc.stderr
    shutil.rmtree(tmp_path / "run")
    proc = run_cli(["train", "tiny", "--work-dir", "run", "--resume", str(zoo["mmengine"]), "--cfg-options", *opts],
                   tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (f"error: {zoo['mmengine']} is an MMEngine training checkpoint (meta, message_hub, optimizer, "
            "param_schedulers, ema_state_dict), so mlpose cannot continue its training") in proc.stderr
