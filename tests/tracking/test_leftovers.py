"""Which run a job continues: a --resume without a checkpoint continues the work dir's last run
only when that run did not finish (a finished one whose checkpoints are gone is not retrained)."""
import logging

from mlflow import MlflowClient

from mlpose.tracking.leftovers import before_job


def test_the_work_dirs_last_run_is_continued_only_when_unfinished(uri, tmp_path):
    client = MlflowClient(uri)
    exp = client.create_experiment("tiny")
    killed, finished = client.create_run(exp).info.run_id, client.create_run(exp).info.run_id
    client.set_terminated(killed, "KILLED")
    client.set_terminated(finished, "FINISHED")
    log = logging.getLogger("test")
    assert before_job(tmp_path, uri, None, killed, log, unfinished_only=True) == killed
    assert before_job(tmp_path, uri, None, finished, log, unfinished_only=True) is None
    assert before_job(tmp_path, uri, None, finished, log) == finished  # a checkpoint's run: extended
