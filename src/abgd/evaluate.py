"""Score one run file against a ground truth with the official metrics (+ ROC AUC from scores).

ROC AUC needs the continuous scores, not the run, so it is computed only when ``--scores`` is
given, over the score columns (ground-truth labels the model cannot output have no scores and
are left out of the AUC, but they do count in the eval.R metrics as misses). NaN metrics (e.g.
a subgenre block without subgenres) are written as JSON ``null``.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from abgd import metrics
from abgd.decode import read_run, read_scores
from abgd.io import atomic_open, provenance, write_json
from abgd.progress import setup_logging
from abgd.threshold import read_groundtruth

LOG = logging.getLogger("abgd.evaluate")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def score_auc(gt_ids: list[str], gt_labels: list[list[str]], score_ids: np.ndarray,
              labels: list[str], scores: np.ndarray) -> dict[str, Any]:
    """Macro ROC AUC with the score rows aligned on the ground-truth IDs."""
    positions = metrics.align_ids(gt_ids, score_ids.tolist())
    known = set(labels)
    truth = metrics.label_matrix([[x for x in row if x in known] for row in gt_labels], labels,
                                 gt_ids, "ground truth")
    return metrics.roc_auc_macro(truth, scores[positions], labels)


def evaluate_files(groundtruth: Path, run: Path, scores: Path | None = None) -> dict[str, Any]:
    gt_ids, gt_labels = read_groundtruth(groundtruth)
    run_ids, run_labels = read_run(run)
    try:
        result = metrics.evaluate_lists(gt_ids, gt_labels, run_ids, run_labels)
    except ValueError as err:
        raise ValueError(f"{run} vs {groundtruth}: {err}") from err
    auc_keys = ("roc_auc", "roc_auc_genre", "roc_auc_subgenre")
    if scores is None:
        result.update(dict.fromkeys(auc_keys))
    else:
        score_ids, labels, matrix = read_scores(scores)
        try:
            result.update(score_auc(gt_ids, gt_labels, score_ids, labels, matrix))
        except ValueError as err:
            raise ValueError(f"{scores} vs {groundtruth}: {err}") from err
    return {key: _clean(value) for key, value in result.items()}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m abgd.evaluate",
                                     description="Official MediaEval metrics for one run file.")
    parser.add_argument("--groundtruth", required=True, type=Path, help="ground-truth Parquet")
    parser.add_argument("--run", required=True, type=Path, help="run file (TSV)")
    parser.add_argument("--scores", type=Path, help="score Parquet, for ROC AUC")
    parser.add_argument("--system", required=True, help="e.g. single, fusion, random")
    parser.add_argument("--source", required=True, help="allmusic, discogs, lastfm or tagtraum")
    parser.add_argument("--split", required=True, help="e.g. validation")
    parser.add_argument("--decoding", help="decoding used for the run (kept in the JSON)")
    parser.add_argument("--seed", type=int, help="seed used for the run (kept in the JSON)")
    parser.add_argument("--out", required=True, type=Path, help="evaluation JSON to write")
    parser.add_argument("--summary-text", type=Path,
                        help="also write eval.R's .results_summary text here")
    parser.add_argument("--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    result = evaluate_files(args.groundtruth, args.run, args.scores)
    inputs = [str(p) for p in (args.groundtruth, args.run, args.scores) if p is not None]
    document: dict[str, Any] = {
        "system": args.system, "source": args.source, "split": args.split,
        "metrics": result, "n_recordings": result["n_trackall"],
        "provenance": provenance("evaluate", {"system": args.system, "source": args.source,
                                              "split": args.split}, inputs),
    }
    if args.decoding is not None:
        document["decoding"] = args.decoding
    if args.seed is not None:
        document["seed"] = args.seed
    if args.summary_text is not None:
        text = metrics.format_results_summary(
            {k: math.nan if v is None else v for k, v in result.items()})
        with atomic_open(args.summary_text) as handle:
            handle.write(text)
    write_json(args.out, document)
    LOG.info("%s %s/%s: Ftrackall %.4f, Flabelall %.4f, ROC AUC %s", args.split, args.system,
             args.source, result["Ftrackall"] or math.nan, result["Flabelall"] or math.nan,
             result["roc_auc"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
