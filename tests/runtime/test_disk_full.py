"""A checkpoint save on a full disk: one line (device, file, size needed), the previous file
intact, no temporary file left. On a real size-limited tmpfs (needs root and mount rights)."""
import pytest
import torch

from mlpose.errors import DiskFullError
from mlpose.runtime.checkpoint_io import TMP_SUFFIX, load_checkpoint, save_checkpoint


@pytest.fixture
def small_disk(tmpfs):
    return tmpfs("1m")


def test_full_disk_is_one_line_and_keeps_the_previous_checkpoint(small_disk):
    path = small_disk / "last.pth"
    save_checkpoint({"w": torch.arange(10.0)}, path)
    with pytest.raises(DiskFullError) as err:
        save_checkpoint({"w": torch.zeros(1_000_000)}, path)  # 4 MB on a 1 MB disk
    line = str(err.value)
    assert line.startswith("no space left on tmpfs (mounted at ") and f"writing {path} (needs ~4 MB" in line
    assert "\n" not in line and "previous file is intact" in line
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(10.0))
    assert [p.name for p in small_disk.iterdir() if p.name.endswith(TMP_SUFFIX)] == []


def test_other_write_errors_are_not_called_a_full_disk(tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise TypeError("no pickling")

    with pytest.raises(TypeError):
        save_checkpoint({"x": Unpicklable()}, tmp_path / "a.pth")
    assert list(tmp_path.iterdir()) == []
