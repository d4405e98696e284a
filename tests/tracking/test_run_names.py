"""Runs are named for what they are and never all alike: ``<config>-<n>`` counted per experiment
(MLflow's random names come from the RNG the training seed fixed, so every run was
``overjoyed-slug-911``); ``tracking.run_name`` still wins; two jobs counting at once differ."""
import random

from mlflow import MlflowClient

from mlpose.tracking import Tracker
from mlpose.tracking.runs import make_name_unique, new_run_name


def _start(seed: int, **kw):
    random.seed(seed)  # what setup_run does before the tracker starts
    tracker = Tracker.start({"tracking": {"system_metrics": False}, **kw.pop("cfg", {})}, config_name="tiny", **kw)
    tracker.finish()
    return tracker


def test_seeded_runs_get_counted_names(uri):
    client = MlflowClient(uri)
    names = [client.get_run(_start(0).run_id).info.run_name for _ in range(3)]
    assert names == ["tiny-1", "tiny-2", "tiny-3"]
    test_run = _start(0, name_base="tiny-test")
    assert client.get_run(test_run.run_id).info.run_name == "tiny-test-1"  # counted on its own
    client.delete_run(client.get_run(_start(0).run_id).info.run_id)  # tiny-4, deleted: its number stays taken
    assert client.get_run(_start(0).run_id).info.run_name == "tiny-5"


def test_tracking_run_name_wins(uri):
    tracker = _start(0, cfg={"tracking": {"run_name": "baseline", "system_metrics": False}})
    assert MlflowClient(uri).get_run(tracker.run_id).info.run_name == "baseline"


def test_two_jobs_counting_at_once_still_differ(uri):
    client = MlflowClient(uri)
    exp = client.create_experiment("race")
    assert new_run_name(client, exp, "tiny") == "tiny-1"
    first = client.create_run(exp, run_name="tiny-1")
    second = client.create_run(exp, run_name="tiny-1")  # both counted before either was created
    assert make_name_unique(client, second) == f"tiny-1-{second.info.run_id[:6]}"
    assert make_name_unique(client, client.get_run(first.info.run_id)) == "tiny-1"  # unique again: kept
    names = {r.info.run_name for r in client.search_runs([exp])}
    assert len(names) == 2 and new_run_name(client, exp, "tiny") == "tiny-2"
