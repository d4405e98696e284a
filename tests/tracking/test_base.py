"""The tracker interface: the MLflow tracker and the no-op one answer the same calls."""
import inspect
import subprocess
import sys

from mlpose.tracking.base import BaseTracker, NullTracker
from mlpose.tracking.tracker import Tracker


def _public(cls) -> dict:
    return {name: inspect.signature(fn) for name, fn in inspect.getmembers(cls, inspect.isfunction)
            if not name.startswith("_")}


def test_null_tracker_has_every_method_of_the_interface_with_the_same_signature():
    interface = _public(BaseTracker)
    assert {"log_metrics", "set_tags", "flush", "log_artifact", "log_checkpoint", "log_model", "register_models",
            "finish"} <= set(interface)
    mlflow_side = _public(Tracker)
    for name, signature in interface.items():
        assert mlflow_side[name].parameters.keys() == signature.parameters.keys(), name
    assert Tracker.active and not NullTracker.active


def test_null_tracker_accepts_every_call_and_reports_nothing_pending():
    null = NullTracker("abc", "1")
    null.log_metrics({"loss": 1.0}, 3)
    null.log_checkpoint("/nonexistent.pth", "last.pth")
    null.log_artifact("/nonexistent")
    assert null.flush() and null.log_model("/nonexistent.pth", "best", 3, {"coco/AP": 0.5}) is None
    assert null.register_models("pose") == {} and null.run_id == "abc"
    null.finish("FAILED", RuntimeError("x"))
    assert null.finished


def test_the_interface_module_loads_no_mlflow():
    code = "import sys, mlpose.tracking.base, mlpose.engine.loop; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
