"""Model inputs read from the study's files: features, embeddings, targets, recording lists.

Torch-free on purpose: the LightGBM jobs need exactly these readers and nothing of PyTorch or
Lightning, whose imports cost seconds per job. Every step that reads model inputs, network or
LightGBM, imports them from here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from abgd.tables import read_parquet


def check_finite(x: np.ndarray, names: Sequence[str], what: str, chunk_rows: int = 8192) -> None:
    """Fail on NaN/inf, naming the first offending records: they would poison the scaler."""
    bad: list[str] = []
    for start in range(0, x.shape[0], chunk_rows):
        rows = ~np.isfinite(x[start:start + chunk_rows]).all(axis=1)
        bad += [names[start + i] for i in np.flatnonzero(rows)]
    if bad:
        raise ValueError(f"{what}: {len(bad)} rows with NaN or infinite values, e.g. {bad[:5]}")


def read_matrix(paths: Sequence[str | os.PathLike[str]], mbids: Sequence[str],
                batch_rows: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Float32 rows of the ``mbid``-keyed Parquet files, in the order of ``mbids``.

    Streams record batches so only the requested rows are ever held; the first part holding
    an MBID wins. Returns the matrix and a boolean found-mask.
    """
    where = {mbid: i for i, mbid in enumerate(mbids)}
    if len(where) != len(mbids):
        raise ValueError("requested MBIDs contain duplicates")
    out: np.ndarray | None = None
    found = np.zeros(len(mbids), dtype=bool)
    for path in paths:
        handle = pq.ParquetFile(path)
        names = handle.schema_arrow.names
        if "mbid" not in names:
            raise ValueError(f"{path}: no 'mbid' column")
        columns = [n for n in names if n != "mbid"]
        if out is None:
            out = np.zeros((len(mbids), len(columns)), dtype=np.float32)
        elif len(columns) != out.shape[1]:
            raise ValueError(f"{path}: {len(columns)} value columns, expected {out.shape[1]}")
        for batch in handle.iter_batches(batch_size=batch_rows):
            keys = batch.column("mbid").to_pylist()
            hits = [(j, where[k]) for j, k in enumerate(keys) if k in where and not found[where[k]]]
            if not hits:
                continue
            src = np.fromiter((j for j, _ in hits), dtype=np.int64, count=len(hits))
            dst = np.fromiter((i for _, i in hits), dtype=np.int64, count=len(hits))
            taken = batch.take(src)
            out[dst] = np.column_stack([
                taken.column(c).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
                for c in columns])
            found[dst] = True
    if out is None:
        raise ValueError("no Parquet input given")
    return out, found


def read_features(paths: Sequence[str | os.PathLike[str]], mbids: Sequence[str],
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows for ``mbids`` (Parquet parts or manifests) and the found-mask."""
    from abgd.arrays import load_feature_matrix

    return load_feature_matrix([str(p) for p in paths], list(mbids))


def read_embeddings(paths: Sequence[str | os.PathLike[str]], mbids: Sequence[str],
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the embeddings of each file (same width each) for ``mbids``.

    The found-mask is the rows present in *every* file.
    """
    blocks, found = [], np.ones(len(mbids), dtype=bool)
    for path in paths:
        block, hit = read_matrix([path], mbids)
        if blocks and block.shape[1] != blocks[0].shape[1]:
            raise ValueError(f"{path}: width {block.shape[1]}, expected {blocks[0].shape[1]}")
        blocks.append(block)
        found &= hit
    return np.concatenate(blocks, axis=1), found


def require_found(found: np.ndarray, mbids: Sequence[str], what: str) -> None:
    """Fail naming how many and which records lack inputs: nothing is dropped silently."""
    missing = [mbids[i] for i in np.flatnonzero(~found)]
    if missing:
        raise ValueError(f"{len(missing)} of {len(mbids)} recordings have no {what}, "
                         f"e.g. {missing[:5]} (restrict the ground truth to recordings with "
                         f"{what} first)")


def select_mbids(groundtruth: str | os.PathLike[str], split: str | None = None,
                 part: str | None = None) -> list[str]:
    """Sorted MBIDs of the ground truth, optionally only those in ``part`` of ``split``."""
    mbids = read_parquet(groundtruth, columns=["mbid"]).column("mbid").to_pylist()
    if len(set(mbids)) != len(mbids):
        raise ValueError(f"{groundtruth}: duplicate MBIDs")
    if split is not None:
        from abgd.partition import read_split_tsv

        table = read_split_tsv(split)
        chosen = set(table.loc[table["part"] == part, "mbid"])
        mbids = [m for m in mbids if m in chosen]
    return sorted(mbids)


@dataclass
class TrainingSet:
    mbids: list[str]
    y: np.ndarray  # uint8, rows × labels
    fit_rows: np.ndarray
    holdout_rows: np.ndarray
    labels: list[str]
    outside_labels: dict[str, int]


def training_set(groundtruth: str | os.PathLike[str], split: str | os.PathLike[str],
                 split_summary: str | os.PathLike[str]) -> TrainingSet:
    """The split's recordings in MBID order with their targets over the model's labels.

    Labels the split step removed are left out of the targets (counted in ``outside_labels``);
    a split recording missing from the ground truth is an error.
    """
    from abgd.io import read_json
    from abgd.labels import label_matrix_lenient, read_groundtruth_parquet
    from abgd.partition import read_split_tsv

    labels = list(read_json(split_summary)["labels"])
    if labels != sorted(labels) or len(set(labels)) != len(labels):
        raise ValueError(f"{split_summary}: 'labels' must be sorted and unique")
    parts = read_split_tsv(split).sort_values("mbid", kind="stable")
    truth = read_groundtruth_parquet(groundtruth)
    by_mbid = dict(zip(truth["mbid"], truth["labels"], strict=True))
    mbids = list(parts["mbid"])
    absent = [m for m in mbids if m not in by_mbid]
    if absent:
        raise ValueError(f"{split}: {len(absent)} recordings are not in {groundtruth}, "
                         f"e.g. {absent[:5]}")
    matrix, outside = label_matrix_lenient((by_mbid[m] for m in mbids), labels)
    part = parts["part"].to_numpy()
    return TrainingSet(mbids=mbids, y=matrix.toarray().astype(np.uint8),
                       fit_rows=np.flatnonzero(part == "fit"),
                       holdout_rows=np.flatnonzero(part == "holdout"),
                       labels=labels, outside_labels=outside)
