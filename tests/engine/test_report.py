"""What a stopped training prints last: the command that continues it."""
import pytest

from mlpose.engine.report import resume_command


@pytest.mark.parametrize("argv, expected", [
    (["/venv/bin/mlpose", "train", "tiny", "--work-dir", "run", "--cfg-options", "a=1", "b=(1,2)"],
     "mlpose train tiny --work-dir run --cfg-options a=1 'b=(1,2)' --resume"),
    (["mlpose", "train", "tiny", "--resume", "run/epoch_3.pth", "--amp"], "mlpose train tiny --amp --resume"),
    (["mlpose", "train", "tiny", "--resume", "--amp"], "mlpose train tiny --amp --resume"),
    (["mlpose", "train", "tiny", "--resume=run/x.pth"], "mlpose train tiny --resume"),
    (["mlpose", "resume", "abc123", "--work-dir", "w"], "mlpose resume abc123 --work-dir w"),
])
def test_resume_command(argv, expected):
    assert resume_command(argv) == expected
