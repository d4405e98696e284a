"""The synthetic data generator: formats, determinism, and the hard cases it must contain."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from mlpose.datasets.converter import AIC_TO_COCO
from mlpose.datasets.synth import AIC_KEYPOINTS, COCO_KEYPOINTS, COCO_SKELETON, generate
from mlpose.datasets.synth.difficulty import PRESETS
from mlpose.datasets.synth.pose import P, project, sample_pose, sample_view
from mlpose.datasets.synth.render import draw_person
from mlpose.datasets.synth.scene import compose, visibility
from mlpose.errors import ConfigError

# The shared dataset (conftest.py): 6 train and 4 val images of 128x128.
NUM_TRAIN, NUM_VAL, W, H = 6, 4, 128, 128


def _kpts(ann: dict) -> np.ndarray:
    return np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a = generate(tmp_path / "a", num_train=2, num_val=2, seed=3, image_size=(64, 48),
                 progress=False)
    generate(tmp_path / "b", num_train=2, num_val=2, seed=3, image_size=(64, 48), progress=False)
    generate(tmp_path / "c", num_train=2, num_val=2, seed=4, image_size=(64, 48), progress=False)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file())
    assert len(files) == 4 + 6  # 4 images; 2 COCO, 2 AIC, detections, info
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    ann = "annotations/person_keypoints_train.json"
    assert (tmp_path / "a" / ann).read_bytes() != (tmp_path / "c" / ann).read_bytes()
    assert a["splits"]["train"]["images"] == 2 and a["images_per_s"] > 0


def test_val_images_do_not_depend_on_num_train(tmp_path):
    generate(tmp_path / "a", num_train=1, num_val=1, image_size=(64, 64), progress=False)
    generate(tmp_path / "b", num_train=3, num_val=1, image_size=(64, 64), progress=False)
    ann = "annotations/person_keypoints_val.json"
    assert (tmp_path / "a" / ann).read_bytes() == (tmp_path / "b" / ann).read_bytes()


def test_coco_json_is_valid_for_pycocotools(synth_root, coco_json, synth_cfg):
    assert synth_cfg == dict(num_train=NUM_TRAIN, num_val=NUM_VAL, width=W, height=H)
    for split, count in (("train", NUM_TRAIN), ("val", NUM_VAL)):
        with contextlib.redirect_stdout(io.StringIO()):
            coco = COCO(str(synth_root / f"annotations/person_keypoints_{split}.json"))
        assert len(coco.getImgIds()) == count
        cat = coco.loadCats(1)[0]
        assert cat["name"] == "person" and cat["keypoints"] == list(COCO_KEYPOINTS)
        assert cat["skeleton"] == COCO_SKELETON
        for img in coco.loadImgs(coco.getImgIds()):
            assert (synth_root / "images" / split / img["file_name"]).is_file()
            assert (img["width"], img["height"]) == (W, H)
        ids = [a["id"] for a in coco_json[split]["annotations"]]
        assert len(set(ids)) == len(ids)
        for ann in coco_json[split]["annotations"]:
            k = _kpts(ann)
            assert k.shape == (17, 3) and set(k[:, 2]) <= {0, 1, 2}
            assert ann["num_keypoints"] == np.count_nonzero(k[:, 2])
            assert np.all(k[k[:, 2] == 0, :2] == 0)  # unlabelled: coordinates 0
            lab = k[k[:, 2] > 0]
            assert np.all((lab[:, 0] >= 0) & (lab[:, 0] <= W - 1))
            assert np.all((lab[:, 1] >= 0) & (lab[:, 1] <= H - 1))
            x, y, w, h = ann["bbox"]
            assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= W and y + h <= H
            assert 0 < ann["area"] <= w * h and ann["category_id"] == 1
            if len(lab):  # labelled keypoints lie in the box (it has a margin)
                assert np.all(lab[:, 0] >= x - 0.01) and np.all(lab[:, 0] <= x + w + 0.01)


def test_hard_cases_are_present(coco_json):
    anns = coco_json["train"]["annotations"] + coco_json["val"]["annotations"]
    crowd = [a for a in anns if a["iscrowd"]]
    assert crowd and all(a["num_keypoints"] == 0 and not any(a["keypoints"]) for a in crowd)
    people = [a for a in anns if not a["iscrowd"]]
    vis = np.stack([_kpts(a)[:, 2] for a in people])
    assert np.any(vis == 1), "no occluded-but-labelled keypoints"
    assert np.any(vis.sum(1) == 0), "no person without keypoints (too small / off-frame)"
    cut = [a for a in people if 0 < a["num_keypoints"] < 17 and np.any(_kpts(a)[:, 2] == 0)
           and (a["bbox"][0] <= 0.5 or a["bbox"][1] <= 0.5
                or a["bbox"][0] + a["bbox"][2] >= W - 1.5
                or a["bbox"][1] + a["bbox"][3] >= H - 1.5)]
    assert cut, "no person cut by the image border"
    per_image = np.bincount([a["image_id"] % 10_000_000 for a in people])
    assert per_image.max() >= 2, "no image with several people"


def test_aic_twin_matches_coco_through_the_mapping(synth_root, coco_json):
    for split in ("train", "val"):
        aic = json.loads((synth_root / f"annotations/aic_{split}.json").read_text())
        assert aic["images"] == coco_json[split]["images"]
        assert aic["categories"][0]["keypoints"] == list(AIC_KEYPOINTS)
        coco_anns = {a["id"]: a for a in coco_json[split]["annotations"]}
        assert sorted(coco_anns) == sorted(a["id"] for a in aic["annotations"])
        head_labelled = 0
        for a in aic["annotations"]:
            c = coco_anns[a["id"]]
            assert a["bbox"] == c["bbox"] and a["iscrowd"] == c["iscrowd"]
            ka, kc = _kpts(a), _kpts(c)
            assert ka.shape == (14, 3)
            for ai, ci in AIC_TO_COCO:
                np.testing.assert_array_equal(ka[ai], kc[ci])
            head_labelled += int(ka[12, 2] > 0 and ka[13, 2] > 0)
            if ka[12, 2] > 0 and ka[13, 2] > 0:  # the head top is above the neck, mostly
                assert np.linalg.norm(ka[12, :2] - ka[13, :2]) > 0
        assert head_labelled > 0


def test_detections_cover_people_and_include_false_positives(synth_root, coco_json):
    dets = json.loads((synth_root / "annotations/person_detection_results_val.json").read_text())
    val_ids = {img["id"] for img in coco_json["val"]["images"]}
    assert dets and all(d["image_id"] in val_ids and 0 < d["score"] <= 1 for d in dets)
    assert all(set(d) == {"image_id", "category_id", "bbox", "score"} for d in dets)
    people = [a for a in coco_json["val"]["annotations"] if not a["iscrowd"]]

    def iou(a, b):
        ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
        iw = max(0, min(ax2, bx2) - max(a[0], b[0]))
        ih = max(0, min(ay2, by2) - max(a[1], b[1]))
        return iw * ih / (a[2] * a[3] + b[2] * b[3] - iw * ih)

    best = [max([iou(p["bbox"], d["bbox"]) for d in dets if d["image_id"] == p["image_id"]],
                default=0) for p in people]
    assert np.mean(np.array(best) > 0.5) > 0.7  # most people are found
    assert len(dets) > sum(b > 0.5 for b in best)  # and there is more than the true people


def test_occluded_keypoint_is_flagged_from_the_pixels():
    """Paint a person, then cover one wrist with another owner: its flag must drop to 1."""
    rng = np.random.default_rng(0)
    img = np.zeros((200, 200, 3), np.uint8)
    owner = np.zeros((200, 200), np.uint16)
    pose = sample_pose(rng)
    proj = project(pose, sample_view(rng), 150.0, (100.0, 95.0))
    app = dict(skin=(90, 120, 170), top=(0, 0, 200), bottom=(200, 0, 0), sleeve=(0, 0, 200),
               shin=(200, 0, 0), shoe=(10, 10, 10), hair=(20, 20, 20))
    depths = draw_person(img, owner, proj, 150.0, app, slot=0)
    before = visibility(proj, depths, 0, owner, 150.0)
    x, y = np.round(proj["xy"][P["left_wrist"]]).astype(int)
    assert before[P["left_wrist"]] == 2  # seed 0: the wrist is in view before covering it
    owner[max(0, y - 3):y + 4, max(0, x - 3):x + 4] = 1 * 32 + 1  # another person's torso
    after = visibility(proj, depths, 0, owner, 150.0)
    assert after[P["left_wrist"]] == 1
    assert np.all(np.delete(after, P["left_wrist"]) <= np.delete(before, P["left_wrist"]))


def test_bad_arguments_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="image_size"):
        generate(tmp_path, num_train=1, num_val=0, image_size=(16, 16), progress=False)
    with pytest.raises(ConfigError, match="num_train"):
        generate(tmp_path, num_train=-1, num_val=0, progress=False)


def _scene_stats(difficulty: str, n: int = 60) -> dict:
    """Labelled people per image; how many are cut by the border, partly hidden, or overlap
    another labelled person's box."""
    people = cut = hidden = overlapping = 0
    for i in range(n):
        rng = np.random.default_rng([7, i])
        _, out, _ = compose(rng, 96, 96, crowd=False, tiny=False,
                            difficulty=PRESETS[difficulty])
        boxes = [p["bbox"] for p in out if p["labelled"]]
        for person in out:
            vis = person["vis"][[P[name] for name in COCO_KEYPOINTS]]
            if person["labelled"] and vis.any():
                people += 1
                cut += bool(np.any(vis == 0))
                hidden += bool(np.any(vis == 1))
                overlapping += sum(_intersect(person["bbox"], b) for b in boxes) > 1  # itself
    return dict(people=people / n, cut=cut, hidden=hidden, overlapping=overlapping)


def _intersect(a, b) -> bool:
    return bool(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])


def test_easy_preset_keeps_the_hard_cases_but_fewer():
    normal, easy = _scene_stats("normal"), _scene_stats("easy")
    assert easy["people"] < 0.8 * normal["people"]
    assert 0 < easy["cut"] < normal["cut"]
    assert 0 < easy["hidden"] < normal["hidden"]


def test_simple_preset_people_are_whole_and_apart():
    easy, simple = _scene_stats("easy"), _scene_stats("simple")
    assert simple["cut"] == 0 and simple["overlapping"] == 0
    assert _scene_stats("normal")["overlapping"] > 0  # the check can see overlaps
    assert simple["hidden"] < easy["hidden"]


def test_easy_views_rarely_turn_their_back():
    def back_share(preset: str) -> float:
        d, rng = PRESETS[preset], np.random.default_rng(0)
        views = [sample_view(rng, d.front_p, d.other_yaw, d.upright_p, d.lying_p, d.front_yaw)
                 for _ in range(2000)]
        # The body's forward axis (+Z) pointing away from the camera (-Z in camera space).
        return float(np.mean([v[2, 2] < 0 for v in views]))

    assert back_share("normal") > 0.2
    assert back_share("easy") < 0.03
    assert back_share("simple") < 0.03


def test_difficulty_changes_the_data_and_is_recorded(tmp_path):
    kw = dict(num_train=2, num_val=0, image_size=(64, 64), progress=False)
    generate(tmp_path / "n", **kw)
    summary = generate(tmp_path / "e", difficulty="easy", **kw)
    generate(tmp_path / "e2", difficulty="easy", **kw)
    ann = "annotations/person_keypoints_train.json"
    assert (tmp_path / "e" / ann).read_bytes() == (tmp_path / "e2" / ann).read_bytes()
    assert (tmp_path / "e" / ann).read_bytes() != (tmp_path / "n" / ann).read_bytes()
    info = json.loads((tmp_path / "e" / "annotations/synth_info.json").read_text())
    assert info["difficulty"] == summary["difficulty"] == "easy"
    with pytest.raises(ConfigError, match="difficulty 'hard'.*easy.*normal.*simple"):
        generate(tmp_path / "x", difficulty="hard", **kw)


def test_a_folder_holding_a_dataset_is_refused_unless_overwrite(tmp_path):
    from mlpose.datasets.synth.coco_size import write_coco_size

    generate(tmp_path / "d", num_train=1, num_val=1, image_size=(64, 64), progress=False)
    ann = tmp_path / "d/annotations/person_keypoints_train.json"
    before = ann.read_bytes()
    with pytest.raises(ConfigError, match=r"d already holds a dataset \(.*person_keypoints_train.json.*--overwrite"):
        generate(tmp_path / "d", num_train=1, num_val=1, seed=5, image_size=(64, 64), progress=False)
    with pytest.raises(ConfigError, match="already holds a dataset"):
        write_coco_size(tmp_path / "d", num_train=1, num_val=1, progress=False)
    assert ann.read_bytes() == before
    generate(tmp_path / "d", num_train=1, num_val=1, seed=5, image_size=(64, 64), progress=False, overwrite=True)
    assert ann.read_bytes() != before
    (tmp_path / "e/images/val").mkdir(parents=True)
    (tmp_path / "e/images/val/mine.jpg").write_bytes(b"x")  # images alone count too
    with pytest.raises(ConfigError, match=r"1 image\(s\) in .*e/images/val"):
        generate(tmp_path / "e", num_train=1, num_val=1, image_size=(64, 64), progress=False)
