"""Join the per-chunk score tables of ``train_lgbm`` into one table in the model's label order.

The result has ``abgd.predict``'s layout (``mbid`` + one float32 column per label, in the split
summary's ``labels`` order), so thresholds, decoding and evaluation need not know the system
was trained in chunks. The chunks' per-label best iterations are carried over.
"""

from __future__ import annotations

import argparse
import logging

from abgd.io import read_json
from abgd.lgbm import merge_tables, read_score_table, write_score_table
from abgd.progress import parse_step_args, step_parser

log = logging.getLogger("abgd.merge_scores")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.merge_scores", description=__doc__)
    parser.add_argument("--parts", nargs="+", required=True, help="chunk score Parquet files")
    parser.add_argument("--labels", required=True,
                        help="split summary JSON whose 'labels' give the column order")
    parser.add_argument("--out", required=True, help="merged scores Parquet")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    summary = read_json(args.labels)
    if "labels" not in summary:
        raise ValueError(f"{args.labels}: no 'labels' list")
    labels = list(summary["labels"])
    merged = merge_tables([read_score_table(path) for path in args.parts], labels)
    write_score_table(args.out, merged.mbids, merged.labels, merged.scores,
                      merged.best_iterations)
    log.info("%d parts → %s: %d recordings × %d labels", len(args.parts), args.out,
             len(merged.mbids), len(labels))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
