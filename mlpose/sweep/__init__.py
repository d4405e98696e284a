"""Optuna sweeps over a config's ``sweep`` search; each trial is an MLflow child run.

    from mlpose.sweep import run_sweep
    result = run_sweep('tiny-sweep', cfg_options=['sweep.n_trials=4'], workers=2)
    result['best']  # dict(number, value, params, run_id, ...)

See docs/sweeps.md.
"""
from .driver import run_sweep

__all__ = ["run_sweep"]
