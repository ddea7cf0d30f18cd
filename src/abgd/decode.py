"""Turn a score table into a MediaEval run file (thresholds, fallback, optional hierarchy).

The decoding rules live in :mod:`abgd.decoding` (dataset-spec §6.1, §7.3, §7.4); run files are
written and checked by :mod:`abgd.runs` (``check.R``'s rules) before they are renamed into place.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from abgd.decoding import HIERARCHIES, decode_scores, parent_ratio_for, thresholds_for
from abgd.io import read_json
from abgd.progress import parse_step_args, step_parser
from abgd.runs import write_run
from abgd.scores import read_scores

LOG = logging.getLogger("abgd.decode")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.decode", description=__doc__.split("\n")[0])
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
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
