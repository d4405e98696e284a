"""The sample list of a top-down dataset as flat numpy columns, not one dict per instance.

DataLoader workers are forked copies of the main process. A list of 150k dicts of small
arrays is ~1.5 million Python objects; merely reading one increments its reference count,
which writes to its memory page, so every worker slowly gets its own copy of the whole list
("copy-on-read"; MMEngine's ``serialize_data`` exists for this). Columns are a handful of
numpy arrays whose data pages are only ever read, so the workers keep sharing them.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


class InstanceTable:
    """One row per person instance; :meth:`item` rebuilds the instance dict of a row.

    Args:
        columns: name -> array with one row per instance; a column named in ``as_1xn`` is
            returned as a ``(1, ...)`` copy (``bbox`` (N, 4) gives ``(1, 4)``), other columns
            as python scalars.
        image_index: (N,) row of each instance's image in ``image_ids``/``image_paths``.
        image_ids: (M,) int64 COCO image ids.
        image_paths: (M,) str image paths.
        constants: entries every item gets unchanged (``dataset_name``, ``iscrowd``).
        as_1xn: the per-instance array columns (see ``columns``).
    """

    def __init__(self, columns: dict[str, np.ndarray], image_index: np.ndarray, image_ids: np.ndarray,
                 image_paths: np.ndarray, constants: dict, as_1xn: Sequence[str]):
        sizes = {len(c) for c in columns.values()} | {len(image_index)}
        if len(sizes) != 1:
            raise ValueError(f"InstanceTable: columns of different lengths {sorted(sizes)}")
        self.columns = columns
        self.image_index = np.asarray(image_index, np.int32)
        self.image_ids = np.asarray(image_ids, np.int64)
        self.image_paths = np.asarray(image_paths, dtype=str)
        self.constants = dict(constants)
        self.as_1xn = tuple(as_1xn)

    @classmethod
    def empty(cls) -> "InstanceTable":
        return cls({}, np.zeros(0, np.int32), np.zeros(0, np.int64), np.zeros(0, str), {}, ())

    def __len__(self) -> int:
        return len(self.image_index)

    def item(self, idx: int) -> dict:
        """A fresh dict of row ``idx`` (arrays are copies: safe to modify)."""
        row = int(self.image_index[idx])
        out = dict(img_id=int(self.image_ids[row]), img_path=str(self.image_paths[row]), **self.constants)
        for name, col in self.columns.items():
            out[name] = col[idx][None].copy() if name in self.as_1xn else col[idx].item()
        return out

    def take(self, rows: Sequence[int] | np.ndarray) -> "InstanceTable":
        """The table of the given rows, in that order."""
        rows = np.asarray(rows, np.int64)
        return InstanceTable({k: v[rows] for k, v in self.columns.items()}, self.image_index[rows],
                             self.image_ids, self.image_paths, self.constants, self.as_1xn)

    def nbytes(self) -> int:
        """Bytes held by the arrays (the whole sample list)."""
        arrays = [*self.columns.values(), self.image_index, self.image_ids, self.image_paths]
        return int(sum(a.nbytes for a in arrays))
