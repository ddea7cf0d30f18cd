"""Train the LightGBM models of one chunk of a source's labels; score holdout and validation.

One job = labels ``np.array_split(range(n_labels), K)[I]`` of the split summary's sorted
``labels``, one binary booster each, trained on the split's ``fit`` part and early-stopped on
its ``holdout`` part. The job writes the holdout and validation scores of its labels
(``abgd.predict``'s layout); ``abgd.merge_scores`` joins the K chunks.

Inputs by ``--kind``:

* ``single``: ``--features``, feature parts or manifests holding both the training and the
  validation recordings (e.g. ``train.manifest.json validation.manifest.json``).
* ``fusion`` (default inputs): ``--embeddings``, the single-source models' embedding files
  (one row per MBID, training and validation recordings); each file's block is L2-normalised
  per row, as the MLP fusion does, then the blocks are concatenated in the order given.
* ``fusion`` with ``--scores``: mbid-keyed score tables of the single-source models, stacked
  as they are (probabilities, no normalisation); each must cover every training and validation
  recording of this source. Embeddings are the default because they are the MLP fusion's
  inputs, which keeps the two fusion systems comparable.
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np

from abgd.inputs import (
    check_finite,
    read_embeddings,
    read_features,
    read_matrix,
    require_found,
    select_mbids,
    training_set,
)
from abgd.io import provenance
from abgd.lgbm import (
    LAYOUTS,
    PROVENANCE_KEY,
    BoostConfig,
    chunk_slice,
    l2_normalise_blocks,
    train_labels,
    write_score_table,
)
from abgd.progress import add_threads, parse_step_args, step_parser

log = logging.getLogger("abgd.train_lgbm")


def read_scores_blocks(paths: list[str], mbids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Stack score tables of any widths side by side; found = rows present in every file."""
    blocks, found = [], np.ones(len(mbids), dtype=bool)
    for path in paths:
        block, hit = read_matrix([path], mbids)
        blocks.append(block)
        found &= hit
    return np.concatenate(blocks, axis=1), found


def read_inputs(args: argparse.Namespace, mbids: list[str]) -> np.ndarray:
    """The model inputs of ``mbids``, in order; every recording must have them."""
    if args.features:
        what, (x, found) = "features", read_features(args.features, mbids)
    elif args.embeddings:
        what, (x, found) = "embeddings", read_embeddings(args.embeddings, mbids)
    else:
        what, (x, found) = "scores", read_scores_blocks(args.scores, mbids)
    require_found(found, mbids, what)
    check_finite(x, mbids, what)
    if args.embeddings:
        x = l2_normalise_blocks(x, len(args.embeddings))
    return np.ascontiguousarray(x, dtype=np.float32)


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.train_lgbm", description=__doc__, raw=True)
    parser.add_argument("--kind", choices=["single", "fusion"], required=True)
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--features", nargs="+", help="feature parts or manifests (single)")
    inputs.add_argument("--embeddings", nargs="+", help="embedding Parquet files (fusion)")
    inputs.add_argument("--scores", nargs="+", help="score Parquet files (fusion)")
    parser.add_argument("--groundtruth", required=True, help="training ground-truth Parquet")
    parser.add_argument("--validation-groundtruth", required=True,
                        help="validation ground-truth Parquet (recordings to score)")
    parser.add_argument("--split", required=True, help="split TSV (mbid, release_group, part)")
    parser.add_argument("--split-summary", required=True, help="split JSON ('labels')")
    parser.add_argument("--chunk", type=int, required=True, help="chunk index I, 0-based")
    parser.add_argument("--chunks", type=int, required=True, help="number of chunks K")
    parser.add_argument("--out-holdout", required=True, help="holdout scores Parquet")
    parser.add_argument("--out-validation", required=True, help="validation scores Parquet")
    parser.add_argument("--seed", type=int, default=0)
    add_threads(parser, 1)
    defaults = BoostConfig()
    parser.add_argument("--num-leaves", type=int, default=defaults.num_leaves)
    parser.add_argument("--max-bin", type=int, default=defaults.max_bin)
    parser.add_argument("--feature-fraction", type=float, default=defaults.feature_fraction)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--num-boost-round", type=int, default=defaults.num_boost_round)
    parser.add_argument("--early-stopping", type=int, default=defaults.early_stopping,
                        help="rounds without holdout log-loss gain before stopping (0: never)")
    parser.add_argument("--min-data-in-leaf", type=int, default=defaults.min_data_in_leaf)
    parser.add_argument("--layout", choices=LAYOUTS, default=defaults.layout,
                        help="histogram layout, force_row_wise or force_col_wise "
                             f"(default {defaults.layout}, the faster in the benchmark)")
    return parser


def config_from(args: argparse.Namespace) -> BoostConfig:
    return BoostConfig(num_leaves=args.num_leaves, max_bin=args.max_bin,
                       feature_fraction=args.feature_fraction, learning_rate=args.learning_rate,
                       num_boost_round=args.num_boost_round, early_stopping=args.early_stopping,
                       min_data_in_leaf=args.min_data_in_leaf, seed=args.seed,
                       threads=args.threads, layout=args.layout)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_step_args(parser, argv)
    if (args.kind == "single") != (args.features is not None):
        parser.error("--kind single takes --features; --kind fusion takes --embeddings or "
                     "--scores")
    data = training_set(args.groundtruth, args.split, args.split_summary)
    try:
        positions = chunk_slice(len(data.labels), args.chunks, args.chunk)
    except ValueError as error:
        parser.error(str(error))
    labels = [data.labels[i] for i in positions]
    fit_mbids = [data.mbids[i] for i in data.fit_rows]
    holdout_mbids = [data.mbids[i] for i in data.holdout_rows]
    validation_mbids = select_mbids(args.validation_groundtruth)
    log.info("chunk %d/%d: %d of %d labels; %d fit, %d holdout, %d validation recordings",
             args.chunk, args.chunks, len(labels), len(data.labels), len(fit_mbids),
             len(holdout_mbids), len(validation_mbids))
    x_fit = read_inputs(args, fit_mbids)
    x_holdout = read_inputs(args, holdout_mbids)
    x_validation = read_inputs(args, validation_mbids)
    columns = np.asarray(list(positions), dtype=np.int64)
    config = config_from(args)
    result = train_labels(x_fit, data.y[data.fit_rows][:, columns], x_holdout,
                          data.y[data.holdout_rows][:, columns], labels,
                          [x_holdout, x_validation], config)
    record = provenance("train_lgbm", vars(args),
                        [*(args.features or args.embeddings or args.scores), args.groundtruth,
                         args.validation_groundtruth, args.split, args.split_summary])
    record["constant_labels"] = result.constant_labels
    record["seconds"] = result.seconds
    record["trees"] = result.trees
    extra = {PROVENANCE_KEY: json.dumps(record, sort_keys=True, ensure_ascii=False,
                                        default=str)}
    write_score_table(args.out_holdout, holdout_mbids, labels, result.scores[0],
                      result.best_iterations, extra)
    write_score_table(args.out_validation, validation_mbids, labels, result.scores[1],
                      result.best_iterations, extra)
    log.info("%d labels (%d constant), %d trees: dataset %.1f s, training %.1f s",
             len(labels), len(result.constant_labels), result.trees,
             result.seconds["dataset"], result.seconds["train"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
