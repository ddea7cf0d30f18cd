"""``abgd check``: is a run file acceptable to the task? The rules of the organisers' check.R.

Each line is ``<mbid>\\t<label>...``: no empty line or field, no label twice on a line, no
label outside the vocabulary, no MBID twice, no MBID outside the ground truth, none of it
missing. The first problem is reported with its line number and the exit status is 1.

The MBIDs come from the ground truth of the split being predicted (``--groundtruth``); the
allowed labels from the training ground truth (``--train``: the labels a system could learn),
or, without it, from ``--groundtruth`` itself. Both take the released TSVs (``.tsv[.bz2]``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from abgd.labels import read_groundtruth_tsv, vocabulary
from abgd.runs import check_run


def check_file(run: Path, groundtruth: Path, train: Path | None = None,
               header: bool = True) -> int:
    """Lines of a valid ``run``; a ValueError naming the file and line otherwise."""
    truth = read_groundtruth_tsv(groundtruth, header=header)
    allowed = truth if train is None else read_groundtruth_tsv(train, header=header)
    return check_run(run, vocabulary(allowed["labels"]), truth["mbid"].tolist())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abgd check", description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, type=Path, help="run file to check")
    parser.add_argument("--groundtruth", required=True, type=Path,
                        help="ground-truth TSV of the predicted split: the expected MBIDs")
    parser.add_argument("--train", type=Path,
                        help="training ground-truth TSV: the allowed labels")
    parser.add_argument("--no-header", action="store_true",
                        help="the ground-truth TSVs have no header line")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        lines = check_file(args.run, args.groundtruth, args.train, not args.no_header)
    except (ValueError, FileNotFoundError) as error:
        print(f"abgd check: {error}", file=sys.stderr)
        return 1
    print(f"{args.run}: OK, {lines} recordings")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
