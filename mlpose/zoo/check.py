"""``mlpose zoo check CONFIG...``: does each config file load, build, run forward (and with
``--train``, train one iteration on generated data)? One table row per file, one line per failure.

Every family is checked the same way, through the registry: the family column is the backbone
type, and a failure is the first line of its error (a missing component, a refused key). Any
exception of one file is that file's row, never the end of the check; each model is freed before
the next file is read, and forward runs at batch 1, so ViT-H or HRNet-W48 at 384x288 fit.
"""
from __future__ import annotations

import dataclasses
import gc
import glob
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterable

import torch

from mlpose.config import load_config, resolve_config_path
from mlpose.errors import ConfigError, first_line
from mlpose.registry import MODELS, build

from . import facts
from .table import column_widths, format_row
from .capture import quiet
from .train_once import train_once, without_pretrained

STAGES = ("loads", "builds", "forward", "trains")
HEADER = ["file", "family", *(f"{s}?" for s in STAGES), "params (M)"]


@dataclasses.dataclass
class CheckResult:
    """One file's answers: True / False per stage, None where the stage was not reached (or not
    asked for: ``trains`` without ``--train``); ``error``: the first line of the failure."""

    file: str
    family: str = "?"
    loads: bool | None = None
    builds: bool | None = None
    forward: bool | None = None
    trains: bool | None = None
    params: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def cells(self, name: str) -> list[str]:
        marks = ["yes" if v else "NO" if v is False else "-" for v in (getattr(self, s) for s in STAGES)]
        return [name, self.family, *marks, f"{self.params / 1e6:.1f}" if self.params is not None else "-"]


def expand_configs(patterns: Iterable[str]) -> list[Path]:
    """Config files from files, folders (every ``*.py`` below, skipping ``_base_`` and other
    ``_``-folders), glob patterns and short names, in order, each once.

    Raises:
        ConfigError: for a pattern that matches nothing.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            matches = [p for p in sorted(path.rglob("*.py"))
                       if not any(part.startswith("_") for part in p.relative_to(path).parts)]
        elif glob.has_magic(pattern):
            matches = [Path(p) for p in sorted(glob.glob(pattern, recursive=True)) if p.endswith(".py")]
        else:
            matches = [resolve_config_path(pattern)]
        if not matches:
            raise ConfigError(f"mlpose zoo check: {pattern!r} matches no config file (*.py)")
        for match in matches:
            if match.resolve() not in seen:
                seen.add(match.resolve())
                found.append(match)
    return found


def check_config(path: Path, data: Path | None = None) -> CheckResult:
    """Load, build and run ``path``'s model forward (batch 1, its input size); with ``data`` (a
    ``mlpose data synth`` folder) also train it one iteration there. Pretrained weights
    (``init_cfg`` of type ``Pretrained``) are left out: the check is of the recipe."""
    result = CheckResult(str(path))
    stage = "loads"
    try:
        with quiet():
            cfg = load_config(path)
        result.loads, result.family, stage = True, facts.family(cfg), "builds"
        model = build(without_pretrained(cfg["model"]), MODELS, "model")
        result.builds, stage = True, "forward"
        result.params = sum(p.numel() for p in model.parameters())
        _forward(model, cfg)
        result.forward = True
        del model
        gc.collect()
        if data is not None:
            stage = "trains"
            train_once(cfg, data)
            result.trains = True
    except Exception as exc:  # noqa: BLE001 -- any failure of one family is its row, not the end of the check
        setattr(result, stage, False)
        result.error = error_line(exc, path)
        if stage == "loads":
            result.family = _family_unchecked(path)
    finally:
        gc.collect()
    return result


def _forward(model: torch.nn.Module, cfg: dict) -> None:
    size = facts.input_size(cfg)
    if size is None:
        raise ConfigError("no input size: set model.head.decoder.input_size (or codec.input_size)")
    crop = torch.randint(0, 256, (1, 3, size[1], size[0]), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        model(crop)


def _family_unchecked(path: Path) -> str:
    """The backbone type of a file that does not load (read without validation), else ``'?'``."""
    try:
        with quiet():
            return facts.family(load_config(path, check=False))
    except Exception:  # noqa: BLE001 -- unreadable: the row says why already
        return "?"


def error_line(exc: BaseException, path: Path) -> str:
    """The first line of ``exc``, without the file's own name (the row has it) and without the
    registry's list of every known type."""
    line = first_line(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {first_line(exc)}"
    for name in (str(path.resolve()), str(path)):
        where = re.match(rf"{re.escape(name)}(:(\d+))?: ", line)
        if where:
            line = (f"line {where[2]}: " if where[2] else "") + line[where.end():]
            break
    return line.split(" Known types: ")[0]


def check_configs(paths: list[Path], train: bool = False, data: Path | None = None,
                  on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """:func:`check_config` of each file in turn (``on_result`` sees each as it comes); with
    ``train`` and no ``data``, a small generated dataset is made for the run."""
    with tempfile.TemporaryDirectory(prefix="mlpose-zoo-data-") as tmp:
        if train and data is None:
            from mlpose.datasets.synth import generate

            data = Path(tmp)
            generate(data, num_train=4, num_val=2, seed=0, image_size=(256, 256), progress=False)
        results = []
        for path in paths:
            results.append(check_config(path, data if train else None))
            if on_result is not None:
                on_result(results[-1])
    return results


def run_check(patterns: Iterable[str], train: bool = False, data: str | None = None,
              echo: Callable[[str], None] = print) -> int:
    """``mlpose zoo check``: print the table row by row, then each failure and the total; returns
    the exit code (1 when any file failed)."""
    paths = expand_configs(patterns)
    widths = row_widths([_short(p, paths) for p in paths])
    echo(format_row(HEADER, widths))
    echo("  ".join("-" * w for w in widths))
    results = check_configs(paths, train, Path(data) if data else None,
                            on_result=lambda r: echo(format_row(r.cells(_short(Path(r.file), paths)), widths)))
    failed = [r for r in results if not r.ok]
    for r in failed:
        echo(f"{_short(Path(r.file), paths)}: {r.error}")
    stages = "load, build, run forward" + (" and train one iteration" if train else "")
    echo(f"{len(results) - len(failed)} of {len(results)} files {stages}")
    return 1 if failed else 0


def row_widths(names: list[str]) -> list[int]:
    """Column widths for rows printed as they come (before the families are known)."""
    return column_widths(HEADER, [[n, "x" * 28, "yes", "yes", "yes", "yes", "0000.0"] for n in names])


def _short(path: Path, paths: list[Path]) -> str:
    """The file's name, with as many parent folders as it takes to tell it from the others."""
    names = [p.name for p in paths]
    return path.name if names.count(path.name) == 1 else str(Path(path.parent.name) / path.name)
