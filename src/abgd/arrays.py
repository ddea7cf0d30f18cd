"""Read feature rows for a list of MBIDs out of converted Parquet parts, as one float32 matrix.

Why row-group reads: a split's parts hold up to ~14 GB of float32; the caller usually needs a
subset (one source's recordings, or a fit/holdout part) in a specific order. Row groups whose
``mbid`` statistics cannot contain a wanted MBID are skipped unread, the others are read one at a
time, and only their wanted rows are copied, so memory stays at the result plus one row group.

Paths may be Parquet parts or ``.manifest.json`` files from :mod:`abgd.manifest`. A manifest's
part paths are stored as given to the manifest step (relative to the workflow's working
directory); they are tried as written first, then relative to each folder above the manifest.
An MBID held by several parts is taken from the first part that has it (manifest order).
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from abgd.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, N_FEATURES
from abgd.io import read_json
from abgd.tables import numeric_array

PathLike = str | os.PathLike[str]


class FeatureFileError(ValueError):
    """A part is missing, changed since its manifest, or not in the current feature schema."""


def _resolve_manifest(manifest: Path) -> list[Path]:
    data = read_json(manifest)
    if data.get("feature_schema_version") != FEATURE_SCHEMA_VERSION:
        raise FeatureFileError(f"{manifest}: feature schema version "
                               f"{data.get('feature_schema_version')}, expected "
                               f"{FEATURE_SCHEMA_VERSION}")
    parts = []
    for entry in data["parts"]:
        path = Path(entry["path"])
        if not path.is_absolute() and not path.exists():
            # Written relative to the workflow's directory: find it from the manifest's
            # ancestors, so a study can be read from any working directory.
            path = next((folder / path for folder in manifest.resolve().parents
                         if (folder / path).is_file()), manifest.parent / path)
        if not path.is_file():
            raise FeatureFileError(f"{manifest}: part {entry['path']} not found")
        if path.stat().st_size != entry["bytes"]:
            raise FeatureFileError(f"{manifest}: part {path} changed since the manifest was made")
        parts.append(path)
    return parts


def part_paths(manifest_or_parquet_paths: PathLike | Iterable[PathLike]) -> list[Path]:
    """Expand manifests into their parts; keep Parquet paths as they are."""
    if isinstance(manifest_or_parquet_paths, str | os.PathLike):
        manifest_or_parquet_paths = [manifest_or_parquet_paths]
    parts: list[Path] = []
    for item in manifest_or_parquet_paths:
        path = Path(item)
        parts.extend(_resolve_manifest(path) if path.suffix == ".json" else [path])
    return parts


def _open_part(path: Path) -> pq.ParquetFile:
    try:
        handle = pq.ParquetFile(path)
    except (OSError, ValueError) as error:
        raise FeatureFileError(f"{path}: cannot open as Parquet ({error})") from error
    kv = handle.metadata.metadata or {}
    version = kv.get(b"abgd.feature_schema_version", b"?").decode()
    names = handle.schema_arrow.names
    if version != str(FEATURE_SCHEMA_VERSION) or names[0] != "mbid" or \
            tuple(names[1:]) != FEATURE_NAMES:
        raise FeatureFileError(f"{path}: not a feature part of schema v{FEATURE_SCHEMA_VERSION}")
    return handle


def _may_contain(handle: pq.ParquetFile, group: int, sorted_wanted: list[str]) -> bool:
    """Use the row group's min/max MBID statistics, when present, to skip it unread."""
    stats = handle.metadata.row_group(group).column(0).statistics
    if stats is None or not stats.has_min_max:
        return True
    low, high = stats.min, stats.max
    if isinstance(low, bytes):
        low, high = low.decode(), high.decode()
    i = bisect.bisect_left(sorted_wanted, low)
    return i < len(sorted_wanted) and sorted_wanted[i] <= high


#: Feature columns read at once: a slice of a row group (2048 × 256 × 4 bytes = 2 MB), so the
#: reader's own buffers stay small next to the result (benchmarks/bench_dataset.py).
COLUMN_CHUNK = 256


def _copy_rows(handle: pq.ParquetFile, group: int, src: list[int], dst: list[int],
               matrix: np.ndarray) -> None:
    """Copy rows ``src`` of one row group into rows ``dst`` of ``matrix``, a column slice at a
    time; Arrow's freed buffers are handed back at the end (its pool would keep them)."""
    for start in range(0, N_FEATURES, COLUMN_CHUNK):
        names = list(FEATURE_NAMES[start:start + COLUMN_CHUNK])
        table = handle.read_row_group(group, columns=names)
        block = np.empty((len(names), table.num_rows), dtype=np.float32)
        for j, column in enumerate(table.columns):
            block[j] = numeric_array(column)
        matrix[dst, start:start + len(names)] = block[:, src].T
    pa.default_memory_pool().release_unused()


def load_feature_matrix(
    manifest_or_parquet_paths: PathLike | Iterable[PathLike], mbids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows for ``mbids`` in that order: ``(float32 C-contiguous (n, 2669), found mask (n,))``.

    Rows of MBIDs not found are zero. An MBID requested twice fills both rows.
    """
    positions: dict[str, list[int]] = {}
    for i, mbid in enumerate(mbids):
        positions.setdefault(mbid, []).append(i)
    matrix = np.zeros((len(mbids), N_FEATURES), dtype=np.float32)
    found = np.zeros(len(mbids), dtype=bool)
    remaining = set(positions)
    for path in part_paths(manifest_or_parquet_paths):
        if not remaining:
            break
        handle = _open_part(path)
        sorted_wanted = sorted(remaining)
        for group in range(handle.num_row_groups):
            if not remaining or not _may_contain(handle, group, sorted_wanted):
                continue
            ids = handle.read_row_group(group, columns=["mbid"]).column(0).to_pylist()
            src: list[int] = []
            dst: list[int] = []
            for row, mbid in enumerate(ids):
                if mbid in remaining:
                    remaining.discard(mbid)
                    for position in positions[mbid]:
                        src.append(row)
                        dst.append(position)
            if src:
                _copy_rows(handle, group, src, dst, matrix)
                found[dst] = True
    return matrix, found


def feature_mbids(manifest_or_parquet_paths: PathLike | Iterable[PathLike]) -> list[str]:
    """The MBIDs present, in part order, each once; reads only the ``mbid`` column."""
    seen: dict[str, None] = {}
    for path in part_paths(manifest_or_parquet_paths):
        column = _open_part(path).read(columns=["mbid"]).column("mbid")
        seen.update(dict.fromkeys(column.to_pylist()))
    return list(seen)
