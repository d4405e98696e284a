"""``mlpose zoo``: the recipes of ``experiments/``, one row per name users type.

A file whose only statement is ``_base_ = ['<full recipe>.py']`` is a short name (``res50``) for
that recipe; every other file is a recipe of its own. A recipe mirrors the MMPose config whose
file name it has (``td-hm_res50_8xb64-210e_coco-256x192``), and then shows the COCO AP MMPose
publishes for it. New recipes (of any family) are listed without edits here.
"""
from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path

from mlpose.config import experiments_dirs, load_config
from mlpose.errors import ConfigError, first_line

from . import facts
from .capture import quiet
from .measure import load_cache, measure_config, save_cache
from .published import PUBLISHED_AP
from .table import format_table


@dataclasses.dataclass
class Recipe:
    """One row of ``mlpose zoo``.

    Attributes:
        name: what ``mlpose train NAME`` takes: the short name, else the file's name.
        path: the recipe file (a short name's target).
        mirrors: the MMPose config file name it mirrors (one of :data:`PUBLISHED_AP`), or None.
    """

    name: str
    path: Path
    mirrors: str | None


def alias_target(path: Path) -> Path | None:
    """The recipe a short-name file stands for, or None when ``path`` is a recipe itself."""
    try:
        body = [n for n in ast.parse(path.read_text()).body if not isinstance(n, ast.Expr)]  # docstrings
    except (OSError, SyntaxError):
        return None
    if len(body) != 1 or not isinstance(body[0], ast.Assign) or len(body[0].targets) != 1:
        return None
    target = body[0].targets[0]
    try:
        value = ast.literal_eval(body[0].value)
    except ValueError:
        return None
    bases = [value] if isinstance(value, str) else value
    if not (isinstance(target, ast.Name) and target.id == "_base_" and isinstance(bases, list) and len(bases) == 1):
        return None
    return (path.parent / bases[0]).resolve()


def find_recipes(folders: list[Path] | None = None) -> list[Recipe]:
    """Every recipe of ``folders`` (default: :func:`~mlpose.config.experiments_dirs`, the local
    ``experiments/`` first), named by its short names, else by its file name; sorted by name."""
    files: dict[str, Path] = {}
    for folder in folders if folders is not None else experiments_dirs():
        for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
            files.setdefault(path.stem, path.resolve())
    targets = {stem: alias_target(path) for stem, path in files.items()}
    aliased = {t for t in targets.values() if t is not None}
    rows = []
    for stem, path in files.items():
        target = targets[stem]
        if target is None and path in aliased:
            continue  # listed under its short name
        rows.append(Recipe(stem, target or path, _mirrors(target or path)))
    return sorted(rows, key=lambda r: r.name)


def _mirrors(path: Path) -> str | None:
    return path.stem if path.stem in PUBLISHED_AP else None


def recipe_row(recipe: Recipe, cache: dict) -> list[str]:
    """The table cells of one recipe (its facts computed, or the first line of its error)."""
    ap = f"{PUBLISHED_AP[recipe.mirrors]:.3f}" if recipe.mirrors else "-"
    try:
        with quiet():  # the notes of ignored keys are for runs, not for this table
            cfg = load_config(recipe.path)
        measured = measure_config(cfg, cache)
    except ConfigError as exc:
        return [recipe.name, recipe.path.stem, f"error: {first_line(exc)}", "", "", "", "", "", ap]
    size = facts.input_size(cfg)
    return [recipe.name, recipe.path.stem, facts.backbone_label(cfg), facts.head_type(cfg), facts.codec_type(cfg),
            f"{size[1]}x{size[0]}" if size else "-",
            f"{measured.params / 1e6:.1f}" if measured else "-", f"{measured.gflops:.2f}" if measured else "-", ap]


HEADER = ["name", "recipe", "backbone", "head", "codec", "input", "params (M)", "GFLOPs", "MMPose AP"]


def zoo_table(folders: list[Path] | None = None) -> str:
    """The ``mlpose zoo`` text: the table and how long it took (measures come from the cache
    when the model and input size were measured before)."""
    start = time.perf_counter()
    cache = load_cache()
    before = len(cache)
    rows = [recipe_row(r, cache) for r in find_recipes(folders)]
    if len(cache) != before:
        save_cache(cache)
    note = (f"{len(rows)} recipes in {time.perf_counter() - start:.1f} s ({len(cache) - before} measured now). "
            "GFLOPs: multiply-adds of one crop, as MMPose's model-zoo tables; MMPose AP: COCO val2017 AP "
            "MMPose publishes for the config the recipe mirrors (its file name).")
    return format_table(HEADER, rows) + "\n" + note
