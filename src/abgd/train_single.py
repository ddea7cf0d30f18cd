"""Train one single-source network (features → 256 ReLU → labels) on a source's split.

Early stopping restores the best holdout epoch's weights (the authors' Keras code kept the last
epoch's); see ``abgd.training``. The standardisation is fitted on the ``fit`` part only and saved
inside ``model.ckpt``.
"""

from __future__ import annotations

import argparse
import logging

from abgd.io import provenance
from abgd.progress import setup_logging
from abgd.training import (
    TrainConfig,
    check_finite,
    read_features,
    require_found,
    train,
    training_set,
    write_model_dir,
)

log = logging.getLogger("abgd.train_single")


def add_training_arguments(parser: argparse.ArgumentParser, dropout: float = 0.5) -> None:
    """Arguments shared with ``train_fusion``."""
    parser.add_argument("--groundtruth", required=True, help="training ground-truth Parquet")
    parser.add_argument("--split", required=True, help="split TSV (mbid, release_group, part)")
    parser.add_argument("--split-summary", required=True, help="split JSON ('labels' = outputs)")
    parser.add_argument("--out-dir", required=True, help="model folder to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dropout", type=float, default=dropout)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--accelerator", default="auto", help="auto, cpu or gpu")
    parser.add_argument("--init", choices=["keras", "torch"], default="keras",
                        help="keras: U(-0.05, 0.05) weights and zero biases as the authors")
    parser.add_argument("--verbose", action="store_true")


def config_from(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(seed=args.seed, batch_size=args.batch_size, max_epochs=args.max_epochs,
                       patience=args.patience, threads=args.threads,
                       accelerator=args.accelerator)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m abgd.train_single", description=__doc__)
    parser.add_argument("--features", nargs="+", required=True,
                        help="feature Parquet parts or .manifest.json files")
    add_training_arguments(parser)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--input-dropout", type=float, default=0.5)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    data = training_set(args.groundtruth, args.split, args.split_summary)
    if data.outside_labels:
        log.info("%d labels outside the model's outputs left out of the targets",
                 len(data.outside_labels))
    x, found = read_features(args.features, data.mbids)
    require_found(found, data.mbids, "features")
    check_finite(x, data.mbids, "features")
    log.info("%d fit + %d holdout recordings, %d features, %d labels", len(data.fit_rows),
             len(data.holdout_rows), x.shape[1], len(data.labels))
    params = {"hidden": args.hidden, "dropout": args.dropout,
              "input_dropout": args.input_dropout, "lr": args.lr, "init": args.init}
    result = train(x, data.y, data.fit_rows, data.holdout_rows, data.labels, params,
                   config_from(args))
    write_model_dir(args.out_dir, result, {
        "outside_labels": data.outside_labels,
        "provenance": provenance("train_single", vars(args),
                                 [*args.features, args.groundtruth, args.split,
                                  args.split_summary]),
    })
    log.info("best epoch %d, holdout loss %.6f, holdout macro ROC AUC %.4f",
             result.metrics["best_epoch"], result.metrics["best_holdout_loss"],
             result.metrics["holdout_macro_roc_auc"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
