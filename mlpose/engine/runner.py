"""What the CLI commands do: ``train``, ``test``, ``evaluate`` and ``resume`` end to end,
each as one MLflow run (the tracker lives on rank 0 only)."""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from pathlib import Path

from mlpose.config import load_config
from mlpose.engine import dist
from mlpose.engine.launch import shutdown
from mlpose.engine.loop import Interrupted, evaluate, fit
from mlpose.engine.session import Session
from mlpose.engine.trainer import RunOptions, TrainOptions, TrainSession

__all__ = ["TrainOptions", "TestOptions", "train", "test", "evaluate_predictions", "resume_run"]


@dataclasses.dataclass
class TestOptions(RunOptions):
    """What ``mlpose test`` accepts besides config and checkpoint."""

    out: str | None = None
    dump: str | None = None


def _start_tracker(s: Session, cfg, *, experiment, command, run_id=None, parent_run_id=None, tags=None):
    """Rank 0 opens (or attaches to) the MLflow run; every rank learns its id."""
    if dist.is_main():
        from mlpose.stack import check_tracking_access
        from mlpose.tracking import Tracker
        from mlpose.tracking.tracker import resolve_tracking_uri

        check_tracking_access(resolve_tracking_uri(cfg))  # one clear line for a bad URL or credentials
        s.tracker = Tracker.start(
            cfg, config_file=cfg.filename, config_name=cfg.name, experiment=experiment,
            tracking_uri=None, command=list(command or sys.argv), launcher=s.launcher,
            world_size=s.world_size, precision=s.precision, run_id=run_id, parent_run_id=parent_run_id,
            extra_tags=tags)
    return dist.broadcast_object(s.tracker.run_id if s.tracker else None)


@contextlib.contextmanager
def _tracked(s: Session):
    """Finish the run FINISHED / KILLED (Ctrl-C, SIGTERM) / FAILED (with the error), always
    uploading the log and TensorBoard files, closing the session and the process group."""
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
        s.close()
        if s.tracker is not None:
            s.tracker.log_artifact(str(s.log_dir), "logs")
            s.tracker.finish(status, error)
        shutdown()


def _resolve(uri: str, cfg):
    """``(local path, source run id)`` for a checkpoint path, URL or MLflow URI (downloaded when
    remote); ``runs:/``/``models:/`` are looked up where this job's runs go (the config's
    ``tracking.uri`` counts, as for the tracker), not only in MLflow's process-wide default."""
    from mlpose.tracking.tracker import resolve_tracking_uri
    from mlpose.tracking.uris import resolve_checkpoint

    return resolve_checkpoint(uri, tracking_uri=resolve_tracking_uri(cfg))


def train(config: str, opts: TrainOptions) -> dict:
    """Train ``config``; returns ``dict(run_id, work_dir, metrics, best_checkpoint)``."""
    cfg = load_config(config, opts.cfg_options)
    if opts.config_name:
        object.__setattr__(cfg, "name", opts.config_name)
    s = TrainSession(cfg, opts)
    run_id = _start_tracker(s, cfg, experiment=opts.experiment, command=opts.command, run_id=opts.run_id,
                            parent_run_id=opts.parent_run_id)
    with _tracked(s):
        s.logger.info(f"config {cfg.filename} | work dir {s.log_dir} | precision {s.precision} | "
                      f"world size {s.world_size} | seed {s.seed} | MLflow run {run_id}")
        s.restore(lambda ref: _resolve(ref, cfg)[0])
        s.install_signal_handlers()
        metrics = fit(s)
        best = s.best_path or _earlier_best(s)
        tracking = cfg.get("tracking") or {}
        if s.tracker is not None and best and tracking.get("log_model", True):
            s.load_weights(best)
            s.tracker.log_model(s.model, registered_model_name=tracking.get("register_model"),
                                alias=tracking.get("model_alias", "best"), checkpoint_path=best)
        if s.tracker is not None:
            _where_to_look(s, metrics)
    return {"run_id": run_id, "work_dir": str(s.work_dir), "metrics": metrics, "best_checkpoint": best}


def _earlier_best(s: TrainSession) -> str | None:
    """The best checkpoint of a resumed run whose best epoch came before the resume (no epoch of
    this session beat it): the local file, else (rank 0, resumed by run id in an empty folder)
    the run's logged ``checkpoints/best.pth``; None when there is none."""
    best = s.checkpoints.best.get(s.checkpoints.metrics[0]) if s.checkpoints.metrics else None
    if best is None:
        return None
    local = s.work_dir / best["path"]
    if local.is_file():
        return str(local)
    if s.tracker is None:
        return None
    from mlpose.registry import ConfigError

    try:
        return _resolve(f"runs:/{s.tracker.run_id}/checkpoints/best.pth", s.cfg)[0]
    except ConfigError as exc:  # not logged (tracking.log_checkpoints='none'): no model to log
        s.logger.warning(f"best checkpoint of epoch {best['epoch']} is neither in {s.work_dir} nor in MLflow "
                         f"({exc}); the MLflow model is not logged")
        return None


def test(config: str, checkpoint: str, opts: TestOptions) -> dict:
    """Evaluate ``checkpoint`` on the config's test set; prints and returns the metrics."""
    cfg = load_config(config, opts.cfg_options)
    s = Session(cfg, opts.work_dir, opts.launcher, amp=False)
    s.set_show(opts.show_dir, opts.show, opts.interval, opts.wait_time)
    local, source_run = _resolve(checkpoint, cfg)
    tags = {"mlpose.checkpoint": checkpoint, **({"mlpose.source_run_id": source_run} if source_run else {})}
    _start_tracker(s, cfg, experiment=opts.experiment, command=opts.command, tags=tags)
    with _tracked(s):
        s.build_model()
        s.load_weights(local)
        loader = s.build_loader("test", train=False)
        evaluator = s.build_evaluator("test", loader)
        dump: list | None = [] if opts.dump else None
        metrics = evaluate(s.model, loader, evaluator, s, desc="test", dump=dump)
        _report(s, metrics, opts.out)
        if dump is not None:
            _write_dump(dump, opts.dump, s)
    return metrics


def evaluate_predictions(config: str, predictions: str, cfg_options: list, out: str | None = None,
                         experiment: str | None = None, command: list | None = None) -> dict:
    """Run the config's test evaluator on a ``--dump`` file or a COCO keypoint results JSON."""
    from mlpose.engine.predictions import read_predictions

    cfg = load_config(config, cfg_options)
    s = Session(cfg, None, "none", amp=False)
    _start_tracker(s, cfg, experiment=experiment, command=command, tags={"mlpose.predictions": str(predictions)})
    with _tracked(s):
        from mlpose.registry import DATASETS, build
        from mlpose.evaluation import build_evaluator

        dataset = build(cfg.test_dataloader.dataset, DATASETS, "test_dataloader.dataset")
        evaluator = build_evaluator(cfg.test_evaluator, dataset.metainfo)
        evaluator.process(read_predictions(predictions, dataset))
        metrics = evaluator.compute()
        _report(s, metrics, out)
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


def _where_to_look(s: Session, metrics: dict) -> None:
    """Plot the run's curves and tell the user where the run, its files and pictures are."""
    from mlpose.tracking.compare import compare_runs
    from mlpose.tracking.redact import redact_text

    tracker = s.tracker
    tracker.flush()
    curves = s.log_dir / "curves.png"
    compare_runs([tracker.run_id], str(curves), tracking_uri=tracker.tracking_uri)
    tracker.log_artifact(str(curves), "plots")
    uri = redact_text(tracker.tracking_uri)
    ui = (f"{uri}/#/experiments/{tracker.experiment_id}/runs/{tracker.run_id}" if uri.startswith("http")
          else f"mlflow ui --backend-store-uri {uri}  (then open http://127.0.0.1:5000)")
    lines = [f"finished: {', '.join(f'{k} {v:.4f}' for k, v in list(metrics.items())[:3])}",
             f"MLflow run {tracker.run_id}: {ui}",
             f"work dir {s.work_dir}: checkpoints; {s.log_dir}: log, curves.png, vis_data/ "
             f"(tensorboard --logdir {s.log_dir / 'vis_data'})"]
    if s.show_dir:
        lines.append(f"pictures: {s.show_dir}")
    for line in lines:
        s.logger.info(line)


def _report(s: Session, metrics: dict, out: str | None) -> None:
    if dist.is_main():
        s.logger.info("  ".join(f"{k}: {v:.4f}" for k, v in metrics.items()))
        if s.tracker is not None:
            s.tracker.log_metrics(metrics, 0)
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            Path(out).write_text(json.dumps(metrics, indent=2))
            if s.tracker is not None:
                s.tracker.log_artifact(out, "results")


def _write_dump(preds: list, path: str, s: Session) -> None:
    from mlpose.engine.predictions import write_predictions

    gathered = [p for part in dist.all_gather_object(preds) for p in part]
    if dist.is_main():
        write_predictions(gathered, path)
        s.logger.info(f"wrote {len(gathered)} predictions to {path}")
        if s.tracker is not None:
            s.tracker.log_artifact(path, "results")
