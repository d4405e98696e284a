"""Same weights, same batch, same training step: mlpose against MMPose 1.3.2 (never in CI).

    .venv/bin/python benchmarks/zoo_step.py CONFIG [CONFIG ...] [--steps 5] [--batch 6]
        [--mmpose-python /tmp/mmpose-venv/bin/python] [--extra-path /tmp/recipe-albu]

CONFIG: a file both tools train, e.g. a derived recipe ``benchmarks/zoo_recipe.py`` writes
(``/tmp/recipe/hrnet-w32_recipe.py``). MMPose builds the model and the optimizer (its
``build_optim_wrapper``, ``paramwise_cfg`` included) from the file, draws one uint8 batch and random
targets of its head's output shapes, and trains ``--steps`` steps on that batch; the weights it
started from, the batch, the first step's gradients, the losses and the final state go to a file.
mlpose then loads those weights into its own model and optimizer built from the same file and
trains the same steps (gradient clipping as its training loop does), once in MMPose's memory layout (NCHW) and once channels-last (mlpose's CPU
default). One row per config and layout: the largest gradient difference of step 1 relative to the
parameter's gradient norm, the losses of both, and the largest difference of any weight or
BatchNorm statistic after the steps. This checks loss, backward, optimizer groups (learning rate,
weight decay per parameter), clipping and update, apart from the data and augmentation. Layers that
draw random numbers in training (drop path, dropout) draw differently in the two tools: give a file
with them off (``model.backbone.drop_path_rate=0`` for ViTPose) to compare steps.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def mmpose_worker(config: str, out: str, steps: int, batch: int) -> None:
    """In MMPose's venv: train ``steps`` steps on one random batch; save what mlpose compares."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmpose.apis import init_model
    from mmpose.utils import register_all_modules

    register_all_modules()
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    model = init_model(cfg, None, device="cpu").train()
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    width, height = cfg.codec["input_size"]
    gen = torch.Generator().manual_seed(1)
    inputs = torch.randint(0, 256, (batch, 3, height, width), generator=gen, dtype=torch.uint8)
    pre = model.data_preprocessor

    def forward():
        x = inputs.float()[:, [2, 1, 0]] if pre._channel_conversion else inputs.float()
        return model.head.forward(model.extract_feat((x - pre.mean) / pre.std))

    with torch.no_grad():  # the head's output shapes (eval: BatchNorm statistics untouched)
        model.eval()
        outputs = forward()
    model.train()
    shapes = [t.shape for t in (outputs if isinstance(outputs, tuple) else (outputs,))]
    targets = [torch.rand(shape, generator=gen) for shape in shapes]
    weights = (torch.rand(shapes[0][:2], generator=gen) > 0.2).float()
    init = {k: v.clone() for k, v in model.state_dict().items()}
    losses, grads = [], {}
    for step in range(steps):
        preds = forward()
        loss = model.head.loss_module(preds, tuple(targets) if len(targets) > 1 else targets[0], weights)
        loss.backward()
        if step == 0:
            grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        wrapper.step()
        wrapper.zero_grad()
        losses.append(loss.item())
    torch.save(dict(inputs=inputs, targets=targets, weights=weights, init=init, grads=grads, losses=losses,
                    after=model.state_dict()), out)


def mlpose_row(config: str, ref: dict, channels_last: bool) -> str:
    """mlpose's run of the same steps from MMPose's weights; one table row."""
    from mlpose.config import load_config
    from mlpose.engine.optim import build_optimizer, make_grad_clipper, parse_optim_wrapper
    from mlpose.registry import CODECS, MODELS, build

    cfg = load_config(config)
    model = build(cfg.model, MODELS, "model")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.load_state_dict(ref["init"])
    model.train()
    optimizer = build_optimizer(model, cfg.optim_wrapper)
    clip = make_grad_clipper(parse_optim_wrapper(cfg.optim_wrapper).clip_grad)  # as the training loop does
    params = [p for group in optimizer.param_groups for p in group["params"]]
    keys = [k for k in build(cfg.codec, CODECS, "codec").target_keys if k != "keypoint_weights"]
    targets = dict(zip(keys, ref["targets"]), keypoint_weights=ref["weights"])
    losses, grad_gap = [], 0.0
    for step in range(len(ref["losses"])):
        loss = model.loss_from_outputs(model(ref["inputs"]), targets)["loss"]
        loss.backward()
        if step == 0:
            grad_gap = max(((p.grad - ref["grads"][n]).norm() / ref["grads"][n].norm().clamp_min(1e-30)).item()
                           for n, p in model.named_parameters() if n in ref["grads"])
        if clip is not None:
            clip(params)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    after = model.state_dict()
    worst = max(((after[k].float() - v.float()).abs().max().item(), k) for k, v in ref["after"].items()
                if v.is_floating_point())
    fmt = lambda values: " ".join(f"{x:.6g}" for x in values)  # noqa: E731
    return (f"| {Path(config).name} | {'channels-last' if channels_last else 'NCHW'} | {grad_gap:.1e} | "
            f"{fmt(losses)} | {fmt(ref['losses'])} | {worst[0]:.1e} ({worst[1]}) |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("configs", nargs="+")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--mmpose-python", default="/tmp/mmpose-venv/bin/python")
    p.add_argument("--extra-path", default="/tmp/recipe-albu", help="albumentations links (zoo_recipe.py's)")
    p.add_argument("--mmpose-worker", metavar="OUT", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mmpose_worker:
        mmpose_worker(args.configs[0], args.mmpose_worker, args.steps, args.batch)
        return
    print("| config | mlpose layout | step-1 gradient gap (max over parameters, relative) | mlpose losses | "
          "MMPose losses | largest weight/statistic difference after the steps |\n|---|---|---|---|---|---|")
    for config in args.configs:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "mmpose_step.pt")
            env = dict(os.environ, PYTHONPATH=args.extra_path, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
            subprocess.run([args.mmpose_python, __file__, config, "--mmpose-worker", out, "--steps", str(args.steps),
                            "--batch", str(args.batch)], env=env, check=True, stdout=subprocess.DEVNULL)
            ref = torch.load(out, weights_only=False)  # our own file, written just now
        for channels_last in (False, True):
            print(mlpose_row(config, ref, channels_last), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
