# COCO's 17 keypoints followed by AI Challenger's head_top and neck (19 joints): the layout of
# MMPose's coco-aic "combine" recipes (KeypointConverter maps AIC people into it). Built from this
# folder's coco.py and aic.py, so the two stay the one source of each keypoint's facts.
# The AIC keypoints take COCO's eye sigma (0.026), as MMPose's recipes score them.
import os as _os
import runpy as _runpy

_here = _os.path.dirname(_os.path.abspath(__file__))
_coco = _runpy.run_path(_os.path.join(_here, 'coco.py'))['dataset_info']
_aic = _runpy.run_path(_os.path.join(_here, 'aic.py'))['dataset_info']
_extra = [info for info in _aic['keypoint_info'].values() if info['name'] in ('head_top', 'neck')]
_num_coco = len(_coco['keypoint_info'])

dataset_info = dict(
    dataset_name='coco',  # scored as COCO, the set these recipes validate on
    paper_info=_coco['paper_info'],
    keypoint_info={
        **_coco['keypoint_info'],
        **{_num_coco + i: dict(info, id=_num_coco + i) for i, info in enumerate(_extra)},
    },
    skeleton_info={
        **_coco['skeleton_info'],
        len(_coco['skeleton_info']): dict(link=('head_top', 'neck'), id=len(_coco['skeleton_info']),
                                          color=[51, 153, 255]),
    },
    joint_weights=[*_coco['joint_weights'], 1.0, 1.0],
    sigmas=[*_coco['sigmas'], 0.026, 0.026],
)
