"""What the CLI commands do: ``train``, ``test``, ``evaluate`` and ``resume`` end to end, each as
one MLflow run. The tracker is made here and passed in: MLflow on rank 0, a no-op elsewhere."""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

from mlpose.config import load_config
from mlpose.config.secrets import restore_secrets
from mlpose.engine.build import (build_loader, build_model, build_show, build_split_evaluator, build_train_parts,
                                 restore_or_init)
from mlpose.engine.checkpointer import load_weights
from mlpose.engine.context import RunContext, setup_run
from mlpose.engine.continuity import resumed_run_id
from mlpose.engine.loop import Interrupted, evaluate, fit
from mlpose.engine.options import TestOptions, TrainOptions
from mlpose.engine.parts import TrainParts
from mlpose.errors import ConfigError
from mlpose.runtime import dist, hub
from mlpose.runtime.checkpoint_io import check_checkpoint_file, load_checkpoint
from mlpose.runtime.launch import shutdown
from mlpose.runtime.user_files import check_outputs, write_output
from mlpose.tracking.base import BaseTracker, NullTracker

__all__ = ["TrainOptions", "TestOptions", "train", "test", "evaluate_predictions", "resume_run"]


def start_tracker(ctx: RunContext, *, experiment, command, run_id=None, parent_run_id=None,
                  tags=None, resumed_run=None) -> BaseTracker:
    """Rank 0 opens (or attaches to) the MLflow run and gets its tracker; every other rank gets a
    :class:`NullTracker` with the same run id. ``tracking.enabled=False``: NullTracker everywhere.

    Before that, rank 0 sends what earlier jobs left pending in the work dir's journal and picks
    ``resumed_run`` (the run a ``--resume`` checkpoint recorded) when it can be continued."""
    cfg = ctx.cfg
    if not (cfg.get("tracking") or {}).get("enabled", True):
        return NullTracker()
    tracker: BaseTracker | None = None
    if dist.is_main():
        from mlpose.tracking.access import check_tracking_access
        from mlpose.tracking.journal import journal_dir
        from mlpose.tracking.leftovers import after_start, before_job
        from mlpose.tracking.runs import resolve_tracking_uri
        from mlpose.tracking.tracker import Tracker

        uri = resolve_tracking_uri(cfg)
        check_tracking_access(uri)  # one clear line for a bad URL or credentials
        run_id = before_job(ctx.work_dir, uri, run_id, None if parent_run_id else resumed_run, ctx.logger)
        tracker = Tracker.start(
            cfg, config_file=cfg.filename, config_name=cfg.name, experiment=experiment,
            tracking_uri=None, command=list(command or sys.argv), launcher=ctx.launcher,
            world_size=ctx.world_size, precision=ctx.precision, run_id=run_id, parent_run_id=parent_run_id,
            extra_tags=tags, journal_dir=journal_dir(ctx.work_dir))
        after_start(tracker.client, tracker.run_id, tracker.experiment_id, ctx.logger)
    run = dist.broadcast_object((tracker.run_id, tracker.experiment_id) if tracker else None)
    return tracker or NullTracker(*run)


@contextlib.contextmanager
def tracked(ctx: RunContext, tracker: BaseTracker, parts: TrainParts | None = None):
    """Finish the run FINISHED / KILLED (Ctrl-C, SIGTERM) / FAILED (with the error), always
    restoring signal handlers, uploading the log and TensorBoard files, ending the process group."""
    status, error = "FINISHED", None
    try:
        yield
        dist.barrier()  # ranks leave together: rank 0 may still be uploading when the others finish
    except (KeyboardInterrupt, Interrupted) as exc:
        status, error = "KILLED", exc
        raise SystemExit(130) from None
    except BaseException as exc:
        status, error = "FAILED", exc
        raise
    finally:
        if parts is not None:
            parts.stop.restore()  # a caller (e.g. a sweep) gets its own handlers back
            parts.visualizer.close()
        for handler in list(ctx.logger.handlers):
            handler.flush()
        tracker.log_artifact(str(ctx.log_dir), "logs")
        tracker.finish(status, error)
        shutdown()


def _resolve(uri: str, cfg):
    """``(local path, source run id)`` for a checkpoint path, URL or MLflow URI (downloaded when
    remote); ``runs:/``/``models:/`` are looked up where this job's runs go (the config's
    ``tracking.uri`` counts, as for the tracker), not only in MLflow's process-wide default."""
    from mlpose.tracking.runs import resolve_tracking_uri
    from mlpose.tracking.uris import resolve_checkpoint

    return resolve_checkpoint(uri, tracking_uri=resolve_tracking_uri(cfg))


def check_load_from(ref: str | None) -> None:
    """A wrong ``load_from`` stops the job before anything is built or tracked: a local file must
    be a torch checkpoint, a model-zoo name or URL well formed (it is downloaded when used)."""
    try:
        if ref and hub.is_remote(ref):
            hub.resolve_url(ref)
        elif ref and ":/" not in ref:  # runs:/, models:/ and MLflow's artifact schemes are resolved later
            check_checkpoint_file(ref)
    except ConfigError as exc:
        raise ConfigError(f"load_from: {exc}") from None


def train(config: str, opts: TrainOptions) -> dict:
    """Train ``config``; returns ``dict(run_id, work_dir, metrics, best_checkpoint)``."""
    cfg = load_config(config, opts.cfg_options, strict=opts.strict or None)
    restore_secrets(cfg)  # a resumed run's logged config holds *** for its secrets
    check_load_from(cfg.get("load_from"))
    if opts.config_name:
        object.__setattr__(cfg, "name", opts.config_name)
    ctx = setup_run(cfg, opts.work_dir, opts.launcher, opts.amp)
    parts = build_train_parts(ctx, opts)
    tracker = start_tracker(ctx, experiment=opts.experiment, command=opts.command, run_id=opts.run_id,
                            parent_run_id=opts.parent_run_id, resumed_run=resumed_run_id(parts, opts.resume))
    with tracked(ctx, tracker, parts):
        ctx.logger.info(f"config {cfg.filename} | work dir {ctx.log_dir} | precision {ctx.precision} | "
                        f"world size {ctx.world_size} | seed {ctx.seed} | MLflow run {tracker.run_id}")
        tracker.log_datasets({"training": parts.train_loader.dataset.dataset,
                              "validation": parts.val_loader.dataset.dataset if parts.val_loader else None})
        restore_or_init(parts, opts.resume, lambda ref: _resolve(ref, cfg)[0])
        parts.stop.install()
        metrics = fit(parts, tracker)  # the best and latest checkpoints became the run's models on the way
        _earlier_best_model(parts, tracker)
        if (cfg.get("tracking") or {}).get("register_model"):
            tracker.register_models(cfg.tracking.register_model)
        _where_to_look(ctx, tracker, metrics, parts.show.show_dir)
    best = parts.checkpointer.best()
    best = str(best[1]) if best and best[1].is_file() else None
    return {"run_id": tracker.run_id, "work_dir": str(ctx.work_dir), "metrics": metrics, "best_checkpoint": best}


def _earlier_best_model(parts: TrainParts, tracker: BaseTracker) -> None:
    """A resumed run whose best epoch came before the resume but whose best model was never
    stored (the job was killed while storing it) gets it now: from the local file, else (resumed
    by run id in an empty folder) from the run's ``checkpoints/best.pth``."""
    best = parts.checkpointer.best()
    if best is None or tracker.has_model("best"):
        return
    epoch, path = best
    if not path.is_file():
        try:
            path = Path(_resolve(f"runs:/{tracker.run_id}/checkpoints/best.pth", parts.ctx.cfg)[0])
        except ConfigError as exc:  # not logged (tracking.log_checkpoints='none'): no model
            parts.ctx.logger.warning(f"best checkpoint of epoch {epoch} is neither in {parts.ctx.work_dir} nor in "
                                     f"MLflow ({exc}); the run has no best model")
            return
    tracker.log_model(path, "best", load_checkpoint(path)["state"]["iteration"])  # metrics: those of its step


def test(config: str, checkpoint: str, opts: TestOptions) -> dict:
    """Evaluate ``checkpoint`` on the config's test set; prints and returns the metrics."""
    cfg = load_config(config, opts.cfg_options, strict=opts.strict or None)
    ctx = setup_run(cfg, opts.work_dir, opts.launcher, amp=False)
    build_show(ctx, opts, None)  # --show without a display fails before anything is downloaded
    local, source_run = _resolve(checkpoint, cfg)
    check_outputs({"--out": opts.out, "--dump": opts.dump}, [local, cfg.filename])
    tags = {"mlpose.checkpoint": checkpoint, **({"mlpose.source_run_id": source_run} if source_run else {})}
    tracker = start_tracker(ctx, experiment=opts.experiment, command=opts.command, tags=tags)
    with tracked(ctx, tracker):
        model, _ = build_model(ctx)
        load_weights(model, local)
        loader = build_loader(ctx, "test", train=False)
        tracker.log_datasets({"test": loader.dataset.dataset})
        evaluator = build_split_evaluator(ctx, "test", loader)
        dump: list | None = [] if opts.dump else None
        metrics = evaluate(model, loader, evaluator, ctx, build_show(ctx, opts, loader), tracker,
                           desc="test", dump=dump)
        _report(ctx, tracker, metrics, opts.out)
        if dump is not None:
            _write_dump(ctx, tracker, dump, opts.dump)
    return metrics


def evaluate_predictions(config: str, predictions: str, cfg_options: list, out: str | None = None,
                         experiment: str | None = None, command: list | None = None,
                         ann_file: str | None = None) -> dict:
    """Run the config's test evaluator on a ``--dump`` file or a COCO keypoint results JSON
    (``ann_file``: against that annotation file, see :mod:`mlpose.engine.ann_file`)."""
    from mlpose.config import parse_options
    from mlpose.engine.ann_file import ann_file_overrides
    from mlpose.evaluation import build_evaluator
    from mlpose.evaluation.predictions import check_predictions, read_predictions
    from mlpose.registry import DATASETS, build

    if not os.path.isfile(predictions):
        raise ConfigError(f"predictions file {predictions!r} does not exist; give a --dump file or COCO results JSON")
    cfg = load_config(config, cfg_options)
    if ann_file:
        cfg = load_config(config, {**parse_options(cfg_options), **ann_file_overrides(cfg, ann_file)})
    check_outputs({"--out": out}, [predictions, ann_file, cfg.filename])
    # the predictions are read and checked before the job starts: a bad file is one line, not a FAILED run
    dataset = build(cfg.test_dataloader.dataset, DATASETS, "test_dataloader.dataset")
    evaluator = build_evaluator(cfg.test_evaluator, dataset.metainfo)
    preds = read_predictions(predictions, dataset)
    check_predictions(preds, predictions, evaluator)
    ctx = setup_run(cfg, None, "none", amp=False)
    tracker = start_tracker(ctx, experiment=experiment, command=command, tags={"mlpose.predictions": str(predictions)})
    with tracked(ctx, tracker):
        evaluator.process(preds)
        metrics = evaluator.compute()
        _report(ctx, tracker, metrics, out)
    return metrics


def resume_run(run_id: str, cfg_options: list, work_dir: str | None = None, launcher: str = "none",
               command: list | None = None) -> dict:
    """Continue MLflow run ``run_id`` from its latest logged checkpoint, in the same run."""
    from mlpose.tracking.resume import fetch_run_for_resume

    work = Path(work_dir or Path("work_dirs") / run_id)
    rank = int(os.environ.get("RANK", "0"))  # no process group yet: each rank fetches its own copy
    info = fetch_run_for_resume(run_id, work if rank == 0 else work / f".fetch_rank{rank}")
    opts = TrainOptions(work_dir=str(work), resume=str(info.checkpoint_path), cfg_options=list(cfg_options),
                        amp="amp" in (info.precision or ""), launcher=launcher,  # the run's precision survives
                        command=list(command or sys.argv), run_id=run_id, config_name=info.config_name)
    return train(str(info.config_path), opts)


def _where_to_look(ctx: RunContext, tracker: BaseTracker, metrics: dict, show_dir: Path | None) -> None:
    """Plot the run's curves and tell the user where the run, its files and pictures are."""
    done = ", ".join(f"{k} {v:.4f}" for k, v in list(metrics.items())[:3])
    lines = [f"finished: {done or 'no validation metrics (validation was off: --no-validate or no val_dataloader)'}"]
    if tracker.active:
        from mlpose.tracking.compare import compare_runs
        from mlpose.tracking.redact import redact_text

        if tracker.flush():  # False while the server is away: no curves to read back
            curves = ctx.log_dir / "curves.png"
            compare_runs([tracker.run_id], str(curves), tracking_uri=tracker.tracking_uri)
            tracker.log_artifact(str(curves), "plots")
        uri = redact_text(tracker.tracking_uri)
        ui = (f"{uri}/#/experiments/{tracker.experiment_id}/runs/{tracker.run_id}" if uri.startswith("http")
              else f"mlflow ui --backend-store-uri {uri}  (then open http://127.0.0.1:5000)")
        lines.append(f"MLflow run {tracker.run_id}: {ui}")
    lines.append(f"work dir {ctx.work_dir}: checkpoints; {ctx.log_dir}: log, curves.png, vis_data/ "
                 f"(tensorboard --logdir {ctx.log_dir / 'vis_data'})")
    if show_dir:
        lines.append(f"pictures: {show_dir}")
    for line in lines:
        ctx.logger.info(line)


def _report(ctx: RunContext, tracker: BaseTracker, metrics: dict, out: str | None) -> None:
    ctx.logger.info("  ".join(f"{k}: {v:.4f}" for k, v in metrics.items()))
    tracker.log_metrics(metrics, 0)
    if out and dist.is_main():
        write_output(out, json.dumps(metrics, indent=2), "--out")
        tracker.log_artifact(out, "results")


def _write_dump(ctx: RunContext, tracker: BaseTracker, preds: list, path: str) -> None:
    from mlpose.evaluation.predictions import write_predictions

    gathered = [p for part in dist.all_gather_object(preds) for p in part]
    if dist.is_main():
        write_predictions(gathered, path)
        ctx.logger.info(f"wrote {len(gathered)} predictions to {path}")
        tracker.log_artifact(path, "results")
