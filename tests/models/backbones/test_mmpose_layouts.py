"""State-dict layouts equal MMPose's: every backbone of ``mmpose_layouts.txt`` (written by
``benchmarks/mmpose_zoo_worker.py layout`` from MMPose 1.3.2's own classes, small widths) built
by mlpose from the same arguments has the same key names and shapes, so checkpoints move both
ways without renaming. Rewrite the file with
``/tmp/mmpose-venv/bin/python benchmarks/mmpose_zoo_worker.py layout FILE FILE``."""
import json
from pathlib import Path

import pytest

from mlpose.registry import MODELS, build

LAYOUTS = Path(__file__).parent / "mmpose_layouts.txt"
MMPOSE_ONLY = ("dilations",)  # MMPose arguments mlpose does not take (every config leaves them at 1)


def _read(path: Path) -> dict:
    """``{name: (config, {key: shape})}`` from the layouts file."""
    out, keys = {}, None
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("["):
            name, spec = line[1:].split("] ", 1)
            keys = {}
            out[name] = (json.loads(spec), keys)
            continue
        key, _, dims = line.partition(" ")
        keys[key] = tuple(int(d) for d in dims.split(",")) if dims else ()
    return out


CASES = _read(LAYOUTS)


def test_the_file_covers_every_new_backbone():
    assert {spec["type"] for spec, _ in CASES.values()} == {"HRNet", "ResNet", "ResNetV1d", "ResNeXt", "SEResNet"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_state_dict_keys_and_shapes_equal_mmpose(name):
    spec, expected = CASES[name]
    model = build({k: v for k, v in spec.items() if k not in MMPOSE_ONLY}, MODELS, name)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(set(expected) - set(got)) == [] and sorted(set(got) - set(expected)) == []
    assert {k: s for k, s in got.items() if expected[k] != s} == {}
