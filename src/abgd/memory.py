"""How much memory a job asks the scheduler for (library; standard library only).

The workflow's ``resources: mem_mb`` callables (``workflow/rules/common.smk``) call these, so
that a cluster gets a request that grows with the data: the demo asks for the floor, the real
release for what its matrices need. Each retry after a failure (``attempt`` 2, 3, …) asks for
half as much again, in case the first request was short.
"""

from __future__ import annotations

#: Bytes per row of the feature matrix: 2669 float32 features.
FEATURE_ROW_BYTES = 2669 * 4


def _retried(mb: float, attempt: int) -> int:
    return int(mb * (1 + 0.5 * (attempt - 1)))


def scaled_mb(input_mb: float, factor: float, floor_mb: int, attempt: int = 1) -> int:
    """``factor`` × the job's input size, at least ``floor_mb``."""
    return _retried(max(floor_mb, factor * input_mb), attempt)


def feature_matrix_mb(rows: int, factor: float, floor_mb: int, libraries_mb: int = 1500,
                      attempt: int = 1) -> int:
    """A job holding ``rows`` feature rows as one float32 matrix: ``factor`` × the matrix (the
    peak a benchmark measured as a multiple of it) plus the libraries, at least ``floor_mb``."""
    return _retried(max(floor_mb, libraries_mb + factor * rows * FEATURE_ROW_BYTES / 1e6), attempt)
