"""Convert one source's official ground-truth TSVs to the Parquet files of the data contract.

Besides the conversion, the step writes a summary JSON that later steps and readers rely on:
the training vocabulary (the labels a model for this source can predict), orphan subgenres
(a subgenre whose parent genre is missing from the same row, which the taxonomy says cannot
happen, so they are counted rather than assumed absent) and validation labels that the
training file never uses (a model cannot predict them; evaluation must know they exist).

Given the feature manifests (`--train-features`, `--validation-features`), the Parquet files keep
only recordings whose features converted: a recording whose document the converter rejected can
be neither trained on nor scored. Every recording left out is listed in the summary under
`without_features`, so nothing disappears silently.
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from abgd import labels as lab
from abgd.io import provenance, write_json
from abgd.progress import parse_step_args, step_parser

if TYPE_CHECKING:  # annotations only; abgd.labels loads pandas when reading
    import pandas as pd

LOG = logging.getLogger("abgd.groundtruth")


def orphan_counts(label_lists: Iterable[list[str]]) -> tuple[dict[str, int], int]:
    """Per orphan subgenre, the number of rows where it lacks its parent; and rows affected."""
    counts: Counter[str] = Counter()
    rows = 0
    for labels in label_lists:
        orphans = lab.orphan_subgenres(labels)
        if orphans:
            rows += 1
            counts.update(orphans)
    return dict(sorted(counts.items())), rows


def split_counts(frame: pd.DataFrame) -> dict[str, Any]:
    label_lists = list(frame["labels"])
    orphans, orphan_rows = orphan_counts(label_lists)
    return {
        "recordings": len(frame),
        "release_groups": int(frame["release_group"].nunique()),
        "label_assignments": sum(len(x) for x in label_lists),
        "genre_assignments": sum(len(lab.genres(x)) for x in label_lists),
        "subgenre_assignments": sum(len(lab.subgenres(x)) for x in label_lists),
        "distinct_labels": len(lab.vocabulary(label_lists)),
        "orphan_subgenres": orphans,
        "rows_with_orphan_subgenres": orphan_rows,
    }


def summarize(train: pd.DataFrame, validation: pd.DataFrame, source: str) -> dict[str, Any]:
    """Everything the summary JSON says about one source, except provenance."""
    vocab = lab.vocabulary(train["labels"])
    _, outside = lab.label_matrix_lenient(validation["labels"], vocab)
    train_ids = set(train["mbid"])
    shared = [m for m in validation["mbid"] if m in train_ids]
    shared_groups = set(train["release_group"]) & set(validation["release_group"])
    return {
        "source": source,
        "vocabulary": vocab,
        "genres": lab.genres(vocab),
        "subgenres": lab.subgenres(vocab),
        "n_labels": len(vocab),
        "n_genres": len(lab.genres(vocab)),
        "n_subgenres": len(lab.subgenres(vocab)),
        "train": split_counts(train),
        "validation": split_counts(validation),
        "validation_labels_outside_vocabulary": outside,
        "recordings_in_train_and_validation": len(shared),
        "release_groups_in_train_and_validation": len(shared_groups),
    }


def restrict_to_features(frame: pd.DataFrame, available: set[str]) -> tuple[pd.DataFrame,
                                                                         list[str]]:
    """Rows whose MBID has features, and the sorted MBIDs of the rows left out."""
    keep = frame["mbid"].isin(available)
    return frame[keep].reset_index(drop=True), sorted(frame.loc[~keep, "mbid"])


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(
        prog="python -m abgd.groundtruth",
        description="Official ground-truth TSVs of one source -> Parquet + summary JSON.",
    )
    parser.add_argument("--train", required=True, help="training TSV (.tsv or .tsv.bz2)")
    parser.add_argument("--validation", required=True, help="validation TSV (.tsv or .tsv.bz2)")
    parser.add_argument("--source", required=True, help="source name (allmusic, discogs, ...)")
    parser.add_argument("--out-train", required=True, help="output Parquet for train")
    parser.add_argument("--out-validation", required=True, help="output Parquet for validation")
    parser.add_argument("--summary", required=True, help="output summary JSON")
    parser.add_argument("--train-features", nargs="+", default=None,
                        help="feature manifest(s)/Parquet of the training split: keep only "
                             "recordings with features")
    parser.add_argument("--validation-features", nargs="+", default=None,
                        help="feature manifest(s)/Parquet of the validation split")
    parser.add_argument("--no-header", action="store_true",
                        help="the TSVs have no header line (excerpts, test fixtures)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    header = not args.no_header
    train = lab.read_groundtruth_tsv(args.train, header=header)
    validation = lab.read_groundtruth_tsv(args.validation, header=header)
    summary = summarize(train, validation, args.source)
    summary["without_features"] = {}
    for name, paths in (("train", args.train_features), ("validation", args.validation_features)):
        if paths is None:
            continue
        from abgd.arrays import feature_mbids

        frame = train if name == "train" else validation
        kept, missing = restrict_to_features(frame, set(feature_mbids(paths)))
        summary["without_features"][name] = {"count": len(missing), "mbids": missing}
        if missing:
            LOG.warning("%s %s: %d of %d recordings have no features and are left out, e.g. %s",
                        args.source, name, len(missing), len(frame), ", ".join(missing[:5]))
        if name == "train":
            train = kept
        else:
            validation = kept
    summary["provenance"] = provenance(
        "groundtruth", {"source": args.source, "header": header},
        [args.train, args.validation],
    )
    lab.write_groundtruth_parquet(train, args.out_train)
    lab.write_groundtruth_parquet(validation, args.out_validation)
    write_json(args.summary, summary)
    LOG.info("%s: %d train / %d validation recordings, %d labels (%d genres), "
             "%d validation labels outside the vocabulary, %d train rows with orphans",
             args.source, len(train), len(validation), summary["n_labels"],
             summary["n_genres"], len(summary["validation_labels_outside_vocabulary"]),
             summary["train"]["rows_with_orphan_subgenres"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
