"""The run's datasets as MLflow inputs: names with prefixes, content digests, contexts, profiles."""
import json
import shutil

from mlflow import MlflowClient

from mlpose.datasets import AIC_TO_COCO, CombinedDataset
from mlpose.datasets.facts import dataset_facts
from mlpose.registry import DATASETS, build
from mlpose.tracking.inputs import log_dataset_inputs

COCO_META = dict(from_file="experiments/_base_/datasets/coco.py")


def coco(root, split="train", ann=None):
    return build(dict(type="CocoDataset", ann_file=ann or f"annotations/person_keypoints_{split}.json",
                      data_root=str(root), data_prefix=dict(img=f"images/{split}/"), pipeline=[]), DATASETS)


def inputs_of(client, run_id) -> dict:
    """name -> (digest, context, profile dict, source dict) of the run's dataset inputs."""
    out = {}
    for item in client.get_run(run_id).inputs.dataset_inputs:
        tags = {t.key: t.value for t in item.tags}
        d = item.dataset
        out[d.name] = (d.digest, tags["mlflow.data.context"], json.loads(d.profile), json.loads(d.source))
    return out


def test_splits_are_logged_with_prefix_digest_context_and_profile(mlflow_env, tiny_data):
    client = MlflowClient(mlflow_env)
    run = client.create_run("0")
    train, val = coco(tiny_data, "train"), coco(tiny_data, "val")
    log_dataset_inputs(client, run.info.run_id, {"training": dataset_facts(train), "validation": dataset_facts(val)})
    got = inputs_of(client, run.info.run_id)
    assert set(got) == {"coco/train", "coco/val"}
    digest, context, profile, source = got["coco/train"]
    assert context == "training" and got["coco/val"][1] == "validation"
    assert len(digest) == 16 and digest != got["coco/val"][0]
    ann = json.loads((tiny_data / "annotations/person_keypoints_train.json").read_text())
    assert profile["instances"] == len(train) > 0
    assert profile["images"] == len({a["image_id"] for a in ann["annotations"]})
    assert profile["num_keypoints"] == 17
    labelled = sum(v > 0 for a in ann["annotations"] for v in a["keypoints"][2::3])
    assert 0 < profile["keypoints"] <= labelled
    assert str(tiny_data / "annotations/person_keypoints_train.json") in json.dumps(source)


def test_same_file_at_two_paths_has_one_digest_and_changed_data_another(mlflow_env, tiny_data, tmp_path):
    elsewhere = tmp_path / "copy"
    shutil.copytree(tiny_data / "annotations", elsewhere / "annotations")
    changed = json.loads((tiny_data / "annotations/person_keypoints_train.json").read_text())
    changed["annotations"] = changed["annotations"][:-1]
    (elsewhere / "annotations/fewer.json").write_text(json.dumps(changed))
    client = MlflowClient(mlflow_env)
    # MLflow keeps one dataset per experiment and (name, digest): three experiments show three sources.
    runs = [client.create_run(client.create_experiment(f"e{i}")).info.run_id for i in range(3)]
    for run_id, ds in zip(runs, (coco(tiny_data), coco(elsewhere), coco(elsewhere, ann="annotations/fewer.json"))):
        log_dataset_inputs(client, run_id, {"training": dataset_facts(ds)})
    (a, b, c) = (inputs_of(client, r)["coco/train"] for r in runs)
    assert a[0] == b[0] and a[3] != b[3]  # same bytes, other path: same digest
    assert c[0] != a[0] and c[2]["instances"] == a[2]["instances"] - 1


def test_combined_dataset_logs_each_part_once_even_when_logged_again(mlflow_env, tiny_data):
    aic = dict(type="AicDataset", ann_file="annotations/aic_train.json", data_root=str(tiny_data),
               data_prefix=dict(img="images/train/"),
               pipeline=[dict(type="KeypointConverter", num_keypoints=17, mapping=AIC_TO_COCO)])
    combined = CombinedDataset(datasets=[coco(tiny_data), aic], metainfo=COCO_META)
    client = MlflowClient(mlflow_env)
    run_id = client.create_run("0").info.run_id
    for _ in range(2):  # a resumed run logs its datasets again
        log_dataset_inputs(client, run_id, {"training": dataset_facts(combined)})
    got = inputs_of(client, run_id)
    assert set(got) == {"coco/train", "aic/train"}
    assert len(client.get_run(run_id).inputs.dataset_inputs) == 2
    assert got["aic/train"][2]["num_keypoints"] == 14 and got["coco/train"][2]["num_keypoints"] == 17
