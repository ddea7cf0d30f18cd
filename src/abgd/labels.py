"""Genre labels and ground-truth tables: the one place that knows the TSV and Parquet layouts.

The official TSVs (``recordingmbid  releasegroupmbid  genre1..genreN``) pad short rows with
empty TAB fields, label names contain spaces, commas, ``&``, ``/`` and ``'``, and a subgenre is
written ``parent---name``. Ground-truth files are read and written only through this module, so
that these rules (padding dropped, labels sorted per row, MBIDs validated, duplicates refused)
hold everywhere, and it is the one vocabulary of labels: the subgenre separator, genre or
subgenre, parent, and the two label matrices (lenient for targets, strict for evaluation).

Decisions:

* A row without any label is an error listing every such row (file, line, MBID). The official
  data promise at least one genre per recording, so an empty row means a broken file; keeping it
  would create an all-zero target, dropping it would lose a recording silently.
* A label repeated within one row is kept once; the repeats are counted and logged (they carry
  no information, but the reader says it saw them).
* Label matrices are ``scipy.sparse.csr_matrix`` of ``uint8``: AllMusic train is 1.35 M rows by
  766 labels with about 4.5 labels per row, 1 GB dense but about 30 MB sparse. Call
  ``.toarray()`` on a batch of rows where a dense block is needed.
"""

from __future__ import annotations

import bz2
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from abgd.io import atomic_open, atomic_path
from abgd.tables import read_parquet

if TYPE_CHECKING:  # pandas, pyarrow and scipy load in the functions that use them: the
    import pandas as pd  # vocabulary also serves steps that read no table and build no matrix
    import pyarrow as pa
    from scipy import sparse

LOG = logging.getLogger("abgd.labels")

SUBGENRE_SEP = "---"
HEADER_FIRST = ("recordingmbid", "releasegroupmbid")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MAX_LISTED = 20
_MAX_QUOTED = 5


def groundtruth_schema() -> pa.Schema:
    """The data-contract Parquet schema: ``mbid``, ``release_group``, ``labels`` list<string>."""
    import pyarrow as pa

    return pa.schema([("mbid", pa.string()), ("release_group", pa.string()),
                      ("labels", pa.list_(pa.string()))])


def is_subgenre(label: str) -> bool:
    """A subgenre is any label containing ``---`` (the rule of the official ``eval.R``)."""
    return SUBGENRE_SEP in label


def parent(label: str) -> str | None:
    """The parent genre of a subgenre (text before the first ``---``); ``None`` for a genre."""
    if not is_subgenre(label):
        return None
    return label.split(SUBGENRE_SEP, 1)[0]


def subgenre_mask(labels: Sequence[str]) -> np.ndarray:
    """Boolean per label: True for a subgenre."""
    return np.fromiter((is_subgenre(label) for label in labels), dtype=bool, count=len(labels))


def genres(labels: Iterable[str]) -> list[str]:
    return [label for label in labels if not is_subgenre(label)]


def subgenres(labels: Iterable[str]) -> list[str]:
    return [label for label in labels if is_subgenre(label)]


def orphan_subgenres(labels: Iterable[str]) -> list[str]:
    """Subgenres of one recording whose parent genre is not among that recording's labels.

    The taxonomy promises parents alongside subgenres; orphans reveal a broken or filtered
    file, and a decoder that adds parents would change such rows.
    """
    labels = list(labels)
    present = set(labels)
    return sorted({lab for lab in labels if is_subgenre(lab) and parent(lab) not in present})


def vocabulary(label_lists: Iterable[Iterable[str]]) -> list[str]:
    """Sorted unique labels with Python's string order, as the authors' label matrices use.

    (So ``blues`` < ``blues---acoustic blues`` because ``-`` sorts before letters.)
    """
    seen: set[str] = set()
    for labels in label_lists:
        seen.update(labels)
    return sorted(seen)


def label_matrix_lenient(
    label_lists: Iterable[Iterable[str]], vocab: Sequence[str]
) -> tuple[sparse.csr_matrix, dict[str, int]]:
    """Multi-hot targets (rows = recordings, columns = ``vocab``) and the labels left out.

    Lenient, for training targets and plots: a label outside ``vocab`` is counted and left out,
    a label repeated within a row is set once (``label_matrix_strict`` refuses both). Returns
    ``(matrix, outside)`` where ``outside`` maps each label not in ``vocab`` to the number of
    recordings carrying it: the caller decides whether that is fatal, but it is never lost
    without a trace.
    """
    from scipy import sparse

    index = {label: i for i, label in enumerate(vocab)}
    if len(index) != len(vocab):
        raise ValueError("vocabulary contains duplicate labels")
    indptr = [0]
    indices: list[int] = []
    outside: Counter[str] = Counter()
    for labels in label_lists:
        columns = set()
        for label in labels:
            col = index.get(label)
            if col is None:
                outside[label] += 1
            else:
                columns.add(col)
        indices.extend(sorted(columns))
        indptr.append(len(indices))
    n_rows = len(indptr) - 1
    matrix = sparse.csr_matrix(
        (
            np.ones(len(indices), dtype=np.uint8),
            np.asarray(indices, dtype=np.int32),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(n_rows, len(vocab)),
    )
    return matrix, dict(sorted(outside.items()))


def quoted_listing(items: Sequence[str], limit: int = _MAX_QUOTED) -> str:
    """``'a', 'b' and 3 more``: the first items of a list for an error message."""
    shown = ", ".join(repr(item) for item in list(items)[:limit])
    more = len(items) - limit
    return shown + (f" and {more} more" if more > 0 else "")


def label_matrix_strict(
    label_lists: Sequence[Sequence[str]], labels: Sequence[str], ids: Sequence[str] | None = None,
    what: str = "labels",
) -> sparse.csr_matrix:
    """Binary CSR matrix (recordings × ``labels``) from label lists, without a per-row loop.

    Strict, for evaluation and runs: a label repeated within one recording is an error (check.R
    forbids it, and eval.R would count it twice in ``|P|``); a label outside ``labels`` is an
    error too (``label_matrix_lenient`` counts and drops it instead).
    """
    from scipy import sparse

    # A dict lookup, not pandas.Index.get_indexer: every evaluate job builds this matrix, and
    # importing pandas would cost it more than the lookup does.
    index = {label: i for i, label in enumerate(labels)}
    if len(index) != len(labels):
        raise ValueError("vocabulary contains duplicate labels")
    lengths = np.fromiter((len(row) for row in label_lists), dtype=np.int64,
                          count=len(label_lists))
    total = int(lengths.sum())
    flat = np.fromiter(chain.from_iterable(label_lists), dtype=object, count=total)
    cols = np.fromiter((index.get(label, -1) for label in flat), dtype=np.int64, count=total)
    rows = np.repeat(np.arange(len(label_lists)), lengths)
    if (cols < 0).any():
        unknown = sorted(set(flat[cols < 0].tolist()))
        raise ValueError(f"{what}: labels outside the label index: {quoted_listing(unknown)}")
    matrix = sparse.csr_matrix(
        (np.ones(len(cols), dtype=np.int32), (rows, cols)), shape=(len(label_lists), len(labels))
    )
    matrix.sum_duplicates()
    if matrix.nnz and matrix.data.max() > 1:
        bad_rows = np.unique(np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))[
            matrix.data > 1])
        names = [str(ids[r]) if ids is not None else f"row {r}" for r in bad_rows]
        raise ValueError(f"{what}: a label is repeated within recording(s) "
                         f"{quoted_listing(names)}")
    matrix.data[:] = 1
    return matrix


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _lines(handle: IO[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(handle, start=1):
        yield number, line.rstrip("\r\n")


def _listing(items: Sequence[str]) -> str:
    shown = "; ".join(items[:_MAX_LISTED])
    more = len(items) - _MAX_LISTED
    return shown + (f"; … and {more} more" if more > 0 else "")


def read_groundtruth_tsv(path: str | os.PathLike[str], header: bool = True) -> pd.DataFrame:
    """Read one official ground-truth TSV (plain or ``.bz2``) into ``mbid, release_group, labels``.

    ``header=False`` reads files without the header line (the excerpts in ``shared/data``).
    Padding fields (empty or blank) are dropped and each row's labels are sorted and unique.
    Errors name the file and the line: a line with fewer than 2 fields, an MBID or release
    group that is not a lowercase UUID, an MBID seen twice (both lines), rows without labels.
    """

    path = Path(path)
    mbids: list[str] = []
    groups: list[str] = []
    label_lists: list[list[str]] = []
    first_line: dict[str, int] = {}
    duplicates: list[str] = []
    empty_rows: list[str] = []
    repeated = 0
    with _open_text(path) as handle:
        lines = _lines(handle)
        if header:
            number, line = next(lines, (0, ""))
            fields = tuple(line.split("\t")[:2])
            if fields != HEADER_FIRST:
                raise ValueError(
                    f"{path}: line 1 should be the header starting "
                    f"'recordingmbid<TAB>releasegroupmbid', found {line[:80]!r} "
                    "(use header=False / --no-header for files without one)"
                )
        for number, line in lines:
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise ValueError(f"{path}: line {number}: expected at least 2 TAB-separated "
                                 f"fields, found {len(fields)}: {line[:80]!r}")
            mbid, group = fields[0].strip(), fields[1].strip()
            for what, value in (("recording MBID", mbid), ("release-group MBID", group)):
                if not UUID_RE.fullmatch(value):
                    raise ValueError(f"{path}: line {number}: {what} {value!r} is not a "
                                     "lowercase UUID")
            if mbid in first_line:
                duplicates.append(f"{mbid} (lines {first_line[mbid]} and {number})")
                continue
            first_line[mbid] = number
            raw = [field for field in fields[2:] if field.strip()]
            unique = sorted(set(raw))
            repeated += len(raw) - len(unique)
            if not unique:
                empty_rows.append(f"line {number} {mbid}")
            mbids.append(mbid)
            groups.append(group)
            label_lists.append(unique)
    if duplicates:
        raise ValueError(f"{path}: {len(duplicates)} duplicate recording MBID(s): "
                         f"{_listing(duplicates)}")
    if empty_rows:
        raise ValueError(f"{path}: {len(empty_rows)} row(s) without any label: "
                         f"{_listing(empty_rows)}")
    if repeated:
        LOG.warning("%s: %d repeated label(s) within rows kept once", path, repeated)
    return make_groundtruth(mbids, groups, label_lists)


def make_groundtruth(
    mbids: Sequence[str], release_groups: Sequence[str], label_lists: Sequence[Sequence[str]]
) -> pd.DataFrame:
    """Assemble the ground-truth frame with object columns (lists stay Python lists)."""
    import pandas as pd

    return pd.DataFrame(
        {
            "mbid": pd.Series(list(mbids), dtype=object),
            "release_group": pd.Series(list(release_groups), dtype=object),
            "labels": pd.Series([list(labels) for labels in label_lists], dtype=object),
        }
    )


def write_groundtruth_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the data-contract Parquet (``mbid``, ``release_group``, ``labels`` list<string>)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "mbid": pa.array(list(frame["mbid"]), type=pa.string()),
            "release_group": pa.array(list(frame["release_group"]), type=pa.string()),
            "labels": pa.array([list(x) for x in frame["labels"]], type=pa.list_(pa.string())),
        },
        schema=groundtruth_schema(),
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_groundtruth_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ground-truth Parquet back into the same frame shape as ``read_groundtruth_tsv``."""

    table = read_parquet(path, columns=["mbid", "release_group", "labels"])
    return make_groundtruth(
        table.column("mbid").to_pylist(),
        table.column("release_group").to_pylist(),
        [list(x or []) for x in table.column("labels").to_pylist()],
    )


def write_groundtruth_tsv(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write the official TSV layout (header ``genre1..genreN``, rows padded with TABs).

    Used to hand ground truth to evaluation tools that expect the released format. A label
    containing a TAB or a line break cannot be represented and is refused.
    """
    rows = list(zip(frame["mbid"], frame["release_group"], frame["labels"], strict=True))
    width = max((len(labels) for _, _, labels in rows), default=0)
    for mbid, _, labels in rows:
        bad = [lab for lab in labels if any(c in lab for c in "\t\r\n")]
        if bad:
            raise ValueError(f"{path}: recording {mbid}: label(s) with TAB/newline {bad!r}")
    with atomic_open(path) as handle:
        names = [*HEADER_FIRST, *(f"genre{i}" for i in range(1, width + 1))]
        handle.write("\t".join(names) + "\n")
        for mbid, group, labels in rows:
            padded = [*labels, *([""] * (width - len(labels)))]
            handle.write("\t".join([mbid, group, *padded]) + "\n")


def read_groundtruth(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str]]]:
    """MBIDs and label lists of a ground-truth Parquet (``mbid``, ``labels``)."""

    table = read_parquet(path, columns=["mbid", "labels"])
    ids = table.column("mbid").to_pylist()
    labels = [list(x) if x is not None else [] for x in table.column("labels").to_pylist()]
    return ids, labels
