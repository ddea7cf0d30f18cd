"""Score tables: the ``mbid`` + one float32 column per label Parquet that models write.

Read by decoding, threshold fitting, evaluation and ``abgd score``; written by ``predict`` and
``abgd tag``. A library module so that entry points need not import one another.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from abgd.io import atomic_path
from abgd.tables import float32_columns, numeric_array, read_parquet, string_array


def read_scores(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``(mbids, labels, float32 matrix)`` from a score Parquet, refusing NaN and duplicate IDs."""
    table = read_parquet(path)
    names = table.column_names
    if not names or names[0] != "mbid":
        raise ValueError(f"{path}: first column must be 'mbid', found {names[:3]}")
    ids = np.asarray(table.column("mbid").to_pylist(), dtype=object)
    labels = names[1:]
    if table.num_rows:
        scores = np.column_stack(
            [numeric_array(table.column(name)).astype(np.float32, copy=False) for name in labels]
        ) if labels else np.zeros((table.num_rows, 0), dtype=np.float32)
    else:
        scores = np.zeros((0, len(labels)), dtype=np.float32)
    if len(set(ids.tolist())) != len(ids):
        seen: set[str] = set()
        dup = [i for i in ids.tolist() if i in seen or seen.add(i)]
        raise ValueError(f"{path}: duplicate mbid {dup[0]!r}")
    bad = np.isnan(scores)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"{path}: NaN score for mbid {ids[row]!r}, label {labels[col]!r}")
    return ids, labels, scores


def write_scores(path: str | os.PathLike[str], mbids: Sequence[str], labels: Sequence[str],
                 scores: np.ndarray) -> None:
    """One ``mbid`` column, then one float32 column per label, written atomically."""
    columns = [string_array(list(mbids)), *float32_columns(scores)]
    table = pa.Table.from_arrays(columns, names=["mbid", *labels])
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
