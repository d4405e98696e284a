"""MMPose's side of ``benchmarks/infer.py``: run with MMPose's own Python (``/tmp/mmpose-venv``).

    python mmpose_topdown_worker.py CONFIG WEIGHTS.pth JOBS.json

Builds the model with ``mmpose.apis.init_model`` (the config's test settings: flip test on), loads
mlpose's weights (SimpleBaseline keys are the same), then answers one line per ``run`` read on
stdin: ``{"seconds": s, "crops": n}`` for ``inference_topdown`` over every image of JOBS.json
(``[{"image": path, "boxes": [[x1, y1, x2, y2], ...]}]``, each image's boxes as one batch, as
MMPoseInferencer calls it). ``keypoints`` on stdin prints the first image's keypoints.
"""
import json
import sys
import time

import cv2
import numpy as np
import torch
from mmpose.apis import inference_topdown, init_model


def main() -> None:
    config, weights, jobs_file = sys.argv[1:4]
    model = init_model(config, None, device="cpu")
    model.load_state_dict(torch.load(weights, map_location="cpu"), strict=True)
    jobs = [(cv2.imread(j["image"]), np.asarray(j["boxes"], np.float32)) for j in json.load(open(jobs_file))]
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() == "keypoints":
            image, boxes = jobs[0]
            results = inference_topdown(model, image, boxes, bbox_format="xyxy")
            print(json.dumps([r.pred_instances.keypoints[0].tolist() for r in results]), flush=True)
            continue
        start = time.perf_counter()
        with torch.no_grad():
            for image, boxes in jobs:
                inference_topdown(model, image, boxes, bbox_format="xyxy")
        print(json.dumps({"seconds": time.perf_counter() - start, "crops": int(sum(len(b) for _, b in jobs))}),
              flush=True)


if __name__ == "__main__":
    main()
