"""Optuna's own study figures on the sweep's parent run, refreshed as trials finish.

:class:`StudyFigures` is an Optuna study callback (``study.optimize(..., callbacks=[...])``; not
Optuna's deprecated ``MLflowCallback``): after each trial of this worker it draws, with
``optuna.visualization.matplotlib``, and stores on the parent run with ``log_figure``:

- ``optuna/optimization_history.png``: each trial's objective and the best so far;
- ``optuna/parallel_coordinate.png``: every complete trial's parameters and objective;
- ``optuna/param_importances.png``: fANOVA importances (from 2 complete trials with differing
  parameters; before that the figure is left out and the reason logged at debug level).

The run page's Artifacts tab shows them; each refresh overwrites the files. With several workers
each refreshes after its own trials, so the last trial to finish leaves the figures of all.
"""
from __future__ import annotations

import logging
import warnings
from typing import Callable

import optuna
from mlflow import MlflowClient

from mlpose.tracking.redact import redact_text

logger = logging.getLogger(__name__)

FOLDER = "optuna"


def _plots() -> dict[str, Callable]:
    from optuna.visualization import matplotlib as plots

    return {"optimization_history": plots.plot_optimization_history,
            "parallel_coordinate": plots.plot_parallel_coordinate,
            "param_importances": plots.plot_param_importances}


def _params_vary(trials: list[optuna.trial.FrozenTrial]) -> bool:
    """Whether importances mean anything: 2+ complete trials and some parameter taking 2+ values."""
    names = {name for t in trials for name in t.params}
    return len(trials) >= 2 and any(len({repr(t.params.get(n)) for t in trials}) > 1 for n in names)


class StudyFigures:
    """Study callback: redraw and log the figures to ``parent_run_id`` after each trial.

    Args:
        client, parent_run_id: where the figures go.
        metric: the objective's name (the figures' axis label).
    """

    def __init__(self, client: MlflowClient, parent_run_id: str, metric: str):
        self.client, self.parent_run_id, self.metric = client, parent_run_id, metric

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial | None = None) -> list[str]:
        """Log what can be drawn now; returns the artifact paths logged. Never raises: a
        figure that fails must not stop the sweep."""
        logged = []
        complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        if not complete:
            return logged
        for name, plot in _plots().items():
            path = f"{FOLDER}/{name}.png"
            if name == "param_importances" and not _params_vary(complete):
                logger.debug("sweep figure %s left out: it needs 2 complete trials whose parameters differ", path)
                continue
            try:
                self._log(plot, study, path)
                logged.append(path)
            except Exception as exc:  # noqa: BLE001 - e.g. importances of fewer than 2 complete trials
                logger.debug("sweep figure %s left out: %s: %s", path, type(exc).__name__,
                             redact_text(str(exc))[:300])
        return logged

    def _log(self, plot: Callable, study: optuna.Study, path: str) -> None:
        import matplotlib.pyplot as plt

        with warnings.catch_warnings():  # the matplotlib backend of optuna.visualization is experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", UserWarning)
            ax = plot(study, target_name=self.metric)
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure  # parallel_coordinate: one Axes
        try:
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            self.client.log_figure(self.parent_run_id, fig, path)
        finally:
            plt.close(fig)
