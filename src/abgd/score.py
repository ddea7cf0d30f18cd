"""``abgd score``: the official MediaEval metrics of any run file, without R and without a study.

Give it a run file (``<mbid>\\t<label>\\t<label>...`` per line, as the task asked for) and the
released ground-truth TSV of the same split (``.tsv`` or ``.tsv.bz2``, header line included).
It writes, next to ``--out PREFIX``:

* ``PREFIX.results_summary``: eval.R's summary text, byte for byte (``--crlf`` for the CRLF
  line ends of the organisers' own files);
* ``PREFIX.json``: every metric (eval.R's means and sds, micro P/R/F, ROC AUC, intervals);
* ``PREFIX.recordings.tsv``: P/R/F of each recording at the three levels (empty = NA);
* ``PREFIX.labels.tsv``: counts, P/R/F (and ROC AUC) of each ground-truth label.

ROC AUC needs continuous scores: ``--scores`` takes a Parquet with an ``mbid`` column and one
float column per label (what the study's ``predict`` writes). The numbers are those of the
workflow's ``evaluate`` step: both call :mod:`abgd.evaluation`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from abgd import evaluation
from abgd.io import atomic_open, provenance, write_json
from abgd.labels import read_groundtruth_tsv
from abgd.progress import parse_step_args, step_parser
from abgd.runs import read_run
from abgd.scores import read_scores

LOG = logging.getLogger("abgd.score")


def score_files(groundtruth: Path, run: Path, scores: Path | None = None, bootstrap: int = 0,
                bootstrap_seed: int = 0, header: bool = True) -> tuple[dict[str, Any], Any, Any]:
    """Metrics, per-recording table and per-label table of ``run`` against a ground-truth TSV."""
    truth = read_groundtruth_tsv(groundtruth, header=header)
    gt_ids, gt_labels = truth["mbid"].tolist(), [list(x) for x in truth["labels"]]
    result = evaluation.evaluate_lists(gt_ids, gt_labels, run, scores, bootstrap,
                                       bootstrap_seed, str(groundtruth))
    run_ids, run_labels = read_run(run)
    auc = None
    if scores is not None:
        score_ids, labels, matrix = read_scores(scores)
        auc = (*evaluation.auc_inputs(gt_ids, gt_labels, score_ids, labels, matrix), labels)
    tracks, labels_table = evaluation.result_tables(gt_ids, gt_labels, run_ids, run_labels, auc)
    return result, tracks, labels_table


def _write_tsv(frame: Any, path: Path) -> None:
    with atomic_open(path) as handle:
        frame.to_csv(handle, sep="\t", index=False, na_rep="", float_format="%.6g")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="abgd score", description=__doc__.split("\n")[0])
    parser.add_argument("--groundtruth", required=True, type=Path,
                        help="official ground-truth TSV (.tsv or .tsv.bz2)")
    parser.add_argument("--run", required=True, type=Path, help="run file to score")
    parser.add_argument("--scores", type=Path, help="score Parquet, for ROC AUC")
    parser.add_argument("--out", type=Path,
                        help="output prefix (default: the run file's path without .tsv)")
    evaluation.add_bootstrap_arguments(parser)
    parser.add_argument("--no-header", action="store_true",
                        help="the ground-truth TSV has no header line")
    parser.add_argument("--crlf", action="store_true",
                        help="CRLF line ends in .results_summary, like the organisers' files")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    prefix = args.out or args.run.with_suffix("")
    try:
        result, tracks, labels = score_files(args.groundtruth, args.run, args.scores,
                                             args.bootstrap, args.bootstrap_seed,
                                             not args.no_header)
    except (ValueError, FileNotFoundError) as error:
        print(f"abgd score: {error}", file=sys.stderr)
        return 1
    text = evaluation.summary_text(result)
    if args.crlf:
        text = text.replace("\n", "\r\n")
    with atomic_open(Path(f"{prefix}.results_summary"), "wb") as handle:
        handle.write(text.encode("utf-8"))
    inputs = [str(p) for p in (args.groundtruth, args.run, args.scores) if p is not None]
    write_json(Path(f"{prefix}.json"), {
        "run": str(args.run), "groundtruth": str(args.groundtruth), "metrics": result,
        "n_recordings": result["n_trackall"],
        "provenance": provenance("score", {"bootstrap": args.bootstrap,
                                           "bootstrap_seed": args.bootstrap_seed}, inputs)})
    _write_tsv(tracks, Path(f"{prefix}.recordings.tsv"))
    _write_tsv(labels, Path(f"{prefix}.labels.tsv"))
    sys.stdout.write(text if not args.crlf else text.replace("\r\n", "\n"))
    LOG.info("wrote %s.{results_summary,json,recordings.tsv,labels.tsv}", prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
