"""MediaEval run files: writing, reading (as ``eval.R`` does) and checking (as ``check.R`` does).

A run file has one line per recording: its MBID, then its labels, TAB-separated, no header.
Rows are written sorted by MBID and labels in vocabulary order. Every file the project writes is
checked with :func:`check_run` before it is renamed into place; ``abgd check`` runs the same check
on anyone's file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

from abgd.io import atomic_path

_MAX_LISTED = 10


def run_lines(ids: Sequence[str], labels: Sequence[str], pred: sparse.csr_matrix,
              order: Sequence[int] | None = None) -> list[str]:
    """Run-file lines, rows sorted by MBID, labels in the order of ``labels``.

    ``order`` is the rows' stable MBID order when the caller has it already (``abgd tag``
    writes each batch's ids for eight systems); label names are looked up once, not per line.
    """
    pred = sparse.csr_matrix(pred)
    pred.sort_indices()
    names = np.asarray(labels, dtype=object)[pred.indices].tolist()
    ptr = pred.indptr.tolist()
    if order is None:
        order = np.argsort(np.asarray(ids, dtype=str), kind="stable").tolist()
    return ["\t".join([str(ids[r]), *names[ptr[r]:ptr[r + 1]]]) + "\n" for r in order]


def write_run(path: str | os.PathLike[str], ids: Sequence[str], labels: Sequence[str],
              pred: sparse.csr_matrix, vocabulary: Sequence[str] | None = None) -> None:
    """Write a run file atomically, after it passed :func:`check_run`."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(run_lines(ids, labels, pred))
        check_run(tmp, vocabulary if vocabulary is not None else labels, ids, name=str(path))


def _fail(name: str, line_no: int | None, message: str) -> None:
    where = f"{name}, line {line_no}" if line_no is not None else name
    raise ValueError(f"{where}: {message}")


def _check_labels(name: str, line_no: int, mbid: str, labels: list[str],
                  vocab: set[str]) -> None:
    """check.R's label rules on one line, failing with the first broken one."""
    if not labels or not any(labels):
        _fail(name, line_no, f"no labels for {mbid!r}")
    if "" in labels:
        _fail(name, line_no, f"empty label field for {mbid!r}")
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        _fail(name, line_no, f"duplicate labels for {mbid!r}: {dup}")
    unknown = [x for x in labels if x not in vocab]
    if unknown:
        _fail(name, line_no, f"unknown labels for {mbid!r}: {unknown}")


def check_vocabulary(vocabulary: Sequence[str], name: str) -> None:
    """check.R's label rules, applied once per run file to the labels its lines are made of.

    A writer whose every line is an id and labels taken from ``vocabulary`` at distinct columns
    (``abgd tag``) can break check.R's label rules (empty field, duplicate or unknown label once
    split at tabs) only through a bad vocabulary; reading each line back to check it costs as
    much as scoring the document.
    """
    bad = [label for label in vocabulary if not label or any(c in label for c in "\t\r\n")]
    if bad:
        raise ValueError(f"{name}: labels unusable in a run file: {bad[:10]}")
    if len(set(vocabulary)) != len(vocabulary):
        dup = sorted({x for x in vocabulary if list(vocabulary).count(x) > 1})
        raise ValueError(f"{name}: duplicate labels in the vocabulary: {dup[:10]}")


def check_run(path: str | os.PathLike[str], vocabulary: Iterable[str],
              expected_ids: Iterable[str], *, name: str | None = None) -> int:
    """The official ``check.R`` rules; returns the number of lines. ``name`` labels messages.

    Stricter than check.R in one place: an empty label field (``a\\t\\tb``) is refused, since
    our writers never produce one and check.R would silently skip it.
    """
    name = name or str(path)
    vocab = set(vocabulary) - {""}  # an empty field is refused even if listed
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8", newline="") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n").rstrip("\r")
            if not line:
                _fail(name, line_no, "empty line")
            parts = line.split("\t")
            mbid, labels = parts[0], parts[1:]
            if not mbid:
                _fail(name, line_no, "empty RecordingID")
            unique = set(labels)
            # one C-level test for a good line (a tagged dump has ~10^8 label fields); the
            # per-rule tests below only run to name what is wrong
            if not (labels and len(unique) == len(labels) and unique <= vocab):
                _check_labels(name, line_no, mbid, labels, vocab)
            if mbid in seen:
                _fail(name, line_no, f"duplicate RecordingID {mbid!r} (first on line {seen[mbid]})")
            seen[mbid] = line_no
    expected = set(expected_ids)
    unknown_ids = sorted(set(seen) - expected)
    if unknown_ids:
        first = unknown_ids[0]
        _fail(name, seen[first], f"unknown RecordingID {first!r} "
              f"({len(unknown_ids)} unknown: {unknown_ids[:_MAX_LISTED]})")
    missing = sorted(expected - set(seen))
    if missing:
        _fail(name, None, f"{len(missing)} missing RecordingIDs: {missing[:_MAX_LISTED]}")
    return len(seen)


def read_run(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str]]]:
    """IDs and label lists of a run file, with eval.R's reading (empty fields dropped)."""
    ids: list[str] = []
    label_lists: list[list[str]] = []
    with open(path, encoding="utf-8", newline="") as handle:
        for raw in handle:
            line = raw.rstrip("\n").rstrip("\r")
            if not line:
                continue
            parts = line.split("\t")
            ids.append(parts[0])
            label_lists.append([x for x in parts[1:] if x])
    return ids, label_lists
