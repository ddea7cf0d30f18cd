"""Sigmoid scores of a trained model for the recordings of a ground-truth file.

Every requested recording must have inputs: the workflow restricts ground truth to recordings
with features beforehand, so a missing one here is an error (how many, and the first few),
never a silently shorter score table.
"""

from __future__ import annotations

import argparse
import logging

# Lightning-free imports only: each prediction job would pay seconds for ``import lightning``.
from abgd.inference import configure_torch, load_network, score_rows
from abgd.inputs import check_finite, read_embeddings, read_features, require_found, select_mbids
from abgd.nets import GenreNetMixin, head_columns
from abgd.progress import add_threads, parse_step_args, step_parser
from abgd.scores import write_scores

log = logging.getLogger("abgd.predict")


def check_kind(module: GenreNetMixin, kind: str, model_dir: str) -> None:
    multitask = "heads" in module.hparams
    if multitask != (kind == "multitask"):
        raise ValueError(f"{model_dir}: {'a' if multitask else 'not a'} multi-task model, "
                         f"--kind {kind}")
    if multitask:
        return
    fusion = bool(module.hparams["l2_blocks"])
    if fusion != (kind == "fusion"):
        raise ValueError(f"{model_dir}: a {'fusion' if fusion else 'single'} model, "
                         f"not --kind {kind}")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.predict", description=__doc__)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--kind", choices=["single", "fusion", "multitask"], required=True)
    parser.add_argument("--head", help="multitask: the source whose head to score")
    inputs = parser.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--features", nargs="+", help="feature Parquet parts or manifests")
    inputs.add_argument("--embeddings", nargs="+", help="embedding Parquet files, in order")
    parser.add_argument("--groundtruth", required=True, help="ground-truth Parquet")
    parser.add_argument("--split", help="split TSV, to score one part only")
    parser.add_argument("--part", choices=["fit", "holdout"], help="with --split")
    parser.add_argument("--out", required=True, help="scores Parquet to write")
    parser.add_argument("--batch-size", type=int, default=4096)
    add_threads(parser, None)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_step_args(parser, argv)
    if (args.split is None) != (args.part is None):
        parser.error("--split and --part go together")
    if (args.kind != "fusion") != (args.features is not None):
        parser.error("--kind single/multitask take --features, --kind fusion takes --embeddings")
    if (args.kind == "multitask") != (args.head is not None):
        parser.error("--head goes with --kind multitask (and only with it)")
    configure_torch(args.threads, "cpu")
    module = load_network(args.model_dir)
    check_kind(module, args.kind, args.model_dir)
    mbids = select_mbids(args.groundtruth, args.split, args.part)
    what = "embeddings" if args.kind == "fusion" else "features"
    if args.kind != "fusion":
        x, found = read_features(args.features, mbids)
    else:
        x, found = read_embeddings(args.embeddings, mbids)
    require_found(found, mbids, what)
    if x.shape[1] != module.hparams["n_inputs"]:
        raise ValueError(f"{what} have width {x.shape[1]}, the model expects "
                         f"{module.hparams['n_inputs']}")
    check_finite(x, mbids, what)
    scores = score_rows(module, x, batch_size=args.batch_size)
    labels = module.labels
    if args.kind == "multitask":
        columns, labels = head_columns(module.labels, args.head)
        scores = scores[:, columns]
    write_scores(args.out, mbids, labels, scores)
    log.info("%d recordings × %d labels scored into %s", len(mbids), len(labels),
             args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
