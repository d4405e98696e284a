"""Any config pointed at generated data for one training iteration, whatever its dataset layout."""
from pathlib import Path

from mlpose.zoo import on_generated_data

DATA = Path("/data/synth")


def test_every_dataset_and_evaluator_reads_the_generated_files():
    coco = dict(type="CocoDataset", data_root="data/coco/", ann_file="annotations/train2017.json",
                data_prefix=dict(img="train2017/"))
    aic = dict(type="AicDataset", data_root="data/aic/", ann_file="aic_train.json", data_prefix=dict(img="x/"))
    cfg = dict(
        model=dict(type="TopdownPoseEstimator", backbone=dict(type="ResNet", init_cfg=[
            dict(type="Kaiming", layer="Conv2d"), dict(type="Pretrained", checkpoint="torchvision://resnet50")]),
            head=dict(type="HeatmapHead", init_cfg=dict(type="Pretrained", checkpoint="https://x/y.pth"))),
        train_dataloader=dict(batch_size=64, num_workers=4, persistent_workers=True, dataset=dict(
            type="CombinedDataset", datasets=[dict(type="RepeatDataset", times=3, dataset=coco), aic])),
        val_dataloader=dict(batch_size=32, dataset=dict(type="CocoDataset", ann_file="val.json", test_mode=True,
                                                        bbox_file="data/coco/dets.json")),
        val_evaluator=[dict(type="CocoMetric", ann_file="data/coco/val.json"),
                       dict(type="CocoMetric", ann_file="data/aic/annotations/aic_val.json", prefix="aic")],
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=10, save_best="coco/AP")),
        train_cfg=dict(max_epochs=210, val_interval=10), load_from="https://x/z.pth")
    out = on_generated_data(cfg, DATA)

    train = out["train_dataloader"]
    assert (train["batch_size"], train["num_workers"], train["persistent_workers"]) == (2, 0, False)
    repeated, aic_out = train["dataset"]["datasets"][0]["dataset"], train["dataset"]["datasets"][1]
    assert repeated == dict(type="CocoDataset", data_root=str(DATA), ann_file="annotations/person_keypoints_train.json",
                            data_prefix=dict(img="images/train/"), indices=1)  # 2 datasets, one batch of 2
    assert aic_out["ann_file"] == "annotations/aic_train.json" and aic_out["indices"] == 1
    val = out["val_dataloader"]["dataset"]
    assert val["ann_file"] == "annotations/person_keypoints_val.json" and "indices" not in val
    assert val["bbox_file"] == str(DATA / "annotations" / "person_detection_results_val.json")
    assert [m["ann_file"] for m in out["val_evaluator"]] == [
        str(DATA / "annotations" / "person_keypoints_val.json"), str(DATA / "annotations" / "aic_val.json")]

    assert out["model"]["backbone"]["init_cfg"] == [dict(type="Kaiming", layer="Conv2d")]
    assert "init_cfg" not in out["model"]["head"] and out["load_from"] is None
    assert out["tracking"]["enabled"] is False and out["train_cfg"]["max_epochs"] == 1
    assert out["default_hooks"]["checkpoint"]["save_last"] is False and out["default_hooks"]["checkpoint"]["save_best"] is None
    assert cfg["train_dataloader"]["batch_size"] == 64  # the config given is left as it was
