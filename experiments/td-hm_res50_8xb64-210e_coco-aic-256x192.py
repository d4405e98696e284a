# SimpleBaseline ResNet-50 trained on COCO + AI Challenger (AIC keypoints converted to the COCO
# layout), validated on both with the MultiDatasetEvaluator (coco/AP, aic/AP).
_base_ = ['td-hm_res50_8xb64-210e_coco-256x192.py']

# AIC index -> COCO index for the 12 limb joints AIC shares with COCO
aic_to_coco_converter = dict(
    type='KeypointConverter',
    num_keypoints=17,
    mapping=[(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9),
             (6, 12), (7, 14), (8, 16), (9, 11), (10, 13), (11, 15)])

coco_metainfo = dict(from_file='experiments/_base_/datasets/coco.py')

# training: each dataset's own pipeline converts its keypoints, then the shared pipeline runs
coco_train = dict(
    type='CocoDataset',
    data_root='data/coco/',
    data_mode='topdown',
    ann_file='annotations/person_keypoints_train2017.json',
    data_prefix=dict(img='train2017/'),
    pipeline=[])
aic_train = dict(
    type='AicDataset',
    data_root='data/aic/',
    data_mode='topdown',
    ann_file='annotations/aic_train.json',
    data_prefix=dict(img='ai_challenger_keypoint_train_20170902/keypoint_train_images_20170902/'),
    pipeline=[aic_to_coco_converter])
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CombinedDataset',
        metainfo=coco_metainfo,
        datasets=[coco_train, aic_train],
        pipeline=_base_.train_pipeline,
        test_mode=False))

# validation: predictions are in the COCO layout; the AIC metric converts its ground truth
coco_val = dict(
    type='CocoDataset',
    data_root='data/coco/',
    data_mode='topdown',
    ann_file='annotations/person_keypoints_val2017.json',
    bbox_file='data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json',
    data_prefix=dict(img='val2017/'),
    test_mode=True,
    pipeline=[])
aic_val = dict(
    type='AicDataset',
    data_root='data/aic/',
    data_mode='topdown',
    ann_file='annotations/aic_val.json',
    data_prefix=dict(img='ai_challenger_keypoint_validation_20170911/keypoint_validation_images_20170911/'),
    test_mode=True,
    pipeline=[])
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='CombinedDataset',
        metainfo=coco_metainfo,
        datasets=[coco_val, aic_val],
        pipeline=_base_.val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True,
    type='MultiDatasetEvaluator',
    metrics=[
        dict(type='CocoMetric', ann_file='data/coco/annotations/person_keypoints_val2017.json'),
        dict(type='CocoMetric', ann_file='data/aic/annotations/aic_val.json', use_area=False,
             gt_converter=aic_to_coco_converter, prefix='aic'),
    ],
    datasets=[coco_val, aic_val])
test_evaluator = val_evaluator
