"""abgd.tables against pyarrow's own readers and builders, and the imports it must not make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abgd import tables

SRC = str(Path(tables.__file__).resolve().parents[1])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(width=32, allow_nan=False), max_size=6), min_size=1,
                max_size=4), st.integers(0, 3), st.sampled_from(["float32", "float64", "int64"]))
def test_numeric_array_equals_to_numpy(chunks: list[list[float]], cut: int, kind: str) -> None:
    arrow_type = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64()}[kind]
    values = [[int(v) if kind == "int64" and abs(v) < 2**62 else (0 if kind == "int64" else v)
               for v in chunk] for chunk in chunks]
    column = pa.chunked_array([pa.array(c, arrow_type) for c in values], type=arrow_type)
    column = column.slice(min(cut, len(column)))  # offsets inside the first chunk
    ours = tables.numeric_array(column)
    assert ours.dtype == np.dtype(kind)
    np.testing.assert_array_equal(ours, column.to_numpy())


def test_numeric_array_nulls() -> None:
    column = pa.chunked_array([pa.array([9.0, 1.0, None, 2.0, None], pa.float32())]).slice(1)
    np.testing.assert_array_equal(tables.numeric_array(column), column.to_numpy())
    with pytest.raises(ValueError, match="1 null"):
        tables.numeric_array(pa.array([1, None]))


def test_numeric_array_refuses_text() -> None:
    with pytest.raises(TypeError, match="not a numeric column"):
        tables.numeric_array(pa.array(["a"]))


def test_read_parquet_equals_read_table(tmp_path: Path) -> None:
    table = pa.table({"mbid": ["a", "b"], "x": pa.array([1.0, 2.0], pa.float32())})
    table = table.replace_schema_metadata({b"abgd.k": b"v"})
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=1)
    for columns in (None, ["x"]):
        ours, theirs = tables.read_parquet(path, columns), pq.read_table(path, columns=columns)
        assert ours.equals(theirs) and ours.schema.equals(theirs.schema, check_metadata=True)


PROBE = """
import sys
import numpy as np
from abgd import labels, metrics, scores
path = sys.argv[1]
scores.write_scores(path, ["b", "a"], ["rock", "pop"], np.ones((2, 2), dtype=np.float32))
ids, names, matrix = scores.read_scores(path)
metrics.align_ids(["a", "b"], list(ids))
labels.label_matrix_strict([["rock"], ["pop", "rock"]], names)
print(" ".join(sorted({"pandas", "sklearn", "pyarrow.dataset"} & set(sys.modules))) or "-")
"""


def test_score_files_round_trip_without_pandas(tmp_path: Path) -> None:
    """What every short job does (read and write scores, align IDs, build label matrices)
    loads neither pandas nor scikit-learn: each would cost the job 0.2-0.8 s to start."""
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "s.parquet")],
                          capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})
    assert done.stdout.strip() == "-"


def test_float32_columns_equal_pyarrow_arrays():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((5, 7)).astype(np.float32)
    matrix[2, 3] = np.inf  # the bytes go through unchanged, whatever they hold
    got = tables.float32_columns(matrix)
    assert len(got) == 7
    for j, array in enumerate(got):
        assert array.type == pa.float32() and array.null_count == 0
        assert array.equals(pa.array(matrix[:, j], type=pa.float32()))
    assert tables.float32_columns(matrix[:0])[0].equals(pa.array([], type=pa.float32()))


def test_column_arrays_take_the_filled_part_of_each_buffer_row():
    rng = np.random.default_rng(1)
    buffer = rng.standard_normal((4, 10)).astype(np.float32)  # 4 columns, room for 10 rows
    got = tables.column_arrays(buffer, 6)
    assert len(got) == 4
    for j, array in enumerate(got):
        assert array.equals(pa.array(buffer[j, :6], type=pa.float32()))
    assert [len(a) for a in tables.column_arrays(buffer, 0)] == [0] * 4
    with pytest.raises(ValueError, match="do not fit"):
        tables.column_arrays(buffer, 11)
    with pytest.raises(ValueError, match="C-contiguous"):
        tables.column_arrays(buffer.T, 2)


def test_string_and_int32_arrays_equal_pyarrow_arrays():
    values = ["0123abcd-0000-4000-8000-00000000abcd", "", "Beyoncé", "多"]
    assert tables.string_array(values).equals(pa.array(values, type=pa.string()))
    assert tables.string_array([]).equals(pa.array([], type=pa.string()))
    assert tables.int32_array([0, 3, -1]).equals(pa.array([0, 3, -1], type=pa.int32()))


def test_building_a_table_does_not_import_pandas():
    code = ("import sys, numpy as np, pyarrow as pa; from abgd import tables; "
            "a = [tables.string_array(['x']), tables.int32_array([1]), "
            "*tables.float32_columns(np.zeros((1, 2)))]; "
            "pa.RecordBatch.from_arrays(a, names=['m', 's', 'a', 'b']); "
            "print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_steps_read_parquet_through_tables() -> None:
    """``pq.read_table`` would bring pandas back into every short job (through pyarrow.dataset)."""
    package = Path(tables.__file__).parent
    users = [str(p.relative_to(package)) for p in package.rglob("*.py")
             if p.name != "tables.py" and "pq.read_table(" in p.read_text()]
    assert users == []
