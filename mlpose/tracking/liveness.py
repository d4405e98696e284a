"""Which process owns a RUNNING run, and ending the runs whose process is gone.

A job tags its run with ``mlpose.process`` = ``host:pid:start`` (``start``: the process's start
time in clock ticks since boot, from ``/proc``, so that a reused pid is not taken for the
job). A later job on the same host that finds such a run RUNNING with that process gone (a
SIGKILL, the OOM killer, a power cut) ends it KILLED with the tag ``mlpose.killed`` saying so.
Runs of other hosts are left alone: their processes cannot be checked from here.
"""
from __future__ import annotations

import logging
import os
import platform
import time

from mlflow import MlflowClient

logger = logging.getLogger(__name__)

PROCESS_TAG = "mlpose.process"
KILLED_TAG = "mlpose.killed"


def _start_ticks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_id(pid: int | None = None) -> str:
    """``host:pid:start`` of ``pid`` (default: this process)."""
    pid = os.getpid() if pid is None else pid
    return f"{platform.node()}:{pid}:{_start_ticks(pid)}"


def is_gone(process: str) -> bool | None:
    """Whether the process named by ``process_id`` has ended; None for another host or a
    malformed value (unknown)."""
    rest = process.split(":")
    if len(rest) < 3 or not rest[-2].isdigit():
        return None
    host, pid, start = ":".join(rest[:-2]), int(rest[-2]), rest[-1]
    if host != platform.node():
        return None
    if not os.path.exists(f"/proc/{pid}"):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return bool(start) and _start_ticks(pid) != start  # the pid now belongs to another process


def claim(client: MlflowClient, run_id: str) -> None:
    """Tag ``run_id`` as owned by this process (synchronously: a SIGKILL right after still finds it)."""
    client.set_tag(run_id, PROCESS_TAG, process_id())


def mark_if_gone(client: MlflowClient, run) -> bool:
    """End ``run`` KILLED (tags ``mlpose.killed``, ``mlpose.status``) when it is RUNNING and the
    process that ran it is gone; True when it did."""
    owner = run.data.tags.get(PROCESS_TAG)
    if run.info.status != "RUNNING" or not owner or not is_gone(owner):
        return False
    parts = owner.split(":")
    host, pid = ":".join(parts[:-2]), parts[-2]
    note = (f"process {pid} on {host} ended without ending the run (e.g. SIGKILL); marked KILLED by process "
            f"{os.getpid()} at {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    client.set_tag(run.info.run_id, KILLED_TAG, note)
    client.set_tag(run.info.run_id, "mlpose.status", "KILLED")
    client.set_terminated(run.info.run_id, "KILLED")
    logger.warning("MLflow run %s was left RUNNING by a killed process: %s", run.info.run_id, note)
    return True


def mark_gone_runs(client: MlflowClient, experiment_id: str, exclude: str | None = None) -> list[str]:
    """End KILLED every RUNNING run of the experiment whose process (on this host) is gone."""
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=500)
    return [run.info.run_id for run in runs if run.info.run_id != exclude and mark_if_gone(client, run)]
