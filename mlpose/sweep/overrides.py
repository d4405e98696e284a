"""A user's ``--cfg-options`` that every trial would overwrite is an error, never ignored."""
from __future__ import annotations

from mlpose.config import parse_options
from mlpose.errors import ConfigError


def check_overrides(spec, cfg_options: list[str]) -> None:
    """Raise a ConfigError for an option the sweep replaces in every trial: a searched
    parameter (``sweep.params``) or ``train_cfg.max_epochs`` while ``sweep.max_epochs`` is set.

    Args:
        spec: the parsed :class:`~mlpose.sweep.space.SweepSpec`.
        cfg_options: ``--cfg-options`` as given on the command line.
    """
    given = parse_options(cfg_options)
    searched = {p.key for p in spec.params}
    for raw_key, value in given.items():
        key = raw_key.lstrip("+")
        if key == "train_cfg.max_epochs" and spec.max_epochs is not None:
            raise ConfigError(f"--cfg-options {raw_key}={value}: every trial trains sweep.max_epochs="
                              f"{spec.max_epochs} epochs, which replaces it; use --cfg-options "
                              f"sweep.max_epochs={value} instead")
        if key in searched:
            raise ConfigError(f"--cfg-options {raw_key}={value}: {key} is searched (sweep.params), so each trial "
                              f"replaces it; remove it from --cfg-options, or fix it by giving sweep.params "
                              f"'{key}' a single choice in the config")
