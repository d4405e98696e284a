"""The model zoo against MMPose's own files (never in CI; MMPose installed beside mlpose).

    .venv/bin/python benchmarks/zoo.py configs [--mmpose-python /tmp/mmpose-venv/bin/python]
                                               [--configs DIR] [--no-train] [--data DIR] [--json OUT]

Sections, one subcommand each (the families' helpers add theirs: weights, recipe, speed):

- ``configs``: every COCO body config file of the installed MMPose
  (``configs/body_2d_keypoint/*/coco/*.py``, 155 in MMPose 1.3.2), unchanged, through
  ``mlpose zoo check --train``: does mlpose load it, build the model, run one forward pass and
  train one iteration on generated data? A row per file as it is checked, then a table per family
  (the backbone type) and per MMPose algorithm folder, the total ("N of 155"), and each failure as
  one line (the missing component or the refused key).

MMPose's configs are found in the package of ``--mmpose-python`` (asked where its ``mmpose`` is,
without importing it), or given with ``--configs``. Nothing of MMPose is imported here.
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

from mlpose.zoo import CheckResult, check_configs
from mlpose.zoo.check import HEADER, STAGES, row_widths
from mlpose.zoo.table import format_row, format_table

FIND_CONFIGS = ("import importlib.util, pathlib; spec = importlib.util.find_spec('mmpose'); "
                "print(pathlib.Path(list(spec.submodule_search_locations)[0]) / '.mim' / 'configs')")


def mmpose_configs(args) -> Path:
    """The configs folder of the installed MMPose (``--configs``, else ``--mmpose-python``'s)."""
    if args.configs:
        return Path(args.configs)
    out = subprocess.run([args.mmpose_python, "-c", FIND_CONFIGS], capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def algorithm(path: Path) -> str:
    """MMPose's algorithm folder of a config (``configs/body_2d_keypoint/<algorithm>/coco/x.py``)."""
    return path.parent.parent.name


def summary(results: list[CheckResult], key) -> str:
    """A table of how many files pass each stage, per ``key(result)`` group, and the total."""
    groups: dict[str, list[CheckResult]] = collections.defaultdict(list)
    for r in results:
        groups[key(r)].append(r)
    rows = [[name, str(len(rs)), *(str(sum(bool(getattr(r, s)) for r in rs)) for s in STAGES)]
            for name, rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]
    rows.append(["total", str(len(results)), *(str(sum(bool(getattr(r, s)) for r in results)) for s in STAGES)])
    return format_table(["", "files", *STAGES], rows)


def configs_section(args) -> int:
    folder = mmpose_configs(args)
    files = sorted((folder / "body_2d_keypoint").glob("*/coco/*.py"))
    if not files:
        sys.exit(f"no COCO body configs under {folder / 'body_2d_keypoint'}")
    print(f"MMPose configs: {folder} ({len(files)} COCO body files); "
          f"{'train one iteration on generated data' if not args.no_train else 'no training'}\n")
    widths = row_widths([p.name for p in files])
    print(format_row(HEADER, widths))
    start = time.perf_counter()
    results = check_configs(files, train=not args.no_train, data=Path(args.data) if args.data else None,
                            on_result=lambda r: print(format_row(r.cells(Path(r.file).name), widths), flush=True))
    wall = time.perf_counter() - start
    by_path = {r.file: Path(r.file) for r in results}
    print("\nPer family (backbone type):\n" + summary(results, lambda r: r.family))
    print("\nPer MMPose algorithm folder:\n" + summary(results, lambda r: algorithm(by_path[r.file])))
    passed = sum(r.ok for r in results)
    print(f"\n{passed} of {len(results)} files load, build, run forward"
          f"{'' if args.no_train else ' and train one iteration'} ({wall / 60:.1f} min)")
    print("\nFailures (first line of each):")
    for r in results:
        if not r.ok:
            print(f"{Path(r.file).name}: {r.error}")
    if args.json:
        Path(args.json).write_text(json.dumps([{**vars(r), "algorithm": algorithm(by_path[r.file])} for r in results],
                                              indent=1))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sections = parser.add_subparsers(dest="section", required=True)
    configs = sections.add_parser("configs", help="every COCO body config of MMPose through mlpose zoo check --train")
    configs.add_argument("--mmpose-python", default="/tmp/mmpose-venv/bin/python")
    configs.add_argument("--configs", help="MMPose's configs folder (default: --mmpose-python's installed one)")
    configs.add_argument("--no-train", action="store_true", help="load, build and forward only")
    configs.add_argument("--data", help="a `mlpose data synth` folder (default: a small one made for the run)")
    configs.add_argument("--json", help="also write every file's result here")
    configs.set_defaults(run=configs_section)
    args = parser.parse_args()
    sys.exit(args.run(args))


if __name__ == "__main__":
    main()
