"""Arrow arrays built straight from their buffers, for the writers of wide tables.

Why not ``pyarrow.array``: its first call imports pandas (0.3-0.5 s, to ask whether the input
is a pandas object), which a conversion or tagging job pays once, at its first write, and each
later call spends microseconds on the same question, thousands of times per batch of a
2669-column (or 700-label) table. Wrapping the bytes that are already there costs neither; the
arrays are the same (no validity bitmap: these columns hold no nulls).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def float32_columns(matrix: np.ndarray) -> list[pa.Array]:
    """One float32 array per column of a (rows × columns) matrix (copied once, transposed)."""
    columns = np.ascontiguousarray(np.asarray(matrix, dtype=np.float32).T)
    rows = columns.shape[1]
    buffer = pa.py_buffer(columns)  # keeps ``columns`` alive as long as any array uses it
    width = rows * 4
    return [pa.Array.from_buffers(pa.float32(), rows, [None, buffer.slice(j * width, width)])
            for j in range(columns.shape[0])]


def string_array(values: Sequence[str]) -> pa.Array:
    """A string array of ``values`` (UTF-8, 32-bit offsets)."""
    encoded = [value.encode("utf-8") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = b"".join(encoded)
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def int32_array(values: Sequence[int]) -> pa.Array:
    return pa.Array.from_buffers(pa.int32(), len(values),
                                 [None, pa.py_buffer(np.asarray(values, dtype=np.int32))])
