"""The MediaEval random and popularity baselines as run files (dataset-spec §6.4).

* ``random``: each evaluated recording receives the complete label set of one training
  recording drawn uniformly with replacement. Drawing whole label sets keeps the joint label
  distribution of the training set ("reproduces the joint distribution of labels"), which is
  why the official random runs show precision ≈ recall.
* ``popularity``: every recording receives the single most frequent *genre* of the training set
  (counted over recordings; ties broken alphabetically), so subgenre scores are 0.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np
from scipy import sparse

from abgd.labels import is_subgenre, label_matrix_strict, read_groundtruth
from abgd.progress import parse_step_args, step_parser
from abgd.runs import write_run

LOG = logging.getLogger("abgd.baselines")


def random_run(train_labels: Sequence[Sequence[str]], n: int, seed: int) -> list[list[str]]:
    """``n`` label sets copied from uniformly drawn (with replacement) training recordings."""
    if not train_labels:
        raise ValueError("random baseline: the training ground truth is empty")
    picks = np.random.default_rng(seed).integers(0, len(train_labels), size=n)
    return [list(train_labels[i]) for i in picks]


def most_popular_genre(train_labels: Sequence[Sequence[str]]) -> str:
    counts = Counter(x for x in chain.from_iterable(train_labels) if not is_subgenre(x))
    if not counts:
        raise ValueError("popularity baseline: no genre in the training ground truth")
    return min(counts, key=lambda label: (-counts[label], label))


def popularity_run(train_labels: Sequence[Sequence[str]], n: int) -> list[list[str]]:
    top = most_popular_genre(train_labels)
    return [[top] for _ in range(n)]


def baseline_run(kind: str, train_labels: Sequence[Sequence[str]], n: int,
                 seed: int) -> list[list[str]]:
    if kind == "random":
        return random_run(train_labels, n, seed)
    if kind == "popularity":
        return popularity_run(train_labels, n)
    raise ValueError(f"unknown baseline kind {kind!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.baselines",
                         description="Write a random or popularity baseline run.")
    parser.add_argument("--train-groundtruth", required=True, type=Path,
                        help="training ground-truth Parquet (label distribution)")
    parser.add_argument("--groundtruth", required=True, type=Path,
                        help="evaluated ground-truth Parquet (its mbids get a prediction)")
    parser.add_argument("--kind", required=True, choices=("random", "popularity"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="run file (TSV) to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    _, train_labels = read_groundtruth(args.train_groundtruth)
    eval_ids, _ = read_groundtruth(args.groundtruth)
    rows = baseline_run(args.kind, train_labels, len(eval_ids), args.seed)
    vocabulary = sorted(set(chain.from_iterable(train_labels)))
    pred: sparse.csr_matrix = label_matrix_strict(rows, vocabulary, eval_ids, "baseline run")
    write_run(args.out, eval_ids, vocabulary, pred)
    LOG.info("%s: %s baseline for %d recordings (seed %d)", args.out, args.kind,
             len(eval_ids), args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
