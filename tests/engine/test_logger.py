import logging
import re

import pytest

from mlpose.engine.logger import eta_string, format_log_line, make_timestamp, memory_mb, setup_logger

# The sample line of MMPose's "Training Log" guide, with our program name.
SEED_MESSAGE = ("Epoch(train) [38][ 6/38]  base_lr: 5.148343e-04 lr: 5.148343e-04  eta: 0:15:34  "
                "time: 0.540754  data_time: 0.394292  memory: 3141  loss: 0.006220  loss_kpt: 0.006220  "
                "acc_pose: 1.000000")
NUM = r"\d+\.\d{6}"
LR = r"\d\.\d{6}e[-+]\d{2}"
TRAIN_LINE = (rf"Epoch\(train\) \[\d+\]\[ *\d+/\d+\]  base_lr: {LR} lr: {LR}  eta: (\d+ days?, )?\d+:\d\d:\d\d  "
              rf"time: {NUM}  data_time: {NUM}  memory: \d+  loss: {NUM}  loss_kpt: {NUM}  acc_pose: {NUM}")


def _seed_line(**over):
    kw = dict(base_lr=5.148343e-04, lr=5.148343e-04, eta=934.7, time=0.540754, data_time=0.394292,
              memory=3141, scalars={"loss": 0.00622, "loss_kpt": 0.00622, "acc_pose": 1.0})
    kw.update(over)
    return format_log_line("train", 38, 6, 38, **kw)


def test_reproduces_the_guides_sample_line():
    assert _seed_line() == SEED_MESSAGE


@pytest.fixture
def fresh_logger():
    yield
    setup_logger(None)


def test_console_and_file_lines_match_the_format(tmp_path, capsys, fresh_logger):
    log_file = tmp_path / "20240101_000000" / "20240101_000000.log"
    logger = setup_logger(str(log_file))
    logger.info(_seed_line(eta=2 * 86400 + 61))
    logger.info(format_log_line("train", 2, 123, 2340, base_lr=1e-3, lr=1e-4, eta=5, time=0.3, data_time=0.07,
                                memory=12, scalars={"loss": 2.0, "loss_kpt": 1.5, "acc_pose": 0.5}))
    for handler in logger.handlers:
        handler.flush()
    console = capsys.readouterr().out.splitlines()
    lines = log_file.read_text().splitlines()
    assert len(console) == 2 and len(lines) == 2
    for line in console:
        assert re.fullmatch(r"\d\d/\d\d \d\d:\d\d:\d\d - mlpose - INFO - " + TRAIN_LINE, line), line
    for line in lines:
        assert re.fullmatch(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d - mlpose - INFO - " + TRAIN_LINE, line), line
    assert "eta: 2 days, 0:01:01" in lines[0]
    assert "[2][ 123/2340]" in lines[1] and "loss: 2.000000  " in lines[1]


def test_setup_twice_does_not_duplicate_output(tmp_path, capsys, fresh_logger):
    setup_logger(str(tmp_path / "a.log"))
    logger = setup_logger(str(tmp_path / "b.log"), level="WARNING")
    logger.info("hidden")
    logger.warning("shown")
    out = capsys.readouterr().out
    assert out.count("shown") == 1 and "hidden" not in out
    assert "WARNING - shown" in (tmp_path / "b.log").read_text()
    assert "shown" not in (tmp_path / "a.log").read_text()
    assert not logging.getLogger("mlpose").propagate


def test_library_info_goes_to_the_log_file_and_warnings_to_the_console(tmp_path, capsys, fresh_logger):
    import mlflow  # noqa: F401 - MLflow gives its logger a console handler when imported

    logger = setup_logger(str(tmp_path / "run.log"))
    library = logging.getLogger("mlflow.system_metrics.system_metrics_monitor")
    library.info("Successfully terminated system metrics monitoring!")
    library.warning("a warning that matters")
    logger.info("finished: the summary")
    for handler in [*logger.handlers, *logging.getLogger("mlflow").handlers]:
        handler.flush()
    shown = capsys.readouterr()
    assert "Successfully terminated" not in shown.out + shown.err
    assert "a warning that matters" in shown.err and shown.out.rstrip().endswith("finished: the summary")
    text = (tmp_path / "run.log").read_text()
    assert " - mlflow.system_metrics.system_metrics_monitor - INFO - Successfully terminated" in text
    assert "a warning that matters" in text
    setup_logger(str(tmp_path / "next.log"))  # the next job's log: nothing more goes to the first one
    library.info("later")
    assert "later" not in (tmp_path / "run.log").read_text()


def test_val_line_omits_missing_fields():
    line = format_log_line("val", 3, 10, 10, scalars={"coco/AP": 0.71234567, "coco/AR": 0.8, "num_samples": 40})
    assert line == "Epoch(val) [3][10/10]  coco/AP: 0.712346  coco/AR: 0.800000  num_samples: 40"


@pytest.mark.parametrize("seconds, text", [
    (0, "0:00:00"), (934.9, "0:15:34"), (3600 * 25 + 61, "1 day, 1:01:01"), (-5, "0:00:00"),
    (float("inf"), "unknown"),
])
def test_eta_string(seconds, text):
    assert eta_string(seconds) == text


def test_memory_and_timestamp():
    assert memory_mb() > 10 and memory_mb("cpu") == memory_mb()
    assert re.fullmatch(r"\d{8}_\d{6}", make_timestamp())
