"""Fixtures shared across test packages: PostgreSQL, tiny generated data, tiny-model options, a
tiny trained checkpoint, a fresh MLflow store, and running the ``mlpose`` CLI as a real process."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the local PostgreSQL test database (as a user that may create databases).

    Skips the test with the reason when nothing answers at 127.0.0.1:5432, except under
    ``CI=true``, where PostgreSQL is part of the job and its absence is a failure.
    """
    import psycopg2

    try:
        psycopg2.connect(POSTGRES_URL, connect_timeout=2).close()
    except psycopg2.OperationalError as e:
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {str(e).strip().splitlines()[0]}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true requires it)")
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """12 train / 4 val generated images of 128x128 (about 30 / 10 people)."""
    from mlpose.datasets.synth import generate

    out = tmp_path_factory.mktemp("synth")
    generate(out, num_train=12, num_val=4, seed=0, image_size=(128, 128), progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_opts():
    """``tiny_opts(data, epochs=2, width=16, **overrides)`` -> --cfg-options list (see :func:`tiny_options`)."""
    return tiny_options


def tiny_options(data: Path, epochs: int = 2, width: int = 16, **extra) -> list[str]:
    """--cfg-options turning the `tiny` recipe into a seconds-long CPU run on ``data``; ``width``
    is the backbone's base channels, and the head follows it (8x in, 2x 2x 1x 1x deconvs)."""
    ann = data / "annotations"
    opts = {
        "model.backbone.base_channels": width, "model.head.in_channels": 8 * width,
        "model.head.deconv_out_channels": f"({2 * width},{2 * width},{width},{width})",
        "train_cfg.max_epochs": epochs, "train_cfg.val_interval": 1,
        "train_dataloader.batch_size": 4, "train_dataloader.num_workers": 0,
        "train_dataloader.dataset.data_root": str(data),
        "val_dataloader.batch_size": 8, "val_dataloader.num_workers": 0,
        "val_dataloader.dataset.data_root": str(data),
        "test_dataloader.dataset.data_root": str(data),
        "val_evaluator.ann_file": str(ann / "person_keypoints_val.json"),
        "test_evaluator.ann_file": str(ann / "person_keypoints_val.json"),
        "default_hooks.logger.interval": 2, "log_processor.window_size": 2, "default_hooks.checkpoint.interval": 1,
        "randomness.seed": 0, "randomness.deterministic": True,
        "param_scheduler.0.end": 5,
    }
    opts.update(extra)
    return [f"{k}={v}" for k, v in opts.items()]


@pytest.fixture(scope="session")
def pose_checkpoint(tmp_path_factory, tiny_data) -> Path:
    """A real checkpoint of ``mlpose train tiny`` (2 untracked epochs of a width-8 model on
    ``tiny_data``): weights, optimizer, config, meta and state, as every training writes them."""
    from mlpose.engine import jobs

    work = tmp_path_factory.mktemp("pose-model")
    opts = tiny_options(tiny_data, 2, width=8, **{"tracking.enabled": False})
    jobs.train("tiny", jobs.TrainOptions(work_dir=str(work), cfg_options=opts))
    return work / "epoch_2.pth"


def _keypoints_agree(a, b) -> None:
    """Two predictions of the same crops agree: keypoints to 0.02 px, except a few near-tie heatmap peaks.

    Another batch composition runs other CPU kernels; on a barely trained model a flat heatmap's peak
    can then move to its neighbour (a few pixels). A permuted or wrong person differs everywhere.
    """
    import numpy as np

    a, b = np.asarray(a, dtype=np.float64)[..., :2], np.asarray(b, dtype=np.float64)[..., :2]
    assert a.shape == b.shape
    far = np.abs(a - b).max(axis=-1)
    assert (far <= 0.02).mean() >= 0.85 and far.max() < 6.0, far


@pytest.fixture(scope="session")
def keypoints_agree():
    return _keypoints_agree


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size)``: a real size-limited tmpfs (e.g. ``'1m'``) mounted at a fresh folder and
    unmounted after the test; skips where mounting is not allowed (needs root)."""
    import os
    import subprocess
    import uuid

    mounted = []

    def mount(size: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        folder = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture(scope="session")
def same_poses():
    """Checks two served/pyfunc answers agree: boxes and box scores exactly, keypoints as ``keypoints_agree``."""

    def check(a: dict, b: dict) -> None:
        assert [(p["bbox"], p["bbox_score"]) for p in a["poses"]] == [(p["bbox"], p["bbox_score"]) for p in b["poses"]]
        for pa, pb in zip(a["poses"], b["poses"]):
            _keypoints_agree(pa["keypoints"], pb["keypoints"])

    return check


@pytest.fixture(scope="session")
def write_video():
    """``write_video(path, num_frames, size=(96, 64))``: an MJPG AVI of distinct frames; returns them."""
    return _write_video


def _write_video(path, num_frames: int, size=(96, 64)) -> list:
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    assert writer.isOpened()
    frames = []
    for i in range(num_frames):
        frame = np.full((size[1], size[0], 3), 20 * i, np.uint8)
        cv2.circle(frame, (10 + 7 * i, 30), 8, (255, 255, 255), -1)
        writer.write(frame)
        frames.append(frame)
    writer.release()
    return frames


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables created once (copying it is much faster than
    migrating a new one). Created from inside its folder: the Default experiment's artifact
    folder is fixed at creation from the working directory."""
    from mlflow import MlflowClient

    folder, cwd = tmp_path_factory.mktemp("mlflow-template"), os.getcwd()
    os.chdir(folder)
    try:
        MlflowClient(f"sqlite:///{folder / 'mlflow.db'}").search_experiments()
    finally:
        os.chdir(cwd)
    return folder / "mlflow.db"


@pytest.fixture
def mlflow_env(tmp_path, monkeypatch, empty_mlflow_store) -> str:
    """A fresh SQLite tracking store for the test; returns its URI.

    The working directory becomes ``tmp_path``: MLflow puts a SQLite store's artifacts in
    ``./mlruns`` of the process that creates the experiment, which must not be the repository.
    """
    shutil.copy(empty_mlflow_store, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for var in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID"):
        monkeypatch.delenv(var, raising=False)
    return uri


@pytest.fixture(scope="session")
def run_cli():
    """``run_cli(args, cwd, env=None, timeout=300, check=True)``: ``mlpose ARGS`` in a subprocess
    (a real process, as users run it); returns the ``CompletedProcess`` (text output).

    Subprocesses run single-threaded (``OMP_NUM_THREADS=1`` unless ``env`` says otherwise): on
    2 shared cores, the spinning OpenMP threads of concurrent processes make a tiny run ~5x slower.
    """
    return _run_cli


def _cli_env(env: dict | None) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}


def _run_cli(args: list[str], cwd: Path, env: dict | None = None, timeout: int = 300, check: bool = True):
    full_env = _cli_env(env)
    proc = subprocess.run([sys.executable, "-m", "mlpose.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"mlpose {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def interrupt_cli():
    """``interrupt_cli(args, cwd, env, until, sig, ready=None)``: run ``mlpose ARGS`` and send it
    ``sig`` once an output line contains ``until`` and then ``ready()`` (polled, e.g. "its
    checkpoint is uploaded") is true. Returns ``(returncode, output)``; fails the test when the
    process ended before it could be signalled. Single-threaded like ``run_cli``."""
    return _interrupt_cli


def _interrupt_cli(args: list[str], cwd: Path, env: dict, until: str, sig: int, ready=None, timeout: float = 300):
    import threading
    import time

    proc = subprocess.Popen([sys.executable, "-m", "mlpose.cli", *args], cwd=cwd, env=_cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    seen = threading.Event()

    def read():  # drains the pipe while the test polls `ready` (a full pipe would block the job)
        for line in proc.stdout:
            lines.append(line)
            if until in line:
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while not seen.is_set() and proc.poll() is None and time.monotonic() < deadline:
        seen.wait(0.05)
    while seen.is_set() and ready is not None and not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    signalled = proc.poll() is None and seen.is_set()
    if signalled:
        proc.send_signal(sig)
    try:
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(timeout=10)
    output = "".join(lines)
    assert signalled, f"mlpose {' '.join(args[:2])} ended (rc {proc.returncode}) before {until!r} + ready:\n{output[-3000:]}"
    return proc.returncode, output


# ---- model-zoo checkpoint files, written as MMPose/MMEngine write them (issue 21)
# A stand-in `mmengine` package on a subprocess's path lets the files name MMEngine's classes exactly
# as real ones do (HistoryBuffer pickles its statistics methods through getattr), without mmengine.
_FAKE_MMENGINE = {
    "mmengine/__init__.py": "",
    "mmengine/logging/__init__.py": "",
    "mmengine/logging/history_buffer.py": (
        "import numpy as np\n\n\nclass HistoryBuffer:\n"
        "    def __init__(self, values):\n"
        "        self.max_length = 1000000\n"
        "        self._log_history = np.asarray(values, dtype=np.float64)\n"
        "        self._statistics_methods = {'min': HistoryBuffer.min, 'mean': HistoryBuffer.mean}\n\n"
        "    def min(self):\n        return self._log_history.min()\n\n"
        "    def mean(self):\n        return self._log_history.mean()\n"),
    "mmengine/config/__init__.py": "class ConfigDict(dict):\n    pass\n",
    "mmengine/evil.py": (  # what an inert stand-in must never run
        "import os\n\n\ndef run(cmd):\n    os.system(cmd)\n\n\nclass Trap:\n"
        "    def __init__(self, cmd):\n        self.cmd = cmd\n\n"
        "    def __reduce__(self):\n        return (run, (self.cmd,))\n"),
}
_ZOO_WRITER = """
import pickle, sys
import numpy as np, torch
from mmengine.config import ConfigDict
from mmengine.evil import Trap
from mmengine.logging.history_buffer import HistoryBuffer

for spec in pickle.load(open(sys.argv[1], "rb")):
    weights, kind = spec["weights"], spec["kind"]
    meta = {"mmengine_version": "0.10.7", "time": "20240101_000000", "epoch": 210, "seed": np.int64(0),
            **({"dataset_meta": spec["dataset_meta"]} if spec.get("dataset_meta") else {})}
    if kind == "mmpose0x":
        weights = {("keypoint_" + k if k.startswith("head.") else k): v for k, v in weights.items()}
    ckpt = {"meta": meta, "state_dict": weights}
    if kind == "mmengine":
        ckpt.update(message_hub={"log_scalars": {"train/loss": HistoryBuffer([0.5, 0.25])},
                                 "runtime_info": {"iter": 7, "eta": np.float64(0.0)}, "resumed_keys": {"iter": True}},
                    optimizer={"state": {}, "param_groups": [{"lr": 0.001, "params": list(range(len(weights)))}]},
                    param_schedulers=[{"start_factor": 0.001, "last_step": 7, "by_epoch": False}])
        if spec.get("raw") is not None:  # EMAHook's swap: state_dict holds the averages, these the raw weights
            ckpt["ema_state_dict"] = {**{"module." + k: v for k, v in spec["raw"].items()}, "steps": torch.tensor(7)}
    if kind == "trap":
        ckpt["meta"]["trap"] = Trap(spec["cmd"])
    if kind == "configdict":
        ckpt["meta"]["cfg"] = ConfigDict(lr=0.1)
    torch.save(ckpt, spec["out"], _use_new_zipfile_serialization=kind == "mmengine")
"""


def mmpose_dataset_meta(metainfo: dict, name: str | None = None) -> dict:
    """mlpose's parsed ``metainfo`` in the form MMPose keeps in ``meta.dataset_meta`` (numpy arrays)."""
    import numpy as np

    return dict(dataset_name=name or metainfo["dataset_name"], num_keypoints=metainfo["num_keypoints"],
                keypoint_id2name=dict(enumerate(metainfo["keypoint_names"])),
                keypoint_name2id=dict(metainfo["keypoint_name2id"]), upper_body_ids=list(metainfo["upper_body_ids"]),
                lower_body_ids=list(metainfo["lower_body_ids"]), flip_indices=list(metainfo["flip_indices"]),
                flip_pairs=[tuple(p) for p in metainfo["flip_pairs"]],
                keypoint_colors=np.asarray(metainfo["keypoint_colors"], np.uint8),
                num_skeleton_links=len(metainfo["skeleton"]), skeleton_links=[tuple(s) for s in metainfo["skeleton"]],
                skeleton_link_colors=np.asarray(metainfo["skeleton_colors"], np.uint8),
                dataset_keypoint_weights=np.asarray(metainfo["joint_weights"], np.float32),
                sigmas=np.asarray(metainfo["sigmas"], np.float32))


@pytest.fixture(scope="session")
def mmpose_meta():
    """``mmpose_meta(metainfo, name=None)``: see :func:`mmpose_dataset_meta`."""
    return mmpose_dataset_meta


@pytest.fixture(scope="session")
def zoo_files(tmp_path_factory):
    """``zoo_files(folder, [dict(kind, weights, raw=None, dataset_meta=None, cmd=None), ...])`` writes one file
    per spec into ``folder`` as ``KIND.pth`` and returns their paths. Kinds: ``mmpose`` (a published file:
    meta + state_dict, legacy serialization), ``mmengine`` (a training checkpoint: message_hub, optimizer,
    param_schedulers, ``ema_state_dict`` when ``raw`` is given), ``mmpose0x`` (``keypoint_head.*``),
    ``trap`` (meta holds an object whose unpickling would run ``cmd`` through mmengine code),
    ``configdict`` (meta holds an MMEngine ``ConfigDict``, a dict subclass)."""
    import pickle

    fake = tmp_path_factory.mktemp("fake-mmengine")
    for name, text in _FAKE_MMENGINE.items():
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text)

    def write(folder: Path, specs: list[dict]) -> list[Path]:
        specs = [{**spec, "out": str(folder / f"{spec['kind']}.pth")} for spec in specs]
        (folder / "specs.pkl").write_bytes(pickle.dumps(specs))
        subprocess.run([sys.executable, "-c", _ZOO_WRITER, str(folder / "specs.pkl")], check=True,
                       env={**os.environ, "PYTHONPATH": str(fake), "OMP_NUM_THREADS": "1"})
        (folder / "specs.pkl").unlink()
        return [Path(spec["out"]) for spec in specs]

    return write
