"""Score one run file against a ground truth with the official metrics (+ ROC AUC from scores).

The metrics are computed by :mod:`abgd.evaluation` (shared with ``abgd score``); this step names
the run (system, source, split, decoding) and writes the JSON and eval.R's summary text.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

from abgd.evaluation import add_bootstrap_arguments, evaluate_files, summary_text
from abgd.io import atomic_open, provenance, write_json
from abgd.progress import parse_step_args, step_parser

LOG = logging.getLogger("abgd.evaluate")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.evaluate",
                         description="Official MediaEval metrics for one run file.")
    parser.add_argument("--groundtruth", required=True, type=Path, help="ground-truth Parquet")
    parser.add_argument("--run", required=True, type=Path, help="run file (TSV)")
    parser.add_argument("--scores", type=Path, help="score Parquet, for ROC AUC")
    parser.add_argument("--system", required=True, help="e.g. single, fusion, random")
    parser.add_argument("--source", required=True, help="allmusic, discogs, lastfm or tagtraum")
    parser.add_argument("--split", required=True, help="e.g. validation")
    parser.add_argument("--decoding", help="decoding used for the run (kept in the JSON)")
    parser.add_argument("--hierarchy", choices=("none", "consistent"),
                        help="hierarchy step of the decoding (kept in the JSON)")
    parser.add_argument("--seed", type=int, help="seed used for the run (kept in the JSON)")
    add_bootstrap_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="evaluation JSON to write")
    parser.add_argument("--summary-text", type=Path,
                        help="also write eval.R's .results_summary text here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    result = evaluate_files(args.groundtruth, args.run, args.scores, args.bootstrap,
                            args.bootstrap_seed)
    inputs = [str(p) for p in (args.groundtruth, args.run, args.scores) if p is not None]
    document: dict[str, Any] = {
        "system": args.system, "source": args.source, "split": args.split,
        "metrics": result, "n_recordings": result["n_trackall"],
        "provenance": provenance("evaluate", {"system": args.system, "source": args.source,
                                              "split": args.split, "bootstrap": args.bootstrap,
                                              "bootstrap_seed": args.bootstrap_seed}, inputs),
    }
    if args.decoding is not None:
        document["decoding"] = args.decoding
    if args.hierarchy is not None:
        document["hierarchy"] = args.hierarchy
    if args.seed is not None:
        document["seed"] = args.seed
    if args.bootstrap:
        document["bootstrap"] = {"replicates": args.bootstrap, "seed": args.bootstrap_seed,
                                 "interval": "percentile 95 %, recordings resampled"}
    if args.summary_text is not None:
        text = summary_text(result)
        with atomic_open(args.summary_text) as handle:
            handle.write(text)
    write_json(args.out, document)
    LOG.info("%s %s/%s: Ftrackall %.4f, Flabelall %.4f, ROC AUC %s", args.split, args.system,
             args.source, result["Ftrackall"] or math.nan, result["Flabelall"] or math.nan,
             result["roc_auc"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
