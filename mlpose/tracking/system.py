"""MLflow's own system metrics for an mlpose run: CPU, memory, disk, network, and GPU with nvidia-ml-py.

``tracking.system_metrics=True`` (the default) starts MLflow's ``SystemMetricsMonitor`` thread for
the run on rank 0 (only rank 0 has a :class:`~mlpose.tracking.tracker.Tracker`). Every
``tracking.system_metrics_interval`` seconds it samples and logs ``system/*`` metrics
(``system/cpu_utilization_percentage``, ``system/system_memory_usage_megabytes``,
``system/gpu_0_utilization_percentage``, ...), which the run page's "System metrics" tab plots.
Their step is the sample count, not the training iteration: MLflow's convention. A resumed run
continues the sample count where it stopped. ``$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL``
overrides the interval (MLflow reads it), ``$MLFLOW_SYSTEM_METRICS_NODE_ID`` adds a node name.

The monitor runs on its own thread: nothing on the training thread waits for it.
"""
from __future__ import annotations

import logging
from typing import Mapping

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0


class SystemMetrics:
    """A started monitor; :meth:`stop` logs the last sample and ends the thread."""

    def __init__(self, monitor):
        self._monitor = monitor
        self._first_step = monitor._logging_step

    def stop(self) -> None:
        """Stop sampling and write what is buffered. A run shorter than one interval still gets
        one sample, so its "System metrics" tab is not empty."""
        monitor, self._monitor = self._monitor, None
        if monitor is None:
            return
        try:
            monitor.finish()
            if monitor._logging_step == self._first_step:
                monitor.collect_metrics()
                monitor.publish_metrics(monitor.aggregate_metrics())
                monitor.mlflow_logger.flush()
        except Exception as exc:  # noqa: BLE001 - system metrics must never fail a run
            logger.warning("MLflow system metrics: could not log the last sample: %s", exc)


def start_system_metrics(tracking: Mapping, run_id: str, tracking_uri: str, resume: bool) -> SystemMetrics | None:
    """Start MLflow's system-metrics monitor for ``run_id`` when ``tracking.system_metrics`` is on.

    Args:
        tracking: the config's ``tracking`` section.
        run_id, tracking_uri: the run and its store.
        resume: the run existed before (resume, ``mlflow run``): continue its sample steps.

    Returns:
        The started monitor, or None when off or when MLflow cannot monitor this machine
        (``psutil`` missing: a warning says so).
    """
    if not tracking.get("system_metrics", True):
        return None
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        interval = float(tracking.get("system_metrics_interval") or DEFAULT_INTERVAL)
        monitor = SystemMetricsMonitor(run_id, sampling_interval=interval, resume_logging=resume,
                                       tracking_uri=tracking_uri)
    except Exception as exc:  # noqa: BLE001 - e.g. psutil not installed: train without them
        logger.warning("MLflow system metrics are off for run %s: %s (pip install psutil)", run_id, exc)
        return None
    monitor.start()
    return SystemMetrics(monitor)
