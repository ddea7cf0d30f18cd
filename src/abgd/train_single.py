"""Train one single-source network on a source's split.

``--architecture paper`` (default) is the study's features → 256 ReLU → labels. ``wide`` is
JKU's MediaEval 2017 winner: parallel branches (one activation each) → concatenated → a
BatchNorm'd ReLU top layer (``--top-width``, the embedding fusion then uses) → labels.

Early stopping restores the best holdout epoch's weights (the authors' Keras code kept the last
epoch's); see ``abgd.training``. The standardisation is fitted on the ``fit`` part only and saved
inside ``model.ckpt``.
"""

from __future__ import annotations

import argparse
import itertools
import logging
from typing import Any

from abgd.inputs import check_finite, read_features, require_found, training_set
from abgd.io import provenance
from abgd.nets import ACTIVATIONS, ARCHITECTURES, BATCH_NORM, DEFAULT_BRANCH_ACTIVATIONS
from abgd.progress import parse_step_args, positive_int, step_parser
from abgd.train_args import add_training_arguments, config_from
from abgd.training import train, write_model_dir

log = logging.getLogger("abgd.train_single")


def activation_list(text: str) -> list[str]:
    """``relu,tanh,sigmoid`` → names, checked here so a typo fails before any data is read."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ACTIVATIONS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a comma-separated list of {', '.join(sorted(ACTIVATIONS))}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.train_single", description=__doc__, raw=True)
    parser.add_argument("--features", nargs="+", required=True,
                        help="feature Parquet parts or .manifest.json files")
    add_training_arguments(parser)
    parser.add_argument("--hidden", type=int, default=256,
                        help="paper: hidden units (the embedding width)")
    parser.add_argument("--input-dropout", type=float, default=0.5)
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="paper",
                        help="paper: the study's network; wide: JKU 2017's (options below)")
    wide = parser.add_argument_group("wide architecture (ignored by paper)")
    wide.add_argument("--branch-activations", type=activation_list,
                      default=list(DEFAULT_BRANCH_ACTIVATIONS),
                      help="one parallel branch per name (default relu,tanh,sigmoid)")
    wide.add_argument("--branches", type=positive_int, default=None,
                      help="number of branches, cycling through --branch-activations "
                           "(default: one per listed activation)")
    wide.add_argument("--branch-width", type=positive_int, default=4000)
    wide.add_argument("--top-width", type=positive_int, default=8000,
                      help="units of the top layer, which is also the embedding width")
    wide.add_argument("--batch-norm", choices=BATCH_NORM, default="top",
                      help="BatchNorm1d on the top layer only (JKU), on branches too, or none")
    wide.add_argument("--branch-dropout", type=float, default=None,
                      help="dropout on the concatenated branches (default: --dropout)")
    return parser


def network_params(args: argparse.Namespace) -> dict[str, Any]:
    """``GenreClassifier`` keyword arguments; the paper's are exactly those used before ``wide``."""
    params: dict[str, Any] = {"hidden": args.hidden, "dropout": args.dropout,
                              "input_dropout": args.input_dropout, "lr": args.lr,
                              "init": args.init}
    if args.architecture == "wide":
        activations = args.branch_activations
        if args.branches is not None:
            activations = list(itertools.islice(itertools.cycle(activations), args.branches))
        params |= {"architecture": "wide", "hidden": args.top_width,
                   "branch_width": args.branch_width, "branch_activations": activations,
                   "batch_norm": args.batch_norm, "branch_dropout": args.branch_dropout}
    return params


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    data = training_set(args.groundtruth, args.split, args.split_summary)
    if data.outside_labels:
        log.info("%d labels outside the model's outputs left out of the targets",
                 len(data.outside_labels))
    x, found = read_features(args.features, data.mbids)
    require_found(found, data.mbids, "features")
    check_finite(x, data.mbids, "features")
    log.info("%d fit + %d holdout recordings, %d features, %d labels", len(data.fit_rows),
             len(data.holdout_rows), x.shape[1], len(data.labels))
    params = network_params(args)
    log.info("network: %s", params)
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
