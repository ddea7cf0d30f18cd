"""Train or score a plug-in system (``custom_systems:`` in the config) on one source.

``train`` reads the source's split and inputs, hands the fit and holdout parts to the plug-in's
``train()`` and writes its model folder (``model/`` as the plug-in left it, ``labels.json``,
``metrics.json``). ``predict`` scores a ground-truth file (or one part of the split) with the
plug-in's ``predict()`` and writes the same scores table as the built-in systems, after checking
its shape and values. The contract is in ``docs/plugins.md``; failures name the plug-in.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from abgd.inputs import (
    check_finite,
    read_embeddings,
    read_features,
    require_found,
    select_mbids,
    training_set,
)
from abgd.io import provenance, read_json, write_json
from abgd.plugins import PluginError, check_scores, load
from abgd.progress import add_verbose, parse_step_args
from abgd.scores import write_scores

log = logging.getLogger("abgd.custom")


def read_inputs(features: list[str] | None, embeddings: list[str] | None,
                mbids: list[str]) -> np.ndarray:
    """Features, embeddings, or both side by side (features first) for ``mbids``."""
    blocks = []
    if features:
        x, found = read_features(features, mbids)
        require_found(found, mbids, "features")
        blocks.append(x)
    if embeddings:
        x, found = read_embeddings(embeddings, mbids)
        require_found(found, mbids, "embeddings")
        blocks.append(x)
    if not blocks:
        raise ValueError("give --features, --embeddings or both")
    x = blocks[0] if len(blocks) == 1 else np.hstack(blocks)
    check_finite(x, mbids, "inputs")
    return x


def train(name: str, spec: str, params: dict[str, Any], x: np.ndarray, y: np.ndarray,
          fit_rows: np.ndarray, holdout_rows: np.ndarray, labels: list[str], seed: int,
          out_dir: Path) -> dict[str, Any]:
    """Run the plug-in's ``train`` into a fresh folder that replaces ``out_dir/model`` only
    when it succeeds; returns the metrics it reported (a dict, possibly empty)."""
    plugin = load(name, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model.", dir=out_dir))
    try:
        reported = plugin.train(
            x_fit=x[fit_rows], y_fit=y[fit_rows], x_holdout=x[holdout_rows],
            y_holdout=y[holdout_rows], labels=list(labels), params=dict(params), seed=seed,
            model_dir=staging)
        if reported is not None and not isinstance(reported, dict):
            raise PluginError(f"custom system {name!r}: train() returned a "
                              f"{type(reported).__name__}, expected a dict of metrics or None")
        target = out_dir / "model"
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dict(reported or {})


def predict(name: str, spec: str, params: dict[str, Any], x: np.ndarray, labels: list[str],
            model_dir: Path) -> np.ndarray:
    """The plug-in's scores for the rows of ``x``, checked (shape, finite, within [0, 1])."""
    plugin = load(name, spec)
    scores = plugin.predict(x=x, labels=list(labels), params=dict(params), model_dir=model_dir)
    return check_scores(name, scores, x.shape[0], labels)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m abgd.custom", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("train", "predict"):
        sub = commands.add_parser(command)
        sub.add_argument("--name", required=True, help="the system's name (for messages)")
        sub.add_argument("--module", required=True, help="import path or .py file")
        sub.add_argument("--params", default="{}", help="the plug-in's parameters as JSON")
        sub.add_argument("--features", nargs="*", default=None,
                         help="feature Parquet parts or manifests")
        sub.add_argument("--embeddings", nargs="*", default=None,
                         help="embedding Parquet files, in order")
        sub.add_argument("--groundtruth", required=True, help="ground-truth Parquet")
        add_verbose(sub)
        if command == "train":
            sub.add_argument("--split", required=True, help="split TSV")
            sub.add_argument("--split-summary", required=True, help="split JSON ('labels')")
            sub.add_argument("--seed", type=int, default=0)
            sub.add_argument("--out-dir", required=True, help="model folder to write")
        else:
            sub.add_argument("--model-dir", required=True, help="the trained model folder")
            sub.add_argument("--split", help="split TSV, to score one part only")
            sub.add_argument("--part", choices=["fit", "holdout"], help="with --split")
            sub.add_argument("--out", required=True, help="scores Parquet to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_step_args(parser, argv)
    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as error:
        parser.error(f"--params is not JSON: {error}")
    if not isinstance(params, dict):
        parser.error("--params must be a JSON object")
    if args.command == "train":
        data = training_set(args.groundtruth, args.split, args.split_summary)
        x = read_inputs(args.features, args.embeddings, data.mbids)
        log.info("%s: %d fit + %d holdout recordings, %d inputs, %d labels", args.name,
                 len(data.fit_rows), len(data.holdout_rows), x.shape[1], len(data.labels))
        out = Path(args.out_dir)
        reported = train(args.name, args.module, params, x, data.y, data.fit_rows,
                         data.holdout_rows, data.labels, args.seed, out)
        write_json(out / "labels.json", data.labels)
        write_json(out / "metrics.json", {
            **reported, "system": args.name, "n_fit": len(data.fit_rows),
            "n_holdout": len(data.holdout_rows), "n_labels": len(data.labels),
            "n_inputs": int(x.shape[1]),
            "provenance": provenance("custom train", vars(args),
                                     [*(args.features or []), *(args.embeddings or []),
                                      args.groundtruth, args.split, args.split_summary]),
        })
        return 0
    if (args.split is None) != (args.part is None):
        parser.error("--split and --part go together")
    model_dir = Path(args.model_dir)
    labels = list(read_json(model_dir / "labels.json"))
    mbids = select_mbids(args.groundtruth, args.split, args.part)
    x = read_inputs(args.features, args.embeddings, mbids)
    scores = predict(args.name, args.module, params, x, labels, model_dir / "model")
    write_scores(args.out, mbids, labels, scores)
    log.info("%s: %d recordings × %d labels scored into %s", args.name, len(mbids), len(labels),
             args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
