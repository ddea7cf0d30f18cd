"""Memory requests: the figures a cluster job asks for, from sizes worked out by hand."""

from __future__ import annotations

import pytest

from abgd import memory


def test_feature_matrix_request_covers_the_measured_peak() -> None:
    # The real union: 2.0 M rows × 2669 float32 = 21.35 GB; 1.3 × that + 1.5 GB of libraries.
    assert memory.feature_matrix_mb(2_000_000, 1.3, 2000) == int(1500 + 1.3 * 21_352.0)
    # The demo's 3,272 rows need less than the floor.
    assert memory.feature_matrix_mb(3272, 1.3, 2000) == 2000


@pytest.mark.parametrize(("attempt", "expected"), [(1, 3000), (2, 4500), (3, 6000)])
def test_retries_ask_for_half_as_much_again(attempt: int, expected: int) -> None:
    assert memory.scaled_mb(1000, 3, 2000, attempt) == expected
    assert memory.scaled_mb(10, 3, 2000, attempt) == int(2000 * (1 + 0.5 * (attempt - 1)))
