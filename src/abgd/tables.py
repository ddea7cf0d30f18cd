"""Parquet tables and Arrow columns read and built without the imports pyarrow would make.

Most jobs of a study are short (an evaluation, a decoding, a threshold fit read a few MB and
finish in a fraction of a second), so a library import paid at every job start shows up in the
study's total: ``pq.read_table`` goes through ``pyarrow.dataset``, and pyarrow's ``to_numpy``
and ``pa.array`` import pandas on their first call (0.2-0.5 s, to ask whether the input is a
pandas object), for jobs that never use pandas. ``pa.array`` also asks that question again at
every call, thousands of times per batch of a 2669-column (or 700-label) table. The functions
here read and wrap the bytes that are already there: the tables and arrays are the same (the
built columns have no validity bitmap: they hold no nulls).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa


def read_parquet(path: str | os.PathLike[str], columns: list[str] | None = None) -> pa.Table:
    """One Parquet file as a table (the same as ``pq.read_table``'s, schema metadata included)."""
    import pyarrow.parquet as pq

    with pq.ParquetFile(path) as handle:
        return handle.read(columns=columns)


def _numpy_type(arrow_type: pa.DataType) -> np.dtype:
    import pyarrow as pa

    if pa.types.is_floating(arrow_type) or pa.types.is_integer(arrow_type):
        kind = "f" if pa.types.is_floating(arrow_type) else (
            "i" if pa.types.is_signed_integer(arrow_type) else "u")
        return np.dtype(f"<{kind}{arrow_type.bit_width // 8}")
    raise TypeError(f"not a numeric column: {arrow_type}")


def numeric_array(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A numeric column as a NumPy array (read-only when it is one chunk without nulls).

    Nulls of a float column become NaN, as with ``to_numpy`` (pandas writes NaN as null), so
    that the caller's NaN check names them; an integer column with nulls is refused.
    """
    import pyarrow as pa

    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    dtype = _numpy_type(column.type)
    parts = []
    for chunk in chunks:
        validity, data = chunk.buffers()[:2]
        values = np.frombuffer(data, dtype=dtype, count=len(chunk),
                               offset=chunk.offset * dtype.itemsize)
        if chunk.null_count:
            if dtype.kind != "f":
                raise ValueError(f"integer column has {chunk.null_count} null value(s)")
            bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), bitorder="little")
            values = values.copy()
            values[bits[chunk.offset:chunk.offset + len(chunk)] == 0] = np.nan
        parts.append(values)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def float32_columns(matrix: np.ndarray) -> list[pa.Array]:
    """One float32 array per column of a (rows × columns) matrix (copied once, transposed)."""
    columns = np.ascontiguousarray(np.asarray(matrix, dtype=np.float32).T)
    return column_arrays(columns, columns.shape[1])


def column_arrays(columns: np.ndarray, rows: int) -> list[pa.Array]:
    """One float32 array per row of a C-contiguous (columns × capacity) float32 buffer: its
    first ``rows`` values, without a copy (the arrays keep ``columns`` alive).

    A writer that fills such a buffer batch after batch hands Parquet whole row groups: at a
    thousand or more columns the per-column-chunk cost of small row groups exceeds the
    encoding itself.
    """
    import pyarrow as pa

    if columns.dtype != np.float32 or not columns.flags.c_contiguous or columns.ndim != 2:
        raise ValueError("expected a C-contiguous 2-d float32 buffer")
    if not 0 <= rows <= columns.shape[1]:
        raise ValueError(f"{rows} rows do not fit a buffer of {columns.shape[1]}")
    buffer = pa.py_buffer(columns)
    stride, width = columns.shape[1] * 4, rows * 4
    return [pa.Array.from_buffers(pa.float32(), rows, [None, buffer.slice(j * stride, width)])
            for j in range(columns.shape[0])]


def string_array(values: Sequence[str]) -> pa.Array:
    """A string array of ``values`` (UTF-8, 32-bit offsets)."""
    import pyarrow as pa

    encoded = [value.encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = b"".join(encoded)
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def int32_array(values: Sequence[int]) -> pa.Array:
    import pyarrow as pa

    return pa.Array.from_buffers(pa.int32(), len(values),
                                 [None, pa.py_buffer(np.asarray(values, dtype=np.int32))])
