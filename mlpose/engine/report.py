"""The last lines a job prints: where its MLflow run and files are, and after a stop, where the
checkpoint is and the exact command that continues it. ``train``, ``test`` and ``evaluate`` name
their run in the same words (``MLflow run RUN_ID: ...``)."""
from __future__ import annotations

import shlex
from pathlib import Path

from mlpose.engine.context import RunContext
from mlpose.engine.options import TrainOptions
from mlpose.engine.parts import TrainParts
from mlpose.tracking.base import BaseTracker


def run_line(tracker: BaseTracker) -> str | None:
    """``MLflow run RUN_ID: <where to see it>``; None without tracking."""
    if not tracker.active:
        return None
    from mlpose.tracking.redact import redact_text

    uri = redact_text(tracker.tracking_uri)
    ui = (f"{uri}/#/experiments/{tracker.experiment_id}/runs/{tracker.run_id}" if uri.startswith("http")
          else f"mlflow ui --backend-store-uri {uri}  (then open http://127.0.0.1:5000)")
    return f"MLflow run {tracker.run_id}: {ui}"


def report_run(ctx: RunContext, tracker: BaseTracker) -> None:
    """The end of ``test`` and ``evaluate``: the run and the log folder."""
    for line in filter(None, (run_line(tracker), f"log: {ctx.log_dir}")):
        ctx.logger.info(line)


def where_to_look(ctx: RunContext, tracker: BaseTracker, metrics: dict, show_dir: Path | None) -> None:
    """The end of ``train``: plot the run's curves and tell the user where the run, its files
    and pictures are."""
    done = ", ".join(f"{k} {v:.4f}" for k, v in list(metrics.items())[:3])
    lines = [f"finished: {done or 'no validation metrics (validation was off: --no-validate or no val_dataloader)'}"]
    if tracker.active:
        from mlpose.tracking.compare import compare_runs

        if tracker.flush():  # False while the server is away: no curves to read back
            curves = ctx.log_dir / "curves.png"
            compare_runs([tracker.run_id], str(curves), tracking_uri=tracker.tracking_uri)
            tracker.log_artifact(str(curves), "plots")
        lines.append(run_line(tracker))
    lines.append(f"work dir {ctx.work_dir}: checkpoints; {ctx.log_dir}: log, curves.png, vis_data/ "
                 f"(tensorboard --logdir {ctx.log_dir / 'vis_data'})")
    if show_dir:
        lines.append(f"pictures: {show_dir}")
    for line in lines:
        ctx.logger.info(line)


def resume_hint(ctx: RunContext, parts: TrainParts, opts: TrainOptions, tracked: bool = True) -> list[str]:
    """After Ctrl-C/SIGTERM: where the newest checkpoint is and the command that continues it
    (in the same MLflow run when ``tracked``; from scratch in that run when the stop came
    before any checkpoint)."""
    latest = parts.checkpointer.manager.latest()
    where = f"the latest checkpoint is {latest}" if latest else f"no checkpoint in {ctx.work_dir} yet"
    command = resume_command(opts.command)
    launch = "" if ctx.launcher == "none" else f" (started through your {ctx.launcher} launcher, as before)"
    run = " in the same MLflow run" if tracked else ""
    return [f"stopped: {where}", f"to continue{run}: {command}{launch}"]


def resume_command(command: list[str]) -> str:
    """The command line that continues a stopped job: ``mlpose train ... --resume`` (any
    ``--resume PATH`` replaced: the newest checkpoint is taken); ``mlpose resume RUN_ID ...``
    as it was."""
    args = list(command[1:]) if command else []
    if args and args[0] == "train":
        kept, skip = [], False
        for i, arg in enumerate(args):
            if skip:
                skip = False
                continue
            if arg == "--resume":
                # click: `--resume` takes the next word as its PATH unless that is an option
                skip = i + 1 < len(args) and not args[i + 1].startswith("-")
                continue
            if not arg.startswith("--resume="):
                kept.append(arg)
        args = [*kept, "--resume"]
    return shlex.join(["mlpose", *args])
