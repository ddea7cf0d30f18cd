"""Turn score matrices into MediaEval run files, and check run files like ``check.R``.

Decisions (dataset-spec §6.1, §7.3):

* A label is predicted iff ``score ≥ threshold`` (the baseline's rule).
* A recording left without any label gets exactly one: with per-label thresholds the label with
  the highest ``score / threshold`` ratio (the baseline's fix), with a global threshold the
  top-scoring label. The ratio uses ``max(threshold, 1e-12)`` as denominator: a threshold ≤ 0
  would flip signs or divide by zero; for such a label every non-negative score is already
  predicted, so a recording reaching the fallback has a negative score there and the huge
  negative ratio ranks that label last, which is the intended "least convincing" reading.
* Rows are sorted by MBID and labels written in vocabulary order (the thresholds file's label
  list, i.e. the model's sorted labels), TAB-separated, no header -- what ``check.R`` accepts.
* Every run file is checked with :func:`check_run` before it is renamed into place.

Hierarchy-consistent decoding (``--hierarchy consistent``, dataset-spec §6.2 and §7.4): the
organisers' re-scoring showed that a run predicting ``rock---punk`` without ``rock`` loses at the
genre level. After thresholding, (a) a predicted subgenre is dropped when its parent genre's
score is below ``tau_parent = r × (the parent's own threshold)``, with ``r`` tuned on the holdout
by ``abgd.threshold``; (b) the parent of every remaining subgenre is added. ``r = 0`` (with
non-negative scores) only adds parents, which is the organisers' "hierarchy-expanded" variant.
A subgenre whose parent is not a model label cannot be checked nor completed, so it is kept as
is. The no-label fallback runs after these two steps and obeys them too: it picks the best label
among those rule (a) allows, and adds that label's parent, so no row ever holds a subgenre
without its parent (when the parent is a model label).
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from scipy import sparse

from abgd.io import atomic_path, read_json
from abgd.progress import setup_logging

LOG = logging.getLogger("abgd.decode")
RATIO_FLOOR = 1e-12
SUBGENRE_SEP = "---"
HIERARCHIES = ("none", "consistent")
_MAX_LISTED = 10


def read_scores(path: str | os.PathLike[str]) -> tuple[np.ndarray, list[str], np.ndarray]:
    """``(mbids, labels, float32 matrix)`` from a score Parquet, refusing NaN and duplicate IDs."""
    table = pq.read_table(path)
    names = table.column_names
    if not names or names[0] != "mbid":
        raise ValueError(f"{path}: first column must be 'mbid', found {names[:3]}")
    ids = np.asarray(table.column("mbid").to_pylist(), dtype=object)
    labels = names[1:]
    if table.num_rows:
        scores = np.column_stack(
            [table.column(name).to_numpy().astype(np.float32, copy=False) for name in labels]
        ) if labels else np.zeros((table.num_rows, 0), dtype=np.float32)
    else:
        scores = np.zeros((0, len(labels)), dtype=np.float32)
    if len(set(ids.tolist())) != len(ids):
        seen: set[str] = set()
        dup = [i for i in ids.tolist() if i in seen or seen.add(i)]
        raise ValueError(f"{path}: duplicate mbid {dup[0]!r}")
    bad = np.isnan(scores)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(f"{path}: NaN score for mbid {ids[row]!r}, label {labels[col]!r}")
    return ids, labels, scores


def _per_label(thresholds: np.ndarray | float, n_labels: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (n_labels,))


def fill_empty(pred: np.ndarray, scores: np.ndarray, thresholds: np.ndarray | float,
               fallback: str = "ratio", allowed: np.ndarray | None = None) -> np.ndarray:
    """Give every row without a label its single most convincing label (in place).

    ``allowed`` (rows × labels, optional) restricts the choice, so that the hierarchy rule
    cannot be undone by the fallback.
    """
    thr = _per_label(thresholds, scores.shape[1])
    empty = np.flatnonzero(~pred.any(axis=1))
    if empty.size and scores.shape[1]:
        chosen = scores[empty].astype(np.float64)
        if fallback == "ratio":
            chosen = chosen / np.maximum(thr, RATIO_FLOOR)
        elif fallback != "score":
            raise ValueError(f"unknown fallback {fallback!r}")
        if allowed is not None:
            chosen = np.where(allowed[empty], chosen, -np.inf)
        pred[empty, np.argmax(chosen, axis=1)] = True
    return pred


def binarize(scores: np.ndarray, thresholds: np.ndarray | float,
             fallback: str = "ratio") -> sparse.csr_matrix:
    """Predicted iff ``score ≥ threshold``; empty rows get one label (``ratio`` or ``score``)."""
    pred = scores >= _per_label(thresholds, scores.shape[1])
    return sparse.csr_matrix(fill_empty(pred, scores, thresholds, fallback))


def parent_columns(labels: Sequence[str]) -> np.ndarray:
    """For each label the column of its parent genre, or -1 (a genre, or a parent the model
    does not output)."""
    index = {label: j for j, label in enumerate(labels)}
    return np.array([index.get(parent, -1) if (parent := _parent(label)) is not None else -1
                     for label in labels], dtype=np.int64)


def _parent(label: str) -> str | None:
    return label.split(SUBGENRE_SEP, 1)[0] if SUBGENRE_SEP in label else None


def parent_allowed(scores: np.ndarray, parents: np.ndarray,
                   parent_thresholds: np.ndarray) -> np.ndarray:
    """Rows × labels: False where a subgenre's parent scores below its parent threshold."""
    allowed = np.ones(scores.shape, dtype=bool)
    subs = np.flatnonzero(parents >= 0)
    if subs.size:
        cols = parents[subs]
        allowed[:, subs] = scores[:, cols] >= parent_thresholds[cols]
    return allowed


def add_parents(pred: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Set the parent column of every predicted subgenre (in place), without a row loop."""
    subs = np.flatnonzero(parents >= 0)
    if subs.size and pred.shape[0]:
        rows, which = np.nonzero(pred[:, subs])
        pred[rows, parents[subs][which]] = True
    return pred


def consistent_binarize(scores: np.ndarray, thresholds: np.ndarray | float,
                        labels: Sequence[str], parent_ratio: float,
                        fallback: str = "ratio") -> sparse.csr_matrix:
    """The hierarchy-consistent decoding (module docstring): drop, add parents, then fallback."""
    thr = _per_label(thresholds, scores.shape[1])
    parents = parent_columns(labels)
    allowed = parent_allowed(scores, parents, parent_ratio * thr)
    pred = (scores >= thr) & allowed
    add_parents(pred, parents)
    fill_empty(pred, scores, thr, fallback, allowed)
    add_parents(pred, parents)
    return sparse.csr_matrix(pred)


def run_lines(ids: Sequence[str], labels: Sequence[str],
              pred: sparse.csr_matrix) -> Iterable[str]:
    """Run-file lines, rows sorted by MBID, labels in the order of ``labels``."""
    pred = sparse.csr_matrix(pred)
    pred.sort_indices()
    label_arr = np.asarray(labels, dtype=object)
    for row in np.argsort(np.asarray(ids, dtype=str), kind="stable"):
        cols = pred.indices[pred.indptr[row]:pred.indptr[row + 1]]
        yield "\t".join([str(ids[row]), *label_arr[cols].tolist()]) + "\n"


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


def check_run(path: str | os.PathLike[str], vocabulary: Iterable[str],
              expected_ids: Iterable[str], *, name: str | None = None) -> int:
    """The official ``check.R`` rules; returns the number of lines. ``name`` labels messages.

    Stricter than check.R in one place: an empty label field (``a\\t\\tb``) is refused, since
    our writers never produce one and check.R would silently skip it.
    """
    name = name or str(path)
    vocab = set(vocabulary)
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


def thresholds_for(config: dict, labels: Sequence[str], decoding: str,
                   source: str = "thresholds") -> np.ndarray | float:
    """Thresholds aligned on the score columns; label sets must agree exactly."""
    if sorted(config["labels"]) != sorted(labels):
        missing = sorted(set(config["labels"]) - set(labels))
        extra = sorted(set(labels) - set(config["labels"]))
        raise ValueError(f"{source}: labels differ from the score columns "
                         f"(missing in scores: {missing[:5]}, not in thresholds: {extra[:5]})")
    if decoding == "global":
        return float(config["global"])
    if decoding == "per_label":
        return np.array([float(config["per_label"][label]) for label in labels])
    raise ValueError(f"unknown decoding {decoding!r}")


def parent_ratio_for(config: dict, decoding: str, source: str = "thresholds") -> float:
    """The holdout-tuned ``r`` of the consistent decoding for ``decoding``."""
    try:
        return float(config["hierarchy"][decoding]["parent_threshold_ratio"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{source}: no hierarchy.{decoding}.parent_threshold_ratio; rerun "
                         "abgd.threshold or pass --parent-ratio") from err


def decode_scores(ids: Sequence[str], labels: Sequence[str], scores: np.ndarray,
                  thresholds: np.ndarray | float, decoding: str, hierarchy: str = "none",
                  parent_ratio: float | None = None) -> sparse.csr_matrix:
    fallback = "ratio" if decoding == "per_label" else "score"
    if hierarchy == "none":
        return binarize(scores, thresholds, fallback)
    if hierarchy != "consistent":
        raise ValueError(f"unknown hierarchy {hierarchy!r}")
    if parent_ratio is None:
        raise ValueError("the consistent decoding needs a parent threshold ratio")
    return consistent_binarize(scores, thresholds, labels, parent_ratio, fallback)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m abgd.decode", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--scores", required=True, type=Path, help="score Parquet")
    parser.add_argument("--thresholds", required=True, type=Path, help="thresholds JSON")
    parser.add_argument("--decoding", required=True, choices=("per_label", "global"))
    parser.add_argument("--hierarchy", choices=HIERARCHIES, default="none",
                        help="none: thresholds only; consistent: drop subgenres whose parent "
                        "scores below r x its threshold, then add parents (default: none)")
    parser.add_argument("--parent-ratio", type=float,
                        help="r for --hierarchy consistent (default: the thresholds JSON's "
                        "hierarchy.<decoding>.parent_threshold_ratio)")
    parser.add_argument("--out", required=True, type=Path, help="run file (TSV) to write")
    parser.add_argument("--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    ids, labels, scores = read_scores(args.scores)
    config = read_json(args.thresholds)
    thresholds = thresholds_for(config, labels, args.decoding, str(args.thresholds))
    ratio = args.parent_ratio
    if args.hierarchy == "consistent" and ratio is None:
        ratio = parent_ratio_for(config, args.decoding, str(args.thresholds))
    pred = decode_scores(ids, labels, scores, thresholds, args.decoding, args.hierarchy, ratio)
    order = [labels.index(x) for x in config["labels"]]
    vocab_labels = [labels[i] for i in order]
    write_run(args.out, ids, vocab_labels, pred[:, order], vocab_labels)
    counts = np.diff(pred.indptr)
    LOG.info("%s: %d recordings, %.3f labels per recording (%s decoding, hierarchy %s%s)",
             args.out, len(ids), counts.mean() if len(ids) else 0.0, args.decoding,
             args.hierarchy, f", r = {ratio:g}" if ratio is not None else "")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
