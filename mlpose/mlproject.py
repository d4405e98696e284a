"""The command behind every MLproject entry point: ``python -m mlpose.mlproject ENTRY ...``.

MLflow substitutes declared parameters as ``--name value`` and appends undeclared ``-P k=v`` as
``--k v``; this module checks both, converts them to ``mlpose`` CLI arguments and runs the CLI.

* ``amp`` (MLproject has no bool type): true/1/yes/on or false/0/no/off, any case.
* ``cfg_options``: space-separated ``key=value`` pairs, shell-quoted where needed.
* ``nproc`` > 1 (train): ``python -m torch.distributed.run --standalone --nproc-per-node N -m
  mlpose.cli train ... --launcher pytorch``; every rank inherits ``MLFLOW_RUN_ID`` and rank 0
  attaches to the run ``mlflow run`` created, so the job is one run.
* ``resume``: ``mlflow run`` has created a new run for the entry point (``MLFLOW_RUN_ID``), but
  training continues in run ``run_id``. The launcher run is tagged ``mlpose.resumed_run_id`` and
  made a child of ``run_id``, then deleted as soon as ``mlflow run`` has written its final status,
  whether or not the resume succeeded: the user never sees a stray empty run (``mlflow runs
  restore`` brings it back). ``mlflow run ... --run-id RUN_ID`` makes both the same run instead.
* ``mlflow run`` overwrites the job's final status (KILLED becomes FAILED after Ctrl-C); a
  detached watcher puts back the status the job recorded (tag ``mlpose.status``) once it exits.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time

from mlpose.errors import ConfigError

#: entry point -> declared MLproject parameters (keep in sync with the MLproject file).
ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "main": ("config", "amp", "work_dir", "cfg_options", "launcher", "nproc", "resume"),
    "train": ("config", "amp", "work_dir", "cfg_options", "launcher", "nproc", "resume"),
    "test": ("config", "checkpoint", "cfg_options"),
    "resume": ("run_id", "work_dir"),
    "sweep": ("config", "n_trials", "storage", "study_name"),
}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def parse_bool(value: str, name: str) -> bool:
    """MLproject string -> bool, case-insensitive; anything else is a ConfigError."""
    low = value.strip().lower()
    if low in _TRUE or low in _FALSE:
        return low in _TRUE
    raise ConfigError(f"-P {name}={value!r}: expected true/false (also 1/0, yes/no, on/off, any case)")


def parse_count(value: str, name: str) -> int | None:
    """A positive whole number given as '4' or '4.0' (MLproject float type); '' -> None."""
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number.is_integer() or number < 1:
        raise ConfigError(f"-P {name}={value!r}: expected a whole number >= 1")
    return int(number)


def parse_params(argv: list[str]) -> tuple[str, dict[str, str]]:
    """``[ENTRY, '--name', 'value', ...]`` -> (entry, {name: value}); undeclared names rejected."""
    if not argv or argv[0] not in ENTRY_POINTS:
        raise ConfigError(f"unknown MLproject entry point {argv[0] if argv else ''!r}; "
                          f"known: {', '.join(ENTRY_POINTS)}")
    entry, rest = argv[0], argv[1:]
    declared = ENTRY_POINTS[entry]
    params: dict[str, str] = {}
    while rest:
        flag = rest.pop(0)
        name = flag[2:] if flag.startswith("--") else None
        if name not in declared:
            hint = " (config overrides go in -P cfg_options='a.b=1 c=2')" if "cfg_options" in declared else ""
            raise ConfigError(f"entry point {entry!r} has no parameter {(name or flag)!r}; "
                              f"declared: {', '.join(declared)}{hint}")
        if not rest:
            raise ConfigError(f"entry point {entry!r}: parameter {name!r} has no value")
        params[name] = rest.pop(0)
    return entry, params


def cli_args(entry: str, params: dict[str, str]) -> list[str]:
    """The ``mlpose`` CLI arguments for an entry point's parameters."""
    get = lambda name: params.get(name, "").strip()  # noqa: E731
    options = shlex.split(get("cfg_options"))
    opts = ["--cfg-options", *options] if options else []
    if entry in ("train", "main"):
        if not get("config"):
            raise ConfigError(f"entry point {entry!r} needs -P config=NAME_OR_PATH (e.g. res50)")
        args = ["train", get("config")]
        args += ["--work-dir", get("work_dir")] if get("work_dir") else []
        args += ["--amp"] if parse_bool(params.get("amp", "false"), "amp") else []
        args += opts
        args += ["--launcher", get("launcher")] if get("launcher") not in ("", "none") else []
        resume = get("resume")
        if resume.lower() in _TRUE:
            args += ["--resume", "auto"]
        elif resume.lower() not in _FALSE:
            args += ["--resume", resume]
        return args
    if entry == "test":
        if not get("config") or not get("checkpoint"):
            raise ConfigError("entry point 'test' needs -P config=... and -P checkpoint=PATH_OR_URI")
        return ["test", get("config"), get("checkpoint"), *opts]
    if entry == "resume":
        if not get("run_id"):
            raise ConfigError("entry point 'resume' needs -P run_id=RUN_ID")
        return ["resume", get("run_id"), *(["--work-dir", get("work_dir")] if get("work_dir") else [])]
    if not get("config"):
        raise ConfigError("entry point 'sweep' needs -P config=NAME_OR_PATH")
    args = ["sweep", get("config")]
    n_trials = parse_count(params.get("n_trials", ""), "n_trials")
    args += ["--n-trials", str(n_trials)] if n_trials else []
    args += ["--storage", get("storage")] if get("storage") else []
    args += ["--study-name", get("study_name")] if get("study_name") else []
    return args


def torchrun_command(args: list[str], nproc: int) -> list[str]:
    """The single-node torchrun command running ``mlpose <args>`` on ``nproc`` processes."""
    if "--launcher" in args:
        launcher = args[args.index("--launcher") + 1]
        if launcher != "pytorch":
            raise ConfigError(f"-P nproc={nproc} starts torchrun, which needs launcher=pytorch (or none), "
                              f"got launcher={launcher!r}")
        args = args[:args.index("--launcher")] + args[args.index("--launcher") + 2:]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "mlpose.cli", *args, "--launcher", "pytorch"]


def _launcher_pid() -> int | None:
    """PID of the ``mlflow run`` process above us (it runs ``bash -c COMMAND``), or None."""
    pid = os.getppid()
    for _ in range(3):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        if any(a.endswith(b"mlflow") for a in argv[:3]) and b"run" in argv:
            return pid
        pid = parent
    return None


def _spawn_watcher(call: str) -> None:
    """Run ``mlproject.<call>`` in a detached process that outlives this one and ``mlflow run``."""
    code = f"from mlpose import mlproject; mlproject.{call}"
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for_launcher(client, run_id: str, launcher_pid: int, until_terminal: bool, poll_s: float) -> None:
    while True:
        if until_terminal:
            try:
                if client.get_run(run_id).info.status in ("FINISHED", "FAILED", "KILLED"):
                    return
            except Exception:  # noqa: BLE001 - a busy SQLite file or a server restart: try again
                pass
        if not _running(launcher_pid):
            return
        time.sleep(poll_s)


def _running(pid: int) -> bool:
    """Whether ``pid`` runs; an exited process that is not reaped yet (zombie) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


def delete_when_released(run_id: str, launcher_pid: int, poll_s: float = 0.5) -> None:
    """Delete run ``run_id`` once its status is terminal or process ``launcher_pid`` has exited."""
    from mlflow import MlflowClient

    client = MlflowClient()
    _wait_for_launcher(client, run_id, launcher_pid, True, poll_s)
    client.delete_run(run_id)


def restore_status_when_released(run_id: str, launcher_pid: int, poll_s: float = 0.5) -> None:
    """After ``launcher_pid`` exits, put back the status mlpose recorded (tag ``mlpose.status``)
    if ``mlflow run`` overwrote it (it reports KILLED jobs as FAILED, SIGTERMed ones as FINISHED)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    _wait_for_launcher(client, run_id, launcher_pid, False, poll_s)
    run = client.get_run(run_id)
    wanted = run.data.tags.get("mlpose.status")
    if wanted and wanted != run.info.status:
        client.update_run(run_id, status=wanted)


def _retire_launcher_run(target_run_id: str) -> None:
    """Link the run ``mlflow run`` made for the resume entry point to ``target_run_id`` and have
    it deleted once ``mlflow run`` is done with it.

    ``mlflow run`` sets the run's status after the command exits and fails on a deleted run
    (MLflow 3.17 compares the status string with integer codes, so it always writes it), hence
    a detached watcher deletes it after that last write or when ``mlflow run`` is gone.
    """
    from mlflow import MlflowClient
    from mlflow.entities import RunTag

    launcher_run = os.environ.pop("MLFLOW_RUN_ID", None)
    if not launcher_run or launcher_run == target_run_id:
        return
    # Until deleted (or if the watcher dies with the machine) it shows as a child of the target.
    MlflowClient().log_batch(launcher_run, tags=[RunTag("mlpose.resumed_run_id", target_run_id),
                                                 RunTag("mlflow.parentRunId", target_run_id)])
    pid = _launcher_pid()
    if pid is None:  # not under `mlflow run`: nobody writes the run after us
        MlflowClient().delete_run(launcher_run)
    else:
        _spawn_watcher(f"delete_when_released({launcher_run!r}, {pid})")


def _check_run(run_id: str) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        MlflowClient().get_run(run_id)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise ConfigError(f"cannot resume: MLflow run {run_id!r} not found at this tracking URI; "
                              "check -P run_id and MLFLOW_TRACKING_URI") from None
        raise


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        entry, params = parse_params(argv)
        run_id = params.get("run_id", "").strip()
        if entry == "resume" and run_id:
            try:
                _check_run(run_id)
            finally:
                _retire_launcher_run(run_id)
        args = cli_args(entry, params)
        if entry != "resume" and os.environ.get("MLFLOW_RUN_ID") and (pid := _launcher_pid()):
            _spawn_watcher(f"restore_status_when_released({os.environ['MLFLOW_RUN_ID']!r}, {pid})")
        nproc = parse_count(params.get("nproc", "1"), "nproc") or 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    if nproc > 1:
        try:
            command = torchrun_command(args, nproc)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        sys.exit(subprocess.call(command))
    from mlpose.cli import main as mlpose_main  # imported late: parameter errors stay fast

    mlpose_main(args)


if __name__ == "__main__":
    main()
