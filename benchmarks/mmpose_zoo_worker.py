"""MMPose's side of ``benchmarks/zoo_weights.py``: run with MMPose's own Python (``/tmp/mmpose-venv``).

    python mmpose_zoo_worker.py save CONFIG CROPS.npy OUT_DIR
    python mmpose_zoo_worker.py load CONFIG CROPS.npy WEIGHTS.pth OUT_DIR
    python mmpose_zoo_worker.py layout SPECS.json OUT.txt
    python mmpose_zoo_worker.py infer CONFIG CHECKPOINT CROPS.npy JOBS.json OUT_DIR

``save`` builds the pose model from the unchanged config file (``init_cfg`` dropped, as
``mmpose.apis.init_model`` does), gives it random weights (see :func:`randomize`), writes them with
MMEngine's ``save_checkpoint`` to ``OUT_DIR/mmpose.pth`` (``meta`` + ``state_dict``, as MMPose's
runner saves) and the eval-mode outputs of the head on the uint8 BGR crops ``CROPS.npy``
``(N, 3, H, W)`` to ``OUT_DIR/mmpose_out.npz`` (``out_0, out_1, ...``: one array per head output). ``load`` loads ``WEIGHTS.pth`` into the model
(MMEngine's ``load_checkpoint``, strict) and writes the outputs the same way. ``layout`` builds
each backbone of ``SPECS.json`` (``{name: backbone config}``) and writes, per backbone, a line
``[name] CONFIG_JSON`` and then one line ``key d0,d1,...`` per state-dict entry: the facts behind
``tests/models/backbones/mmpose_layouts.txt`` (``SPECS`` may be that file: its ``[name]``
lines are read back). ``infer`` is MMPose's side of ``benchmarks/zoo_checkpoints.py``: the model of
``mmpose.apis.init_model(CONFIG, CHECKPOINT)`` (the checkpoint as MMPose loads it: its
``state_dict``), its head outputs on ``CROPS.npy`` to ``OUT_DIR/mmpose_out.npz`` and
``inference_topdown`` over every image of ``JOBS.json`` (``[{"image": path, "boxes": [[x1, y1, x2,
y2], ...]}]``, one call per image, as MMPoseInferencer makes it) to ``OUT_DIR/mmpose_infer.json``
(per image, the keypoints ``[[x, y], ...]`` of each box in the order given).
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint, save_checkpoint
from mmpose.apis import init_model
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample


def build(config: str) -> torch.nn.Module:
    cfg = Config.fromfile(config)
    for part in ("backbone", "neck", "head"):
        if part in cfg.model:
            cfg.model[part].pop("init_cfg", None)
    return init_model(cfg, None, device="cpu")


def randomize(model: torch.nn.Module, crops: torch.Tensor, seed: int = 0) -> None:
    """Random weights that keep activations near unit scale, so a wrong layer shows in the output.

    Convs get N(0, 1/fan_in) weights, BatchNorms random affine parameters; then one train-mode
    pass over the crops sets every BN's running statistics (momentum 1), and the model is left in
    eval mode. MMPose's own init would zero every residual branch's last BN, hiding those layers.
    """
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            fan_in = m.weight[0].numel() if not isinstance(m, torch.nn.ConvTranspose2d) else m.weight.shape[0]
            m.weight.data = torch.randn(m.weight.shape, generator=gen) / fan_in**0.5
            if m.bias is not None:
                m.bias.data = 0.1 * torch.randn(m.bias.shape, generator=gen)
        elif isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.weight.data = 0.5 + torch.rand(m.weight.shape, generator=gen)
            m.bias.data = 0.2 * torch.randn(m.bias.shape, generator=gen)
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one pass sets the statistics of that pass
    model.train()
    with torch.no_grad():
        outputs(model, crops)
    model.eval()


def outputs(model: torch.nn.Module, crops: torch.Tensor) -> dict:
    """The head's forward outputs (heatmaps; SimCC x and y) for uint8 BGR crops: ``out_i`` float32."""
    samples = [PoseDataSample() for _ in crops]  # MMPose's preprocessor records pad shapes in them
    data = model.data_preprocessor(dict(inputs=list(crops), data_samples=samples), False)["inputs"]
    out = model.head.forward(model.extract_feat(data))
    out = out if isinstance(out, (tuple, list)) else (out,)
    return {f"out_{i}": o.float().numpy() for i, o in enumerate(out)}


def infer(config: str, checkpoint: str, crops: str, jobs: str, out_dir: str) -> None:
    """``infer``: head outputs on the crops and ``inference_topdown`` keypoints (see the docstring)."""
    import cv2
    from mmpose.apis import inference_topdown

    cfg = Config.fromfile(config)
    for part in ("backbone", "neck", "head"):  # nothing to download: the checkpoint holds every weight
        if part in cfg.model:
            cfg.model[part].pop("init_cfg", None)
    model = init_model(cfg, checkpoint, device="cpu")
    with torch.no_grad():
        np.savez(Path(out_dir) / "mmpose_out.npz", **outputs(model, torch.from_numpy(np.load(crops))))
        found = []
        for job in json.loads(Path(jobs).read_text()):
            results = inference_topdown(model, cv2.imread(job["image"]), np.asarray(job["boxes"], np.float32),
                                        bbox_format="xyxy")
            found.append([r.pred_instances.keypoints[0].tolist() for r in results])
    (Path(out_dir) / "mmpose_infer.json").write_text(json.dumps(found))


def read_specs(path: Path) -> dict:
    """``{name: backbone config}`` from a JSON file, or from the ``[name] CONFIG_JSON`` lines of
    a layouts file this command wrote (so it can be rewritten from itself)."""
    if path.suffix == ".json":
        return json.loads(path.read_text())
    heads = [line.split("] ", 1) for line in path.read_text().splitlines() if line.startswith("[")]
    return {name[1:]: json.loads(spec) for name, spec in heads}


def main() -> None:
    command, args = sys.argv[1], sys.argv[2:]
    if command == "layout":
        init_default_scope("mmpose")
        lines = ["# Backbone state-dict layouts of MMPose 1.3.2: benchmarks/mmpose_zoo_worker.py layout"]
        for name, spec in read_specs(Path(args[0])).items():
            lines.append(f"[{name}] {json.dumps(spec)}")
            lines += [f"{k} {','.join(map(str, v.shape))}".rstrip() for k, v in MODELS.build(spec).state_dict().items()]
        Path(args[1]).write_text("\n".join(lines) + "\n")
        return
    if command == "infer":
        infer(*args)
        return
    config, crops = args[0], torch.from_numpy(np.load(args[1]))
    model = build(config)
    out_dir = Path(args[-1])
    if command == "save":
        randomize(model, crops)
        save_checkpoint(dict(meta=dict(source="mmpose_zoo_worker"), state_dict=model.state_dict()),
                        str(out_dir / "mmpose.pth"))
    else:
        load_checkpoint(model, args[2], map_location="cpu", strict=True)
        model.eval()
    with torch.no_grad():
        np.savez(out_dir / "mmpose_out.npz", **outputs(model, crops))


if __name__ == "__main__":
    main()
