"""What the CLI commands do: ``train``, ``test``, ``evaluate`` and ``resume`` end to end, each as
one MLflow run. The tracker is made here and passed in: MLflow on rank 0, a no-op elsewhere."""
from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Callable

from mlpose.config import load_config
from mlpose.config.secrets import restore_secrets
from mlpose.engine.build import (build_loader, build_model, build_show, build_split_evaluator, build_train_parts,
                                 restore_or_init)
from mlpose.engine.checkpointer import load_weights
from mlpose.engine.context import RunContext, setup_run
from mlpose.engine.continuity import resumed_run_id
from mlpose.engine.logger import capture_library_logs
from mlpose.engine.loop import Interrupted, evaluate, fit
from mlpose.engine.options import TestOptions, TrainOptions
from mlpose.engine.parts import TrainParts
from mlpose.engine.report import report_run, resume_hint, where_to_look
from mlpose.errors import ConfigError
from mlpose.runtime import dist, hub
from mlpose.runtime.checkpoint_io import check_checkpoint_file, load_checkpoint
from mlpose.runtime.folders import check_writable, unwritable_message
from mlpose.runtime.launch import shutdown
from mlpose.runtime.user_files import check_outputs, write_output
from mlpose.runtime.worklock import describe_holder, lock_work_dir, read_lock_record, try_lock_work_dir
from mlpose.tracking.base import BaseTracker, NullTracker

__all__ = ["TrainOptions", "TestOptions", "train", "test", "evaluate_predictions", "resume_run"]


def start_tracker(ctx: RunContext, *, experiment, command, run_id=None, parent_run_id=None,
                  tags=None, resumed_run=None, recorded_run=None, name_base: str | None = None,
                  default_experiment: str | None = None) -> BaseTracker:
    """Rank 0 opens (or attaches to) the MLflow run and gets its tracker; every other rank gets a
    :class:`NullTracker` with the same run id. ``tracking.enabled=False``: NullTracker everywhere.

    Before that, rank 0 sends what earlier jobs left pending in the work dir's journal and picks
    ``resumed_run`` (the run a ``--resume`` checkpoint recorded) when it can be continued, else
    ``recorded_run`` (the work dir's last run, for a ``--resume`` without a checkpoint) when it
    did not finish. A new run is
    named ``<name_base>-<n>`` (default: the config's name; see ``Tracker.start``); a training
    job records its run in the work-dir lock."""
    cfg = ctx.cfg
    if not (cfg.get("tracking") or {}).get("enabled", True):
        return NullTracker()
    tracker: BaseTracker | None = None
    if dist.is_main():
        from mlpose.tracking.access import check_tracking_access
        from mlpose.tracking.journal import journal_dir
        from mlpose.tracking.leftovers import after_start
        from mlpose.tracking.runs import resolve_tracking_uri
        from mlpose.tracking.tracker import Tracker

        capture_library_logs(ctx.logger)  # MLflow set up its console logger when imported just now
        uri = resolve_tracking_uri(cfg)
        check_tracking_access(uri)  # one clear line for a bad URL or credentials
        run_id = _leftovers(ctx, uri, run_id, None if parent_run_id else resumed_run or recorded_run, command,
                            unfinished_only=not resumed_run)
        tracker = Tracker.start(
            cfg, config_file=cfg.filename, config_name=cfg.name, experiment=experiment,
            tracking_uri=None, command=list(command or sys.argv), launcher=ctx.launcher,
            world_size=ctx.world_size, precision=ctx.precision, run_id=run_id, parent_run_id=parent_run_id,
            extra_tags=tags, journal_dir=journal_dir(ctx.work_dir), name_base=name_base,
            default_experiment=default_experiment)
        after_start(tracker.client, tracker.run_id, tracker.experiment_id, ctx.logger)
        if ctx.lock is not None:
            ctx.lock.note(run_id=tracker.run_id)  # what a --resume continues when no checkpoint exists yet
    run = dist.broadcast_object((tracker.run_id, tracker.experiment_id) if tracker else None)
    return tracker or NullTracker(*run)


def _leftovers(ctx: RunContext, uri: str, run_id, resumed_run, command, unfinished_only: bool) -> str | None:
    """:func:`~mlpose.tracking.leftovers.before_job` under the work-dir lock: a training holds
    it; a test takes it for the moment it needs, and beside a running training leaves the
    work dir's journal and upload folders to that job."""
    from mlpose.tracking.leftovers import before_job

    if ctx.lock is not None:
        return before_job(ctx.work_dir, uri, run_id, resumed_run, ctx.logger, unfinished_only)
    lock = try_lock_work_dir(ctx.work_dir, command)
    if lock is None:
        ctx.logger.info(f"work dir {ctx.work_dir} is in use by {describe_holder(read_lock_record(ctx.work_dir))}: "
                        "running beside it (its checkpoints are only read)")
        return run_id
    try:
        return before_job(ctx.work_dir, uri, run_id, resumed_run, ctx.logger, unfinished_only)
    finally:
        lock.release()


@contextlib.contextmanager
def tracked(ctx: RunContext, tracker: BaseTracker, parts: TrainParts | None = None,
            interrupted: Callable[[], list[str]] | None = None):
    """The job has started: finish the run FINISHED / KILLED (Ctrl-C, SIGTERM) / FAILED (with
    the error), always restoring signal handlers, uploading the log and TensorBoard files,
    ending the process group. After a stop, ``interrupted()`` gives the last lines to print
    (where the checkpoint is, how to resume)."""
    ctx.started = True
    status, error = "FINISHED", None
    try:
        yield
        dist.barrier()  # ranks leave together: rank 0 may still be uploading when the others finish
    except (KeyboardInterrupt, Interrupted) as exc:
        status, error = "KILLED", exc
        raise SystemExit(130) from None
    except OSError as exc:
        status, error = "FAILED", exc
        line = unwritable_message(exc)  # a folder mlpose was asked to write into: one line, not a traceback
        if line is None:
            raise
        error = ConfigError(line)
        raise error from None
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
        if status == "KILLED" and interrupted is not None:
            for line in interrupted():
                ctx.logger.warning(line)


def _resolve(uri: str, cfg):
    """``(local path, source run id)`` for a checkpoint path, URL or MLflow URI (downloaded when
    remote); ``runs:/``/``models:/`` are looked up where this job's runs go (the config's
    ``tracking.uri`` counts, as for the tracker), not only in MLflow's process-wide default."""
    from mlpose.tracking.runs import resolve_tracking_uri
    from mlpose.tracking.uris import resolve_checkpoint

    capture_library_logs()  # MLflow may have just been imported: its INFO lines go to the log file
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
    """Train ``config``; returns ``dict(run_id, work_dir, metrics, best_checkpoint)``.

    The work dir is locked for the job (a second training there is refused); a job that fails
    before it trains (a bad value, missing data, an unusable checkpoint) leaves no run and no
    log folder, only its one-line error."""
    cfg = load_config(config, opts.cfg_options, strict=opts.strict or None)
    restore_secrets(cfg)  # a resumed run's logged config holds *** for its secrets
    check_load_from(cfg.get("load_from"))
    if opts.config_name:
        object.__setattr__(cfg, "name", opts.config_name)
    ctx = setup_run(cfg, opts.work_dir, opts.launcher, opts.amp, lock=True, command=opts.command)
    with ctx.job():
        if opts.show_dir:
            check_writable(ctx.log_dir / opts.show_dir, "--show-dir folder", folder=True)
        parts = build_train_parts(ctx, opts)
        resumed = resumed_run_id(parts, opts.resume)
        recorded = None if resumed else _recorded_run(ctx, parts, opts.resume)
        restore_or_init(parts, opts.resume, lambda ref: _resolve(ref, cfg)[0])
        tracker = start_tracker(ctx, experiment=opts.experiment, command=opts.command, run_id=opts.run_id,
                                parent_run_id=opts.parent_run_id, resumed_run=resumed, recorded_run=recorded)
        with tracked(ctx, tracker, parts, lambda: resume_hint(ctx, parts, opts, tracker.active)):
            if recorded and tracker.run_id == recorded:
                ctx.logger.info(f"--resume: continuing MLflow run {recorded}, which stopped before its first "
                                "checkpoint: training from scratch in it")
            ctx.logger.info(f"config {cfg.filename} | work dir {ctx.log_dir} | precision {ctx.precision} | "
                            f"world size {ctx.world_size} | seed {ctx.seed} | MLflow run {tracker.run_id}")
            tracker.log_datasets({"training": parts.train_loader.dataset.dataset,
                                  "validation": parts.val_loader.dataset.dataset if parts.val_loader else None})
            parts.stop.install()
            metrics = fit(parts, tracker)  # the best and latest checkpoints became the run's models on the way
            _earlier_best_model(parts, tracker)
            if (cfg.get("tracking") or {}).get("register_model"):
                tracker.register_models(cfg.tracking.register_model)
            where_to_look(ctx, tracker, metrics, parts.show.show_dir)
    best = parts.checkpointer.best()
    best = str(best[1]) if best and best[1].is_file() else None
    return {"run_id": tracker.run_id, "work_dir": str(ctx.work_dir), "metrics": metrics, "best_checkpoint": best}


def _recorded_run(ctx: RunContext, parts: TrainParts, resume: str | None) -> str | None:
    """The MLflow run of the last training in the work dir, for a ``--resume`` (no path) that
    finds no checkpoint: a job killed before its first checkpoint is continued in its run."""
    auto = resume == "auto" or resume is None and ctx.cfg.get("resume") and not ctx.cfg.get("load_from")
    if not auto or ctx.lock is None or parts.checkpointer.manager.latest() is not None:
        return None
    return ctx.lock.previous.get("run_id")


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
    """Evaluate ``checkpoint`` on the config's test set; prints and returns the metrics.

    The model, data and evaluator are built before the MLflow run starts: a job that cannot
    run leaves no run and no log folder. It takes no lock: it may run beside a training in the
    same work dir (it only reads checkpoints, which are replaced atomically)."""
    cfg = load_config(config, opts.cfg_options, strict=opts.strict or None)
    ctx = setup_run(cfg, opts.work_dir, opts.launcher, amp=False)
    with ctx.job():
        if opts.show_dir:
            check_writable(ctx.log_dir / opts.show_dir, "--show-dir folder", folder=True)
        build_show(ctx, opts, None)  # --show without a display fails before anything is downloaded
        local, source_run = _resolve(checkpoint, cfg)
        check_outputs({"--out": opts.out, "--dump": opts.dump}, [local, cfg.filename])
        model, _ = build_model(ctx)
        load_weights(model, local)
        loader = build_loader(ctx, "test", train=False)
        evaluator = build_split_evaluator(ctx, "test", loader)
        show = build_show(ctx, opts, loader)
        tags = {"mlpose.checkpoint": checkpoint, **({"mlpose.source_run_id": source_run} if source_run else {})}
        tracker = start_tracker(ctx, experiment=opts.experiment, command=opts.command, tags=tags,
                                name_base=f"{cfg.name}-test")
        with tracked(ctx, tracker):
            tracker.log_datasets({"test": loader.dataset.dataset})
            dump: list | None = [] if opts.dump else None
            metrics = evaluate(model, loader, evaluator, ctx, show, tracker, desc="test", dump=dump)
            _report(ctx, tracker, metrics, opts.out)
            if dump is not None:
                _write_dump(ctx, tracker, dump, opts.dump)
            report_run(ctx, tracker)
    return metrics


#: The evaluator layout ``mlpose evaluate PREDICTIONS --ann-file GT.json`` uses without a CONFIG.
EVALUATE_CONFIG = "res50"


def evaluate_predictions(config: str | None, predictions: str, cfg_options: list, out: str | None = None,
                         experiment: str | None = None, command: list | None = None,
                         ann_file: str | None = None) -> dict:
    """Run the config's test evaluator on a ``--dump`` file or a COCO keypoint results JSON
    (``ann_file``: against that annotation file, see :mod:`mlpose.engine.ann_file`).

    Without a ``config`` (``--ann-file`` only) the evaluator is :data:`EVALUATE_CONFIG`'s, and
    the run goes to the experiment ``evaluate`` (unless ``--experiment``,
    ``$MLFLOW_EXPERIMENT_NAME`` say otherwise) with its log under ``work_dirs/evaluate``."""
    from mlpose.config import parse_options
    from mlpose.engine.ann_file import ann_file_overrides
    from mlpose.evaluation import build_evaluator
    from mlpose.evaluation.predictions import check_predictions, read_predictions
    from mlpose.registry import DATASETS, build

    if not os.path.isfile(predictions):
        raise ConfigError(f"predictions file {predictions!r} does not exist; give a --dump file or COCO results JSON")
    cfg = load_config(config or EVALUATE_CONFIG, cfg_options)
    if ann_file:
        cfg = load_config(config or EVALUATE_CONFIG, {**parse_options(cfg_options), **ann_file_overrides(cfg, ann_file)})
    check_outputs({"--out": out}, [predictions, ann_file, cfg.filename])
    ctx = setup_run(cfg, None if config else str(Path("work_dirs") / "evaluate"), "none", amp=False)
    with ctx.job():
        # the predictions are read and checked before the run starts: a bad file is one line, not a FAILED run
        dataset = build(cfg.test_dataloader.dataset, DATASETS, "test_dataloader.dataset")
        evaluator = build_evaluator(cfg.test_evaluator, dataset.metainfo)
        preds = read_predictions(predictions, dataset)
        check_predictions(preds, predictions, evaluator)
        tracker = start_tracker(ctx, experiment=experiment, command=command, tags={"mlpose.predictions": str(predictions)},
                                name_base=f"{cfg.name}-evaluate" if config else "evaluate",
                                default_experiment=None if config else "evaluate")
        with tracked(ctx, tracker):
            evaluator.process(preds)
            metrics = evaluator.compute()
            _report(ctx, tracker, metrics, out)
            report_run(ctx, tracker)
    return metrics


def resume_run(run_id: str, cfg_options: list, work_dir: str | None = None, launcher: str = "none",
               command: list | None = None) -> dict:
    """Continue MLflow run ``run_id`` from its latest logged checkpoint, in the same run.

    The work dir is locked before anything is downloaded into it (the training shares that lock)."""
    from mlpose.tracking.resume import fetch_run_for_resume

    work = Path(work_dir or Path("work_dirs") / run_id)
    rank = int(os.environ.get("RANK", "0"))  # no process group yet: each rank fetches its own copy
    lock = lock_work_dir(work, list(command or sys.argv)) if rank == 0 else None
    try:
        info = fetch_run_for_resume(run_id, work if rank == 0 else work / f".fetch_rank{rank}")
    except BaseException:
        if lock is not None:
            lock.release(discard=True)  # nothing fetched: no folder left behind
        raise
    try:
        opts = TrainOptions(work_dir=str(work), resume=str(info.checkpoint_path), cfg_options=list(cfg_options),
                            amp="amp" in (info.precision or ""), launcher=launcher,  # the run's precision survives
                            command=list(command or sys.argv), run_id=run_id, config_name=info.config_name)
        return train(str(info.config_path), opts)
    finally:
        if lock is not None:
            lock.release()


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
