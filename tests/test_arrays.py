"""load_feature_matrix / feature_mbids on parts written here directly with pyarrow.

Each stored value encodes its row and column (``row * 10_000 + column``, exact in float32 for the
sizes used), so the expected matrix is computed by arithmetic, not by the reader.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abgd import arrays as A
from abgd.features import FEATURE_NAMES, N_FEATURES
from abgd.io import write_json


def mbid(i: int) -> str:
    return str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15_0000_0001) % (1 << 128)))


def code(row: int) -> np.ndarray:
    return (row * 10_000 + np.arange(N_FEATURES)).astype(np.float32)


def write_part(path: Path, rows: list[int], row_group_size: int, version: str = "1") -> Path:
    matrix = np.stack([code(r) for r in rows])
    arrays = [pa.array([mbid(r) for r in rows])]
    arrays += [pa.array(matrix[:, j]) for j in range(N_FEATURES)]
    schema = pa.schema([pa.field("mbid", pa.string())]
                       + [pa.field(n, pa.float32()) for n in FEATURE_NAMES])
    table = pa.Table.from_arrays(arrays, schema=schema).replace_schema_metadata(
        {"abgd.feature_schema_version": version})
    pq.write_table(table, path, row_group_size=row_group_size, use_dictionary=False,
                   write_statistics=["mbid"])
    return path


@pytest.fixture(scope="module")
def parts(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("parts")
    a = write_part(folder / "a.parquet", list(range(0, 23)), row_group_size=4)
    b = write_part(folder / "b.parquet", list(range(20, 31)), row_group_size=5)  # 20–22 again
    return a, b


def test_rows_come_back_in_the_requested_order(parts):
    wanted = [mbid(7), mbid(30), "not-there", mbid(0), mbid(21), mbid(7)]
    matrix, found = A.load_feature_matrix(list(parts), wanted)
    assert matrix.dtype == np.float32 and matrix.flags.c_contiguous
    assert matrix.shape == (6, 2669)
    assert found.tolist() == [True, True, False, True, True, True]
    for i, r in enumerate([7, 30, None, 0, 21, 7]):
        expected = np.zeros(N_FEATURES, np.float32) if r is None else code(r)
        np.testing.assert_array_equal(matrix[i], expected)


def test_empty_request(parts):
    matrix, found = A.load_feature_matrix(parts[0], [])
    assert matrix.shape == (0, 2669) and found.shape == (0,)


def test_manifest_paths_resolve_and_first_part_wins(parts, tmp_path, monkeypatch):
    a, b = parts
    manifest = tmp_path / "split.manifest.json"
    write_json(manifest, {"feature_schema_version": 1, "parts": [
        {"path": str(b), "bytes": b.stat().st_size},
        {"path": a.name, "bytes": a.stat().st_size},  # relative to the manifest's folder
    ]})
    (tmp_path / a.name).write_bytes(a.read_bytes())
    monkeypatch.chdir(tmp_path.parent)
    assert A.part_paths(manifest) == [b, tmp_path / a.name]
    ids = A.feature_mbids(manifest)
    assert ids == [mbid(r) for r in [*range(20, 31), *range(0, 20)]]
    matrix, found = A.load_feature_matrix(manifest, [mbid(22), mbid(3)])
    assert found.all()
    np.testing.assert_array_equal(matrix, np.stack([code(22), code(3)]))


def test_manifest_detects_a_changed_part(parts, tmp_path):
    manifest = tmp_path / "m.manifest.json"
    manifest.write_text(json.dumps({"feature_schema_version": 1, "parts": [
        {"path": str(parts[0]), "bytes": 12}]}))
    with pytest.raises(A.FeatureFileError, match="changed"):
        A.load_feature_matrix(manifest, [mbid(1)])


def test_wrong_schema_version_is_refused(tmp_path):
    old = write_part(tmp_path / "old.parquet", [1, 2], row_group_size=2, version="0")
    with pytest.raises(A.FeatureFileError, match="schema"):
        A.load_feature_matrix(old, [mbid(1)])


def test_feature_mbids_reads_each_once(parts):
    assert A.feature_mbids(list(parts)) == [mbid(r) for r in range(31)]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(min_value=-5, max_value=40), max_size=30))
def test_any_request_matches_brute_force(parts, rows):
    wanted = [mbid(r) if r >= 0 else f"missing-{r}" for r in rows]
    matrix, found = A.load_feature_matrix(list(parts), wanted)
    for i, r in enumerate(rows):
        present = 0 <= r <= 30
        assert found[i] == present
        np.testing.assert_array_equal(
            matrix[i], code(r) if present else np.zeros(N_FEATURES, np.float32))
