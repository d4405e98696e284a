"""Evaluators: merging, per-dataset routing and prefixes, custom metrics, DDP gathering."""
import json
import random
import sys
import textwrap

import numpy as np
import pytest
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from mlpose.evaluation import (CocoMetric, Evaluator, MultiDatasetEvaluator, build_evaluator)
from mlpose.errors import ConfigError
from mlpose.evaluation.coco_metric import STAT_NAMES
from mlpose.registry import import_custom


def _alone(helpers, meta, preds, **kwargs):
    metric = CocoMetric(**kwargs)
    metric.dataset_meta = meta
    helpers.feed(metric, preds)
    return metric.compute()


def _coco_aic(synth, helpers):
    coco = helpers.perturb(synth["coco"], seed=10, dataset_name="coco")
    aic = helpers.perturb(synth["aic"], seed=11, dataset_name="aic", layout_file=synth["coco"],
                          noise=(0.005, 0.05))
    return coco, aic


def test_multi_dataset_results_equal_each_dataset_alone(synth, helpers, coco_meta, aic_meta):
    coco, aic = _coco_aic(synth, helpers)
    cfg = dict(
        type="MultiDatasetEvaluator",
        metrics=[dict(type="CocoMetric", ann_file=synth["coco"]),
                 dict(type="CocoMetric", ann_file=synth["aic"], use_area=False,
                      gt_converter=helpers.aic_converter, prefix="aic")],
        # As in a CombinedDataset config: the names come from each class's metainfo file.
        datasets=[dict(type="CocoDataset", ann_file=synth["coco"], test_mode=True),
                  dict(type="AicDataset", ann_file=synth["aic"], test_mode=True)])
    evaluator = build_evaluator(cfg, coco_meta)  # the combined dataset's (COCO) metainfo
    mixed = coco + aic
    random.Random(0).shuffle(mixed)
    helpers.feed(evaluator, mixed, batch_size=16)
    got = evaluator.compute()

    want = {f"coco/{k}": v for k, v in _alone(helpers, coco_meta, coco,
                                              ann_file=synth["coco"]).items()}
    want.update({f"aic/{k}": v for k, v in _alone(
        helpers, aic_meta, aic, ann_file=synth["aic"], use_area=False,
        gt_converter=helpers.aic_converter).items()})
    assert got == want
    assert got["coco/AP"] != got["aic/AP"] and got["aic/AP"] > 0.1


def test_metric_and_dataset_counts_must_match(synth):
    with pytest.raises(ConfigError, match="2 metrics but 1 datasets"):
        MultiDatasetEvaluator(metrics=[dict(type="EPE"), dict(type="EPE")],
                              datasets=[dict(type="CocoDataset", ann_file=synth["coco"])])


def test_dataset_names_from_metainfo_or_explicit(helpers):
    ev = MultiDatasetEvaluator(
        metrics=[dict(type="EPE"), dict(type="EPE")],
        datasets=[dict(type="Whatever", metainfo=dict(from_file=helpers.aic_meta_file)),
                  dict(type="Whatever", dataset_name="mine")])
    assert ev.names == ["aic", "mine"]
    assert len(ev.metrics[0].dataset_meta["sigmas"]) == 14
    ev.dataset_meta = dict(dataset_name="combined", num_keypoints=17)
    assert ev.metrics[1].dataset_meta == dict(dataset_name="mine", num_keypoints=17)
    assert ev.metrics[0].dataset_meta["dataset_name"] == "aic"  # keeps its own meta
    with pytest.warns(UserWarning, match="'combined' are not evaluated"):
        # dataset_name None means the combined dataset's name, which has no metric here
        ev.process([_gt_pred(1, 2.0, "aic"), _gt_pred(2, 4.0, None)])
    with pytest.warns(UserWarning, match="EPE: no predictions"):  # for 'mine'
        assert ev.compute() == {"aic/EPE": pytest.approx(2.0)}
    with pytest.raises(ConfigError, match="datasets\\[1\\].*'mine'.*datasets\\[0\\]"):
        MultiDatasetEvaluator(metrics=[dict(type="EPE"), dict(type="EPE")],
                              datasets=[dict(dataset_name="mine"), dict(dataset_name="mine")])
    with pytest.raises(ConfigError, match="cannot tell which dataset"):
        MultiDatasetEvaluator(metrics=[dict(type="EPE")], datasets=[dict(type="Whatever")])


def _gt_pred(pid, err, name):
    gt = np.zeros((3, 2), np.float32)
    return dict(id=pid, keypoints=gt + [err, 0], gt_keypoints=gt, gt_visible=np.ones(3),
                dataset_name=name)


def test_evaluator_prefixes_and_merges(synth, helpers, coco_meta):
    ev = build_evaluator([dict(type="CocoMetric", ann_file=synth["coco"]), dict(type="EPE"),
                          dict(type="EPE", prefix="px")], coco_meta)
    assert isinstance(ev, Evaluator)
    preds = helpers.perturb(synth["coco"], seed=12)
    gt = {a["id"]: a for a in json.load(open(synth["coco"]))["annotations"]}
    for p in preds:
        k = np.asarray(gt[p["id"]]["keypoints"] if p["id"] in gt else [0] * 51,
                       np.float32).reshape(-1, 3)
        p.update(gt_keypoints=k[:, :2], gt_visible=k[:, 2])
    helpers.feed(ev, preds)
    got = ev.compute()
    assert sorted(got) == sorted([f"coco/{n}" for n in STAT_NAMES] + ["coco/EPE", "px/EPE"])
    assert got["coco/EPE"] == got["px/EPE"] > 0


def test_same_names_twice_is_a_config_error(synth):
    with pytest.raises(ConfigError, match="metrics\\[0\\] and metrics\\[1\\].*prefix"):
        build_evaluator([dict(type="EPE"), dict(type="EPE")])
    with pytest.raises(ConfigError, match="empty"):
        build_evaluator([])
    with pytest.raises(ConfigError, match="unknown type 'CocoMetrik'.*CocoMetric"):
        build_evaluator(dict(type="CocoMetrik"))


class _Fixed:
    """A duck-typed metric returning fixed names."""

    def __init__(self, values, prefix=None):
        self.values, self.prefix, self.dataset_meta = values, prefix, {}

    def process(self, preds):
        pass

    def compute(self):
        return dict(self.values)


def test_colliding_names_and_mlflow_keys_are_caught_at_compute():
    # A metric's compute() applies its own prefix; the evaluator adds the dataset name.
    ev = Evaluator([_Fixed({"a/x": 1.0}, prefix="a"), _Fixed({"x": 2.0})])
    ev.dataset_meta = dict(dataset_name="a")
    with pytest.raises(ConfigError, match="'a/x' is produced twice"):
        ev.compute()
    ev = Evaluator([_Fixed({"AP (M)": 1.0, "AP_M": 2.0})])
    with pytest.raises(ConfigError, match="same MLflow key 'AP_M'"):
        ev.compute()


CUSTOM_METRIC = '''
import numpy as np
from mlpose.evaluation import BaseMetric
from mlpose.registry import METRICS


@METRICS.register()
class MeanKeypointScoreForTest(BaseMetric):
    """The mean keypoint score of all predictions."""

    def __init__(self, scale=1.0, prefix=None):
        super().__init__(prefix=prefix)
        self.scale = scale

    def process_one(self, pred):
        return dict(id=pred["id"], score=float(np.mean(pred["keypoint_scores"])))

    def compute_metrics(self, results):
        return {"mean_kpt_score": self.scale * float(np.mean([r["score"] for r in results]))}
'''


def test_custom_metric_from_custom_imports(tmp_path, monkeypatch, synth, helpers, coco_meta):
    (tmp_path / "my_eval_plugin.py").write_text(textwrap.dedent(CUSTOM_METRIC))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_eval_plugin", None)
    import_custom(dict(imports=["my_eval_plugin"]))
    ev = build_evaluator(dict(type="MultiDatasetEvaluator", metrics=[
        dict(type="CocoMetric", ann_file=synth["coco"]),
        dict(type="MeanKeypointScoreForTest", scale=2.0)],
        datasets=[dict(type="CocoDataset", ann_file=synth["coco"]),
                  dict(type="AicDataset", ann_file=synth["aic"])]), coco_meta)
    coco, aic = _coco_aic(synth, helpers)
    helpers.feed(ev, coco + aic)
    got = ev.compute()
    expected = 2.0 * np.mean([float(np.mean(p["keypoint_scores"])) for p in aic])
    assert got["aic/mean_kpt_score"] == pytest.approx(expected)
    assert "coco/AP" in got and len(got) == 11


def _ddp_worker(rank, world, store, ann_file, meta, preds, out_dir):
    torch_dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank,
                                  world_size=world)
    try:
        metric = CocoMetric(ann_file=ann_file, nms_mode="none")  # NMS would hide duplicates
        metric.dataset_meta = meta
        # DistributedSampler order: rank r gets r, r + world, ...; padded by wrapping around.
        padded = preds + preds[: (-len(preds)) % world]
        mine = padded[rank::world]
        for i in range(0, len(mine), 4):
            metric.process(mine[i:i + 4])
        (out_dir / f"rank{rank}.json").write_text(json.dumps(metric.compute()))
    finally:
        torch_dist.destroy_process_group()


def test_ddp_ranks_gather_and_agree(tmp_path, synth, helpers, coco_meta):
    preds = helpers.perturb(synth["coco"], seed=13)
    assert len(preds) % 2 == 1  # so the sampler pads one duplicate
    mp.spawn(_ddp_worker, nprocs=2, args=(2, tmp_path / "store", synth["coco"], coco_meta,
                                          preds, tmp_path))
    alone = _alone(helpers, coco_meta, preds, ann_file=synth["coco"], nms_mode="none")
    for rank in range(2):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == alone
