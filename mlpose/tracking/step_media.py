"""What :class:`mlpose.tracking.tracker.Tracker` runs on its upload thread for step images and
tables, and the folder staging that keeps files uploaded on their own out of a folder upload.

Images and tables may be handed over as callables: the training thread then only queues them,
and reading files, drawing and encoding happen there, off the training thread. Each is staged as
a file and journaled (``image`` and ``table`` records, :mod:`mlpose.tracking.records`), so a
tracking outage keeps them like any other write.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import TYPE_CHECKING, Any, Callable, Iterable, Union

import numpy as np

if TYPE_CHECKING:  # val_report imports this module on every rank: no MLflow import at run time
    from mlflow import MlflowClient

ImageSource = Union[np.ndarray, Callable[[], np.ndarray]]
TableSource = Union[dict, Callable[[], dict]]

_KEY_BAD = re.compile(r"[^A-Za-z0-9_\-./ ]+")
_FILE_BAD = re.compile(r"[\"',:\[\]{}]+")


def image_key(key: str) -> str:
    """``key`` with what ``MlflowClient.log_image`` refuses replaced by ``_`` (``/`` is kept:
    MLflow stores ``coco/samples`` as ``images/coco~samples+step+...``)."""
    return _KEY_BAD.sub("_", str(key)).strip("/") or "_"


def table_file(name: str) -> str:
    """An artifact name ``log_table`` accepts (no quotes, commas, colons or brackets)."""
    return _FILE_BAD.sub("_", str(name))


def _new_stage(folder: str | None) -> str:
    """A new staging folder in ``folder`` (made if needed; None: the temporary folder)."""
    if folder:
        os.makedirs(folder, exist_ok=True)
    return tempfile.mkdtemp(prefix=".mlpose-upload-", dir=folder)


def stage_image(image: ImageSource, key: str, step: int, folder: str | None) -> dict:
    """Make the image (when a callable), write it as a PNG into a new staging folder under
    ``folder`` and return the journal record that stores it as step image ``key`` at ``step``."""
    import cv2

    array = np.ascontiguousarray(image() if callable(image) else image)
    stage = _new_stage(folder)
    path = os.path.join(stage, "image.png")
    if not cv2.imwrite(path, array[..., ::-1] if array.ndim == 3 else array):
        raise OSError(f"could not write {path}")
    return {"k": "image", "key": key, "step": int(step), "path": path, "cleanup": stage}


def send_image(client: MlflowClient, run_id: str, record: dict) -> None:
    """Store a staged step image (a journal record of :func:`stage_image`)."""
    import cv2

    array = cv2.imread(record["path"], cv2.IMREAD_UNCHANGED)
    if array.ndim == 3:
        array = np.ascontiguousarray(array[..., ::-1])
    client.log_image(run_id, array, key=record["key"], step=int(record["step"]), synchronous=True)


class TableWriter:
    """The run's tables as this process last wrote them, so that appending needs no download.

    ``MlflowClient.log_table`` appends by downloading the stored file first (and prints a progress
    bar each time); here the rows are kept and each record carries the whole table, which replaces
    the stored file. An appended table that already exists when first seen (a resumed run) is
    read once; if the server is away at that moment, the table starts from this process's rows
    (and replaces the stored one when sent).

    Args:
        client, run_id: where the tables go.
        folder: where staged table files go (the run's journal folder; None: a temporary one).
    """

    def __init__(self, client: MlflowClient, run_id: str, folder: str | None = None):
        self.client, self.run_id, self.folder = client, run_id, folder
        self._tables: dict[str, Any] = {}

    def stage(self, data: TableSource, artifact_file: str, replace: bool) -> dict:
        """Make the table (when a callable), append it to the earlier rows unless ``replace``, and
        return the journal record that stores the whole table as ``artifact_file``."""
        import pandas as pd

        table = pd.DataFrame(data() if callable(data) else data)
        if not replace:
            if artifact_file not in self._tables:
                self._tables[artifact_file] = self._stored(artifact_file)
            earlier = self._tables[artifact_file]
            table = table if earlier is None else pd.concat([earlier, table], ignore_index=True)
            self._tables[artifact_file] = table
        stage = _new_stage(self.folder)
        path = os.path.join(stage, "table.json")
        table.to_json(path, orient="split")
        return {"k": "table", "ap": artifact_file, "path": path, "cleanup": stage}

    def _stored(self, artifact_file: str):
        """The table a resumed run stored before, or None (none, or the server is away)."""
        import pandas as pd

        try:
            if not _is_stored(self.client, self.run_id, artifact_file):
                return None
            local = self.client.download_artifacts(self.run_id, artifact_file, tempfile.mkdtemp(prefix="mlpose-table-"))
        except Exception:  # noqa: BLE001 - unreachable: the table starts from this process's rows
            return None
        try:
            return pd.read_json(local, orient="split")
        finally:
            shutil.rmtree(os.path.dirname(local), ignore_errors=True)


def send_table(client, run_id: str, record: dict) -> None:
    """Store a staged table (a journal record of :meth:`TableWriter.stage`) in place of the stored one."""
    import pandas as pd

    table = pd.read_json(record["path"], orient="split")
    artifact_file = record["ap"]
    if _is_stored(client, run_id, artifact_file):
        client.delete_artifact(run_id, artifact_file)
    client.log_table(run_id, data=table, artifact_file=artifact_file)


def _is_stored(client, run_id: str, artifact_file: str) -> bool:
    folder = os.path.dirname(artifact_file) or None
    return any(f.path == artifact_file for f in client.list_artifacts(run_id, folder))


def _link_or_copy(src: str, dst: str) -> Any:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst


def stage_folder_without(folder: str, skip: Iterable[str]) -> tuple[str, str] | None:
    """Freeze ``folder`` for upload without the files in ``skip`` (absolute paths): hard links
    (copies where linking fails) in a hidden folder beside it. None when nothing is skipped.

    Returns:
        (staged copy of the folder, staging folder to delete after the upload), or None.
    """
    folder = os.path.abspath(folder)
    inside = {p for p in skip if p.startswith(folder + os.sep)}
    if not inside:
        return None
    stage = tempfile.mkdtemp(prefix=".mlpose-upload-", dir=os.path.dirname(folder))

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n.startswith(".mlpose-upload-") or os.path.join(os.path.abspath(directory), n) in inside}

    staged = os.path.join(stage, os.path.basename(folder))
    shutil.copytree(folder, staged, ignore=ignore, copy_function=_link_or_copy)
    for directory, subdirs, files in os.walk(staged, topdown=False):  # folders left empty: not uploaded
        if directory != staged and not os.listdir(directory):
            os.rmdir(directory)
    return staged, stage
