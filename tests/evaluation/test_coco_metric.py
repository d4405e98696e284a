"""CocoMetric gives pycocotools' numbers, with MMPose's rescoring, OKS-NMS and GT rules."""
import copy
import json

import numpy as np
import pytest

from mlpose.errors import ConfigError
from mlpose.evaluation import CocoMetric
from mlpose.evaluation.coco_metric import STAT_NAMES


def _results(preds, boxes=False):
    """COCO results of the raw predictions: score = box score, no NMS; with ``boxes`` each
    carries its box as x, y, w, h (float32 subtraction, as MMPose's bbox_xyxy2xywh)."""
    out = [dict(image_id=p["img_id"], category_id=1, score=float(p["bbox_score"]),
                keypoints=np.concatenate([p["keypoints"], p["keypoint_scores"][:, None]], 1)
                .reshape(-1).tolist()) for p in preds]
    for res, p in zip(out if boxes else (), preds):
        x1, y1, x2, y2 = np.asarray(p["bbox"], np.float32).reshape(-1)
        res["bbox"] = [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
    return out


def _metric(meta, **kwargs):
    metric = CocoMetric(**kwargs)
    metric.dataset_meta = meta
    return metric


@pytest.mark.parametrize("backend", ["faster_coco_eval", "pycocotools"])
def test_equals_pycocotools_on_generated_set(synth, coco_meta, helpers, tmp_path, backend):
    preds = helpers.perturb(synth["coco"], seed=0)
    metric = _metric(coco_meta, ann_file=synth["coco"], score_mode="bbox", nms_mode="none",
                     outfile_prefix=str(tmp_path / "res"), backend=backend)
    helpers.feed(metric, preds)
    got = metric.compute()

    # The reference: a results file written here and read back by plain pycocotools.
    ref_file = tmp_path / "ref.keypoints.json"
    ref_file.write_text(json.dumps(_results(preds)))
    ref = helpers.pycocotools_stats(synth["coco"], str(ref_file), coco_meta["sigmas"])
    assert list(got) == list(STAT_NAMES)
    for name, value in zip(STAT_NAMES, ref):
        assert got[name] == pytest.approx(value, abs=1e-9), name
    assert 0.2 < got["AP"] < 0.95  # the predictions are neither hopeless nor perfect
    written = json.loads((tmp_path / "res.keypoints.json").read_text())
    assert len(written) == len(preds)
    # And pycocotools on the file the metric wrote gives the metric's numbers too.
    own = helpers.pycocotools_stats(synth["coco"], str(tmp_path / "res.keypoints.json"),
                                    coco_meta["sigmas"])
    assert [got[n] for n in STAT_NAMES] == pytest.approx(list(own), abs=1e-9)
    with pytest.warns(UserWarning, match="no predictions"):  # compute() reset the metric
        assert metric.compute() == {}


def test_results_carry_boxes_and_give_pycocotools_numbers_with_boxes(synth, coco_meta, helpers, tmp_path):
    # Detection boxes around each prediction's person, looser than its keypoints' extent (as
    # a detector's): the box, not the keypoints, decides whether a detection is medium or large.
    rng = np.random.default_rng(7)
    preds = helpers.perturb(synth["coco"], seed=8)
    for p in preds:
        lo, hi = p["keypoints"].min(0), p["keypoints"].max(0)
        pad = (hi - lo) * rng.uniform(0.1, 0.6, 2)
        p["bbox"] = np.r_[lo - pad, hi + pad].astype(np.float32)
    metric = _metric(coco_meta, ann_file=synth["coco"], score_mode="bbox", nms_mode="none",
                     outfile_prefix=str(tmp_path / "res"))
    helpers.feed(metric, preds)
    got = metric.compute()
    written = json.loads((tmp_path / "res.keypoints.json").read_text())
    assert all(len(d["bbox"]) == 4 for d in written)

    ref_file = tmp_path / "ref.keypoints.json"
    ref_file.write_text(json.dumps(_results(preds, boxes=True)))
    ref = helpers.pycocotools_stats(synth["coco"], str(ref_file), coco_meta["sigmas"])
    assert [got[n] for n in STAT_NAMES] == pytest.approx(list(ref), abs=1e-12)
    # Without the boxes the medium/large split moves (what mlpose reported before writing them).
    boxless = helpers.pycocotools_stats(synth["coco"], _results(preds), coco_meta["sigmas"])
    assert boxless[0] == pytest.approx(got["AP"], abs=1e-12)
    assert (boxless[3], boxless[4]) != pytest.approx((got["AP (M)"], got["AP (L)"]), abs=1e-3)


def test_padding_duplicates_are_counted_once(synth, coco_meta, helpers):
    preds = helpers.perturb(synth["coco"], seed=1)
    # No NMS, which would otherwise hide a duplicate (its OKS with the original is 1).
    once = _metric(coco_meta, ann_file=synth["coco"], nms_mode="none")
    helpers.feed(once, preds)
    twice = _metric(coco_meta, ann_file=synth["coco"], nms_mode="none")
    helpers.feed(twice, preds + preds[:7])  # what a padded DistributedSampler hands over
    assert twice.compute() == once.compute()


def _person(cx, cy, s):
    """17 keypoints (K, 2) of a toy person centred at (cx, cy), size s px."""
    base = np.array([[0, -4], [-1, -4.5], [1, -4.5], [-2, -4], [2, -4], [-3, -2], [3, -2],
                     [-4, 0], [4, 0], [-4, 2], [4, 2], [-2, 1], [2, 1], [-2, 4], [2, 4],
                     [-2, 7], [2, 7]], dtype=np.float64)
    return base * s / 10 + [cx, cy]


def test_rescoring_and_oks_nms_equal_hand_computed_reference(coco_meta, helpers, tmp_path):
    # One image, two people; four predictions: A, a near-copy of A with a lower score
    # (OKS with A is about 1 > 0.9: suppressed), B, and a far-away false alarm.
    a, b = _person(60, 60, 40), _person(160, 70, 40)
    gt = dict(images=[dict(id=1, width=256, height=256)],
              categories=[dict(id=1, name="person")],
              annotations=[dict(id=i + 1, image_id=1, category_id=1, iscrowd=0, num_keypoints=17,
                                keypoints=np.c_[p, np.full(17, 2)].reshape(-1).tolist(),
                                area=1200.0, bbox=[p[:, 0].min(), p[:, 1].min(), 32.0, 46.0])
                           for i, p in enumerate((a, b))])
    ann_file = tmp_path / "gt.json"
    ann_file.write_text(json.dumps(gt))
    high = np.array([0.5] * 8 + [0.1] * 9, np.float32)  # mean of scores > 0.2: 0.5
    mixed = np.array([0.8, 0.4] + [0.15] * 15, np.float32)  # mean of scores > 0.2: 0.6
    low = np.full(17, 0.1, np.float32)  # no score > 0.2: keypoint mean 0
    scale = np.array([40.0, 53.0], np.float32)
    preds = [dict(id=10, img_id=1, keypoints=a + 1.0, keypoint_scores=high, bbox_score=0.9,
                  scale=scale),
             dict(id=11, img_id=1, keypoints=a + 1.3, keypoint_scores=mixed, bbox_score=0.5,
                  scale=scale),
             dict(id=12, img_id=1, keypoints=b + [2.0, -1.0], keypoint_scores=mixed,
                  bbox_score=0.8, scale=scale),
             dict(id=13, img_id=1, keypoints=_person(220, 200, 30), keypoint_scores=low,
                  bbox_score=0.7, scale=scale)]
    for p in preds:
        p["keypoints"] = p["keypoints"].astype(np.float32)
    metric = _metric(coco_meta, ann_file=str(ann_file), outfile_prefix=str(tmp_path / "out"))
    metric.process(preds)
    got = metric.compute()

    # Hand-computed: scores 0.9*0.5, 0.5*0.6 (suppressed), 0.8*0.6, 0.7*0 -> kept 10, 12, 13.
    written = json.loads((tmp_path / "out.keypoints.json").read_text())
    assert [round(d["score"], 6) for d in written] == [0.48, 0.45, 0.0]
    assert written[0]["keypoints"][:3] == pytest.approx([*preds[2]["keypoints"][0], 0.8])
    kept = [preds[2], preds[0], preds[3]]
    expected = [dict(r, score=s) for r, s in zip(_results(kept), (0.48, 0.45, 0.0))]
    ref = helpers.pycocotools_stats(str(ann_file), expected, coco_meta["sigmas"])
    for name, value in zip(STAT_NAMES, ref):
        assert got[name] == pytest.approx(value, abs=1e-6), name


def test_score_modes(coco_meta, synth):
    metric = _metric(coco_meta, ann_file=synth["coco"], score_mode="bbox_rle")
    ks = np.array([[0.1, 0.3, 0.5]], np.float32)
    box = np.array([0.5])
    assert metric.instance_scores(box, ks)[0] == pytest.approx(0.5 + 0.3 + 0.5)
    metric.score_mode = "keypoint"
    assert metric.instance_scores(box, ks)[0] == pytest.approx(0.3)
    metric.score_mode = "bbox_keypoint"
    assert metric.instance_scores(box, ks)[0] == pytest.approx(0.5 * 0.4)
    assert metric.instance_scores(box, np.full((1, 3), 0.1, np.float32))[0] == 0  # none > thr


def test_use_area_false_uses_053_box_area(synth, aic_meta, helpers, tmp_path):
    preds = helpers.perturb(synth["aic"], seed=2, dataset_name="aic",
                            noise=(0.005, 0.05))
    metric = _metric(aic_meta, ann_file=synth["aic"], use_area=False, score_mode="bbox",
                     nms_mode="none")
    helpers.feed(metric, preds)
    got = metric.compute()
    gt = json.load(open(synth["aic"]))
    for ann in gt["annotations"]:
        ann["area"] = ann["bbox"][2] * ann["bbox"][3] * 0.53
    ref = helpers.pycocotools_stats(gt, _results(preds), aic_meta["sigmas"])
    assert [got[n] for n in STAT_NAMES] == pytest.approx(list(ref), abs=1e-9)
    with_area = _metric(aic_meta, ann_file=synth["aic"], score_mode="bbox", nms_mode="none")
    helpers.feed(with_area, preds)
    assert with_area.compute()["AP"] != got["AP"]


def test_gt_converter_evaluates_aic_people_in_coco_layout(synth, aic_meta, helpers):
    # COCO-layout predictions for the AIC people, AIC GT mapped with the converter.
    preds = helpers.perturb(synth["aic"], seed=3, dataset_name="aic", layout_file=synth["coco"],
                            noise=(0.005, 0.05))
    metric = _metric(aic_meta, ann_file=synth["aic"], use_area=False, score_mode="bbox",
                     nms_mode="none", gt_converter=helpers.aic_converter)
    assert len(metric.dataset_meta["sigmas"]) == 17
    helpers.feed(metric, preds)
    got = metric.compute()

    # Reference: MMPose's transform_ann by hand (unmapped joints 0, visible count recounted),
    # its transform_sigmas (unmapped sigma 1) and xtcocotools' use_area=False area.
    src, dst = zip(*helpers.aic_converter["mapping"])
    gt = json.load(open(synth["aic"]))
    for ann in gt["annotations"]:
        old = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
        new = np.zeros((17, 3))
        new[list(dst)] = old[list(src)]
        ann["keypoints"] = new.reshape(-1).tolist()
        ann["num_keypoints"] = int((new[:, 2] > 0).sum())
        ann["area"] = ann["bbox"][2] * ann["bbox"][3] * 0.53
    sigmas = np.ones(17, np.float32)
    sigmas[list(dst)] = aic_meta["sigmas"][list(src)]
    ref = helpers.pycocotools_stats(gt, _results(preds), sigmas)
    assert [got[n] for n in STAT_NAMES] == pytest.approx(list(ref), abs=1e-9)
    assert got["AP"] > 0.1


def test_ground_truth_from_predictions(synth, coco_meta, helpers):
    preds = helpers.perturb(synth["coco"], seed=4)
    gt = json.load(open(synth["coco"]))
    by_id = {a["id"]: a for a in gt["annotations"]}
    for p in preds:
        ann = by_id.get(p["id"])
        if ann is not None:  # GT-box evaluation: the sample meta carries its annotation
            k = np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)
            x, y, w, h = ann["bbox"]
            p.update(gt_keypoints=k[:, :2], gt_visible=(k[:, 2] > 0).astype(np.float32),
                     area=ann["area"], bbox=np.array([x, y, x + w, y + h]))
    preds = [p for p in preds if "gt_keypoints" in p]
    metric = _metric(coco_meta, score_mode="bbox", nms_mode="none")
    helpers.feed(metric, preds)
    got = metric.compute()
    gt["annotations"] = [by_id[p["id"]] for p in preds]
    ref = helpers.pycocotools_stats(gt, _results(preds, boxes=True), coco_meta["sigmas"])
    assert [got[n] for n in STAT_NAMES] == pytest.approx(list(ref), abs=1e-9)


def test_prefix_and_format_only(synth, coco_meta, helpers, tmp_path):
    preds = helpers.perturb(synth["coco"], seed=5)[:20]
    metric = _metric(coco_meta, ann_file=synth["coco"], prefix="val")
    metric.process(preds)
    assert sorted(metric.compute()) == sorted(f"val/{n}" for n in STAT_NAMES)
    only = _metric(coco_meta, format_only=True, outfile_prefix=str(tmp_path / "sub" / "test"))
    only.process(preds)
    assert only.compute() == {}
    assert len(json.loads((tmp_path / "sub" / "test.keypoints.json").read_text())) > 0


@pytest.mark.parametrize("kwargs, words", [
    (dict(score_mode="box"), "score_mode"),
    (dict(nms_mode="nms"), "nms_mode"),
    (dict(iou_type="keypoints_crowd"), "iou_type"),
    (dict(backend="xtcocotools"), "backend='xtcocotools' is not supported"),
    (dict(format_only=True), "outfile_prefix"),
    (dict(ann_file="no/such/file.json"), "no/such/file.json"),
])
def test_bad_arguments_are_config_errors(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        CocoMetric(**kwargs)


def test_prediction_errors_are_clear(synth, coco_meta, helpers):
    preds = copy.deepcopy(helpers.perturb(synth["coco"], seed=6)[:3])
    metric = _metric(coco_meta, ann_file=synth["coco"])
    with pytest.raises(ConfigError, match="'img_id'"):
        metric.process([{k: v for k, v in preds[0].items() if k != "img_id"}])
    preds[0]["img_id"] = 999
    metric.process(preds)
    with pytest.raises(ValueError, match="not in .*person_keypoints_val.json"):
        metric.compute()
