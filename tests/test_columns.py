"""abgd.columns: Arrow arrays from their buffers equal pyarrow's own, without importing pandas."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pyarrow as pa

from abgd import columns


def test_float32_columns_equal_pyarrow_arrays():
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((5, 7)).astype(np.float32)
    matrix[2, 3] = np.inf  # the bytes go through unchanged, whatever they hold
    got = columns.float32_columns(matrix)
    assert len(got) == 7
    for j, array in enumerate(got):
        assert array.type == pa.float32() and array.null_count == 0
        assert array.equals(pa.array(matrix[:, j], type=pa.float32()))
    assert columns.float32_columns(matrix[:0])[0].equals(pa.array([], type=pa.float32()))


def test_string_and_int32_arrays_equal_pyarrow_arrays():
    values = ["0123abcd-0000-4000-8000-00000000abcd", "", "Beyoncé", "多"]
    assert columns.string_array(values).equals(pa.array(values, type=pa.string()))
    assert columns.string_array([]).equals(pa.array([], type=pa.string()))
    assert columns.int32_array([0, 3, -1]).equals(pa.array([0, 3, -1], type=pa.int32()))


def test_building_a_table_does_not_import_pandas():
    code = ("import sys, numpy as np, pyarrow as pa; from abgd import columns; "
            "a = [columns.string_array(['x']), columns.int32_array([1]), "
            "*columns.float32_columns(np.zeros((1, 2)))]; "
            "pa.RecordBatch.from_arrays(a, names=['m', 's', 'a', 'b']); "
            "print('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
