"""The run's datasets as MLflow inputs: the "Datasets" column of the runs table and the run page.

One input per annotation file and split, named ``<dataset_name>/<split>`` (``coco/train``,
``coco/val``, ``aic/train``: the prefix its metrics carry), with

- source: the annotation file (an absolute local path),
- digest: the first 16 hex digits of the SHA-256 of the annotation file's bytes (and of the
  detections file's, when the split evaluates on detections): the same data has the same
  digest on every machine and under every path,
- profile (JSON): ``images``, ``instances``, ``keypoints`` (labelled), ``num_keypoints``
  (per instance), ``bbox_file``,
- context tag ``mlflow.data.context``: ``training``, ``validation`` or ``test``.

MLflow keeps one dataset per experiment and (name, digest), with the source it was first logged
with, and one input per run and dataset: logging again after a resume adds nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from typing import Iterable, Mapping

from mlflow import MlflowClient
from mlflow.data.dataset import Dataset
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.entities import DatasetInput, InputTag
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from mlpose.datasets.facts import DatasetFacts

#: context -> the split word in the input's name
SPLITS = {"training": "train", "validation": "val", "test": "test"}
DIGEST_LENGTH = 16


class PoseAnnotations(Dataset):
    """An MLflow dataset that records an annotation file without its data: name, source,
    content digest and a profile of counts."""

    def __init__(self, facts: DatasetFacts, split: str, digest: str):
        self._profile = {"images": facts.images, "instances": facts.instances, "keypoints": facts.keypoints,
                         "num_keypoints": facts.num_keypoints, "bbox_file": facts.bbox_file}
        with warnings.catch_warnings():  # MLflow registers its local source class twice and warns about it
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(os.path.abspath(facts.ann_file))
        super().__init__(source=source, name=f"{facts.dataset_name}/{split}", digest=digest)

    def _compute_digest(self) -> str:  # the digest is always given (file_digest)
        raise NotImplementedError

    @property
    def profile(self) -> dict:
        return dict(self._profile)

    @property
    def schema(self) -> None:
        return None

    def to_dict(self) -> dict[str, str]:
        return {**super().to_dict(), "profile": json.dumps(self._profile)}


def file_digest(*paths: str | None) -> str:
    """SHA-256 over the bytes of ``paths`` (None skipped), first :data:`DIGEST_LENGTH` hex digits."""
    sha = hashlib.sha256()
    for path in paths:
        if path:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    sha.update(chunk)
    return sha.hexdigest()[:DIGEST_LENGTH]


def dataset_inputs(datasets: Mapping[str, Iterable[DatasetFacts]]) -> list[DatasetInput]:
    """``{context: facts}`` -> one MLflow ``DatasetInput`` per annotation file and context.

    Raises:
        ValueError: an unknown context (not training/validation/test).
    """
    inputs = []
    for context, items in datasets.items():
        if context not in SPLITS:
            raise ValueError(f"dataset context {context!r}: expected one of {', '.join(SPLITS)}")
        for facts in items:
            dataset = PoseAnnotations(facts, SPLITS[context], file_digest(facts.ann_file, facts.bbox_file))
            inputs.append(DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, context)]))
    return inputs


def log_dataset_inputs(client: MlflowClient, run_id: str, datasets: Mapping[str, Iterable[DatasetFacts]]) -> int:
    """Log ``{context: facts}`` as inputs of ``run_id``; returns how many were sent."""
    inputs = dataset_inputs(datasets)
    if inputs:
        client.log_inputs(run_id, datasets=inputs)
    return len(inputs)


def queue_datasets(self, datasets: Mapping[str, object]) -> None:
    """``Tracker.log_datasets`` (``self`` is the :class:`~mlpose.tracking.tracker.Tracker`): count
    now (``{context: dataset}``, None skipped), hash and log on its upload thread, off the
    training thread."""
    from mlpose.datasets.facts import dataset_facts

    if self.finished:
        return
    facts = {context: dataset_facts(d) for context, d in datasets.items() if d is not None}
    self._uploads.put_call("log the datasets", lambda: log_dataset_inputs(self.client, self.run_id, facts))
