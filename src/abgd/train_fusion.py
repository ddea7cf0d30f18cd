"""Train one fusion network: the four single-source embeddings → Dropout → labels.

Each embedding block is L2-normalised inside the model (so ``predict`` feeds raw embeddings),
the blocks are concatenated in the order given, and there is no hidden layer and no
standardisation (dataset-spec §7.2). The input width is k × the embeddings' width.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace

from abgd.inputs import check_finite, read_embeddings, require_found, training_set
from abgd.io import provenance
from abgd.progress import parse_step_args, step_parser
from abgd.train_args import add_training_arguments, config_from
from abgd.training import train, write_model_dir

log = logging.getLogger("abgd.train_fusion")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.train_fusion", description=__doc__)
    parser.add_argument("--embeddings", nargs="+", required=True,
                        help="embedding Parquet files, one per single-source model, in order")
    add_training_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    data = training_set(args.groundtruth, args.split, args.split_summary)
    x, found = read_embeddings(args.embeddings, data.mbids)
    require_found(found, data.mbids, "embeddings")
    check_finite(x, data.mbids, "embeddings")
    params = {"hidden": 0, "dropout": args.dropout, "input_dropout": args.dropout,
              "lr": args.lr, "init": args.init, "l2_blocks": len(args.embeddings)}
    result = train(x, data.y, data.fit_rows, data.holdout_rows, data.labels, params,
                   replace(config_from(args), standardize=False))
    write_model_dir(args.out_dir, result, {
        "outside_labels": data.outside_labels,
        "provenance": provenance("train_fusion", vars(args),
                                 [*args.embeddings, args.groundtruth, args.split,
                                  args.split_summary]),
    })
    log.info("best epoch %d, holdout macro ROC AUC %.4f", result.metrics["best_epoch"],
             result.metrics["holdout_macro_roc_auc"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
