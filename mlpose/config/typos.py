"""Top-level names that look like misspelt sections (``trian_cfg``): free variables are fine
in MMEngine-style files, but one within edit distance 2 of a known section trains silently with
that section's defaults. Warned about; with ``--strict`` or ``strict_config=True`` an error."""
from __future__ import annotations

import logging

from mlpose.errors import ConfigError

from . import schema

MAX_DISTANCE = 2
#: free variables of MMPose's own configs: never a typo, whatever they are close to
COMMON_VARIABLES = {"codec", "data_root", "dataset_type", "data_mode", "backend_args", "train_pipeline",
                    "val_pipeline", "test_pipeline", "input_size", "metainfo", "dataset_coco", "dataset_aic"}


def known_names() -> set[str]:
    return set(schema.SECTIONS) | set(schema.TOP_LEVEL) | {"_base_", "default_scope"}


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, with a swap of two neighbouring letters counting as one edit."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, rows[-2][j - 2] + 1)
            row.append(cost)
        rows.append(row)
    return rows[-1][-1]


def suspect_names(names, known: set[str] | None = None) -> list[tuple[str, str]]:
    """``(name, section)`` for each name that is not known but within MAX_DISTANCE edits of one
    (1 for names shorter than 8 letters: ``codec`` is not a misspelt ``model``)."""
    known = known_names() if known is None else known
    out = []
    for name in names:
        if name in known or name in COMMON_VARIABLES or name.startswith("_") or len(name) < 4:
            continue
        close = min(known, key=lambda k: (edit_distance(name, k), k))
        if edit_distance(name, close) <= min(MAX_DISTANCE, max(1, len(close) // 4)):  # 1 for short names
            out.append((name, close))
    return out


def check_typos(cfg: dict, source: str, strict: bool | None = None) -> None:
    """Warn (``strict``: raise a ConfigError) for each top-level name that looks like a typo.

    ``strict=None`` follows the config's own ``strict_config``."""
    strict = bool(cfg.get("strict_config")) if strict is None else strict
    for name, section in suspect_names(list(cfg)):
        line = (f"{source}: top-level name {name!r} is not a known section; did you mean {section!r}? "
                f"(as written it is an unused variable and {section} keeps its defaults)")
        if strict:
            raise ConfigError(f"{line}; rename it, or drop --strict / strict_config=True to allow it")
        logging.getLogger("mlpose").warning(line)
