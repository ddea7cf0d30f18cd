"""Train the multi-task network on the union of the sources' training sets.

One trunk (2669 → hidden) with one sigmoid head per source, trained on the union of the fit
parts with a loss masked to the sources that annotate each recording, early-stopped on the union
of the holdout parts (``abgd.multitask``). The union's features are read once into one float32
matrix; standardisation is fitted on the recordings of any fit part and saved in ``model.ckpt``.
``predict --kind multitask --head <source>`` then scores each source like a single-source model.
"""

from __future__ import annotations

import argparse
import logging

from abgd.inputs import check_finite, read_features, require_found
from abgd.io import provenance
from abgd.multitask import train_multitask
from abgd.progress import parse_step_args, step_parser
from abgd.train_args import add_protocol_arguments, config_from
from abgd.training import write_model_dir
from abgd.union import assemble

log = logging.getLogger("abgd.train_multitask")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser("python -m abgd.train_multitask", __doc__, raw=True)
    parser.add_argument("--features", nargs="+", required=True,
                        help="feature Parquet parts or .manifest.json files")
    parser.add_argument("--sources", nargs="+", required=True, help="one head per source")
    parser.add_argument("--groundtruth", nargs="+", required=True,
                        help="training ground-truth Parquet per source, in --sources order")
    parser.add_argument("--split", nargs="+", required=True, help="split TSV per source")
    parser.add_argument("--split-summary", nargs="+", required=True,
                        help="split JSON per source ('labels' = that head's outputs)")
    parser.add_argument("--out-dir", required=True, help="model folder to write")
    parser.add_argument("--hidden", type=int, default=256, help="trunk width")
    parser.add_argument("--input-dropout", type=float, default=0.5)
    add_protocol_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_step_args(parser, argv)
    n = len(args.sources)
    if not len(args.groundtruth) == len(args.split) == len(args.split_summary) == n:
        parser.error("give one --groundtruth, --split and --split-summary per source")
    union = assemble(args.sources, args.groundtruth, args.split, args.split_summary)
    x, found = read_features(args.features, union.mbids)
    require_found(found, union.mbids, "features")
    check_finite(x, union.mbids, "features")
    log.info("union: %d recordings (%d in a fit part and another source's holdout), "
             "%d features, %d outputs over %d heads (%.2f GB of features)", len(union.mbids),
             union.crossing(), x.shape[1], len(union.labels), n, x.nbytes / 1e9)
    params = {"hidden": args.hidden, "dropout": args.dropout,
              "input_dropout": args.input_dropout, "lr": args.lr, "init": args.init}
    config = config_from(args)
    result = train_multitask(x, union, params, config)
    write_model_dir(args.out_dir, result, {
        "outside_labels": union.outside_labels,
        "provenance": provenance("train_multitask", vars(args),
                                 [*args.features, *args.groundtruth, *args.split,
                                  *args.split_summary]),
    })
    for source, values in result.metrics["sources"].items():
        log.info("%s: holdout macro ROC AUC %.4f", source, values["holdout_macro_roc_auc"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
