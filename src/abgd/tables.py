"""Parquet reading for short jobs, without the imports that cost more than the job's work.

Most jobs of a study are short (an evaluation, a decoding, a threshold fit read a few MB and
finish in a fraction of a second), so a library import paid at every job start shows up in the
study's total: ``pq.read_table`` goes through ``pyarrow.dataset``, and pyarrow's ``to_numpy``
imports pandas on its first call, about 0.2 s either way for jobs that never use pandas.
The readers here return the same values from the file's row groups and the arrays' buffers.
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


def string_array(values: Sequence[str]) -> pa.Array:
    """An Arrow ``string`` array built from its buffers (``pa.array`` imports pandas)."""
    import pyarrow as pa

    encoded = [value.encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(value) for value in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def float32_array(values: np.ndarray) -> pa.Array:
    """An Arrow ``float`` array holding a copy of a 1-d array's values as float32."""
    import pyarrow as pa

    data = np.ascontiguousarray(values, dtype=np.float32)
    if data.ndim != 1:
        raise ValueError(f"expected a 1-d array, got shape {data.shape}")
    if data is values:
        data = data.copy()  # the Arrow array must not change with the caller's array
    return pa.Array.from_buffers(pa.float32(), len(data), [None, pa.py_buffer(data)])
