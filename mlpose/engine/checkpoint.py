"""The work dir's checkpoint policy (file I/O lives in :mod:`mlpose.runtime.checkpoint_io`).

:class:`CheckpointManager` decides which files exist:
``epoch_N.pth`` every ``interval`` epochs, ``best_<metric>_epoch_N.pth``, and a
``last_checkpoint`` text file holding the path of the newest one (as MMEngine writes it).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from mlpose.errors import ConfigError
from mlpose.runtime.checkpoint_io import TMP_SUFFIX, save_checkpoint, save_text_atomic

LAST_POINTER = "last_checkpoint"
_EPOCH_RE = re.compile(r"^epoch_(\d+)\.pth$")
_ITER_RE = re.compile(r"^iter_(\d+)\.pth$")
# Metric-name fragments that decide the save_best rule when none is given; 'less' is
# checked first so e.g. 'val/loss_acc' counts as a loss.
LESS_KEYS = ("loss", "EPE", "NME")
GREATER_KEYS = ("AP", "AR", "PCK", "AUC", "acc")


def infer_rule(metric: str) -> str:
    """'greater' or 'less' for a metric name such as ``coco/AP`` or ``val/loss``.

    Raises:
        ConfigError: when the name matches no known fragment.
    """
    short = metric.rsplit("/", 1)[-1]
    for frag in LESS_KEYS:
        if frag.lower() in short.lower():
            return "less"
    for frag in GREATER_KEYS:
        if frag.lower() in short.lower():
            return "greater"
    raise ConfigError(
        f"checkpoint.save_best={metric!r}: cannot tell whether larger is better; set checkpoint.rule='greater' or 'less'"
    )


def _as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


class CheckpointManager:
    """Which checkpoint files to write in ``work_dir`` and which to remove.

    Args:
        work_dir: directory for the checkpoints (MMEngine's ``out_dir`` resolution, if
            wanted, is the caller's).
        interval: save ``epoch_N.pth`` when ``N % interval == 0``.
        max_keep_ckpts: keep only the newest this many ``epoch_N.pth`` files (-1: all).
            Best files are never pruned.
        save_best: metric name(s) (e.g. ``'coco/AP'``) whose best value gets its own file,
            ``'auto'`` for the first metric reported, or None.
        rule: 'greater'/'less' (one, or one per ``save_best`` metric); None infers from the
            name (AP, AR, PCK, AUC, acc: greater; loss, EPE, NME: less).
        save_last: also save after the final epoch when it is not on the interval.

    Stale temporary files left by a killed save are removed on creation.
    """

    def __init__(self, work_dir: str | os.PathLike, interval: int = 1, max_keep_ckpts: int = -1,
                 save_best: str | list[str] | None = None, rule: str | list[str] | None = None,
                 save_last: bool = True):
        if not isinstance(interval, int) or interval < 1:
            raise ConfigError(f"checkpoint.interval must be an int >= 1, got {interval!r}")
        if not isinstance(max_keep_ckpts, int) or max_keep_ckpts == 0 or max_keep_ckpts < -1:
            raise ConfigError(f"checkpoint.max_keep_ckpts must be -1 (keep all) or >= 1, got {max_keep_ckpts!r}")
        self.work_dir = Path(work_dir)
        self.interval, self.max_keep_ckpts, self.save_last = interval, max_keep_ckpts, save_last
        self.metrics = _as_list(save_best)
        rules = _as_list(rule)
        if rules and len(rules) not in (1, len(self.metrics)):
            raise ConfigError(f"checkpoint.rule: give one rule or one per save_best metric, got {rule!r}")
        for r in rules:
            if r not in ("greater", "less"):
                raise ConfigError(f"checkpoint.rule must be 'greater' or 'less', got {r!r}")
        self._rules = rules
        for i, name in enumerate(self.metrics):
            if name != "auto":
                self._rule(i, name)  # an un-inferable rule fails now, not after the first epoch
        self.best: dict[str, dict] = {}  # metric -> dict(score=float, path=str, epoch=int)
        if self.work_dir.is_dir():
            for tmp in self.work_dir.glob(f".*{TMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)

    def _rule(self, i: int, metric: str) -> str:
        if self._rules:
            return self._rules[0] if len(self._rules) == 1 else self._rules[i]
        return infer_rule(metric)

    def should_save(self, epoch: int, max_epochs: int | None = None) -> bool:
        """Whether ``epoch_N.pth`` is due after finishing epoch ``epoch`` (1-based count)."""
        return epoch % self.interval == 0 or (self.save_last and epoch == max_epochs)

    def save(self, state: dict | Callable[[], dict], filename: str) -> str:
        """Atomically write ``state`` (or ``state()``) to ``work_dir/filename`` and point
        ``last_checkpoint`` at it. Use it for out-of-interval saves (e.g. on SIGTERM)."""
        path = save_checkpoint(state() if callable(state) else state, self.work_dir / filename)
        save_text_atomic(self.work_dir / LAST_POINTER, str(Path(path).resolve()))
        return path

    def save_epoch(self, state: dict | Callable[[], dict], epoch: int) -> str:
        """Write ``epoch_{epoch}.pth``, update ``last_checkpoint``, prune old epoch files and
        every ``iter_N.pth`` (a stop signal's checkpoint: this one is later)."""
        path = self.save(state, f"epoch_{epoch}.pth")
        if self.max_keep_ckpts > 0:
            for old in self.epoch_files()[:-self.max_keep_ckpts]:
                old.unlink(missing_ok=True)
        for old in self.work_dir.glob("iter_*.pth"):
            if _ITER_RE.match(old.name):
                old.unlink(missing_ok=True)
        return path

    def update_best(self, metrics: Mapping[str, float], epoch: int, state: dict | Callable[[], dict]) -> list[str]:
        """Save ``best_<metric>_epoch_{epoch}.pth`` for each tracked metric that improved,
        removing the previous best file. ``state`` may be a function, called (once) only
        when a file is written, after this manager's :meth:`state_dict` has been updated.

        Returns:
            the paths written (empty when nothing improved).

        Raises:
            ConfigError: when a tracked metric is absent from ``metrics``.
        """
        if self.metrics == ["auto"]:
            if not metrics:
                return []
            self.metrics = [next(iter(metrics))]
        improved = []
        for i, name in enumerate(self.metrics):
            if name not in metrics:
                raise ConfigError(f"checkpoint.save_best={name!r} is not among the metrics: {', '.join(metrics)}")
            score, prev = float(metrics[name]), self.best.get(name)
            if prev is None:
                better = not np.isnan(score)
            elif self._rule(i, name) == "greater":
                better = score > prev["score"]
            else:
                better = score < prev["score"]
            if better:
                improved.append((name, score, prev))
        if not improved:
            return []
        for name, score, _ in improved:
            fname = f"best_{name.replace('/', '_')}_epoch_{epoch}.pth"
            self.best[name] = {"score": score, "path": fname, "epoch": epoch}
        data = state() if callable(state) else state
        written = []
        for name, _, prev in improved:
            written.append(save_checkpoint(data, self.work_dir / self.best[name]["path"]))
            if prev is not None and prev["path"] != self.best[name]["path"]:
                (self.work_dir / prev["path"]).unlink(missing_ok=True)
        return written

    def epoch_files(self) -> list[Path]:
        """The ``epoch_N.pth`` files in ``work_dir``, oldest (smallest N) first."""
        if not self.work_dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.work_dir.iterdir() if (m := _EPOCH_RE.match(p.name))]
        return [p for _, p in sorted(found)]

    def latest(self) -> str | None:
        """The newest checkpoint for auto-resume: ``last_checkpoint``'s target when it exists,
        else the highest ``epoch_N.pth``, else None."""
        pointer = self.work_dir / LAST_POINTER
        if pointer.is_file():
            target = pointer.read_text().strip()
            if target and Path(target).is_file():
                return target
        files = self.epoch_files()
        return str(files[-1]) if files else None

    def state_dict(self) -> dict:
        """The best scores so far (plain types), to store in checkpoints."""
        return {"best": {k: dict(v) for k, v in self.best.items()}, "metrics": list(self.metrics)}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore best scores from a checkpoint so a resumed run keeps comparing to them."""
        self.best = {k: dict(v) for k, v in state.get("best", {}).items()}
        if self.metrics == ["auto"] and state.get("metrics") and state["metrics"] != ["auto"]:
            self.metrics = list(state["metrics"])
