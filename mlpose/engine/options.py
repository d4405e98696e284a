"""What the ``train`` and ``test`` jobs accept besides the config (the CLI fills these in)."""
from __future__ import annotations

import dataclasses
from typing import Callable


@dataclasses.dataclass
class RunOptions:
    """What ``mlpose train`` and ``mlpose test`` both accept besides the config."""

    work_dir: str | None = None
    cfg_options: list = dataclasses.field(default_factory=list)
    show_dir: str | None = None
    show: bool = False
    interval: int = 1
    wait_time: float = 1.0
    launcher: str = "none"
    experiment: str | None = None
    command: list = dataclasses.field(default_factory=list)
    strict: bool = False  # --strict: a misspelt-looking top-level config name is an error


@dataclasses.dataclass
class TrainOptions(RunOptions):
    """What ``mlpose train`` accepts besides the config (see ``mlpose train --help``)."""

    resume: str | None = None  # None, 'auto' (latest in work dir) or a checkpoint path/URI
    amp: bool = False
    no_validate: bool = False
    auto_scale_lr: bool = False
    run_id: str | None = None  # attach to this MLflow run (resume by run id, sweep trials)
    parent_run_id: str | None = None
    on_validate: Callable[[int, int, dict], None] | None = None  # (epoch, step, metrics), e.g. pruning
    config_name: str | None = None  # name recorded for the run (resume by run id keeps the original)


@dataclasses.dataclass
class TestOptions(RunOptions):
    """What ``mlpose test`` accepts besides config and checkpoint."""

    out: str | None = None
    dump: str | None = None
