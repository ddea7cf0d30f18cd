"""Command-line arguments shared by the network training steps (library, no CLI).

``train_single`` and ``train_fusion`` read the same split and ground truth and train with the
same protocol, so their common flags and their mapping onto ``TrainConfig`` are written once
here. Torch-free at import (``TrainConfig`` loads when a config is built), so the defaults can
be checked without loading the training stack.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from abgd.progress import add_threads

if TYPE_CHECKING:
    from abgd.training import TrainConfig


def add_training_arguments(parser: argparse.ArgumentParser, dropout: float = 0.5) -> None:
    """The ground truth, split, output folder and training protocol flags of a network step
    (``-v/--verbose`` comes with the step's parser, ``abgd.progress.step_parser``)."""
    parser.add_argument("--groundtruth", required=True, help="training ground-truth Parquet")
    parser.add_argument("--split", required=True, help="split TSV (mbid, release_group, part)")
    parser.add_argument("--split-summary", required=True, help="split JSON ('labels' = outputs)")
    parser.add_argument("--out-dir", required=True, help="model folder to write")
    add_protocol_arguments(parser, dropout)


def add_protocol_arguments(parser: argparse.ArgumentParser, dropout: float = 0.5) -> None:
    """The training protocol flags every network step shares (seed, optimiser, stopping,
    threads, accelerator, initialisation), whatever inputs it reads."""
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dropout", type=float, default=dropout)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-epochs", type=int, default=100)
    parser.add_argument("--patience", type=int, default=4)
    add_threads(parser, None)
    parser.add_argument("--accelerator", default="auto", help="auto, cpu or gpu")
    parser.add_argument("--init", choices=["keras", "torch"], default="keras",
                        help="keras: U(-0.05, 0.05) weights and zero biases as the authors")


def config_from(args: argparse.Namespace) -> TrainConfig:
    """The ``TrainConfig`` of parsed ``add_training_arguments`` flags."""
    from abgd.training import TrainConfig

    return TrainConfig(seed=args.seed, batch_size=args.batch_size, max_epochs=args.max_epochs,
                       patience=args.patience, threads=args.threads,
                       accelerator=args.accelerator)
