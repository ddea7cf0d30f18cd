"""Split one source's official training set into ``fit`` and ``holdout`` by release group.

The baseline trains on 80 % of the training set and early-stops on the other 20 %, cut by
release group so that tracks of one album never sit on both sides (an "album effect" would
make the hold-out loss optimistic). This module does that split and then enforces minimum
label counts, because a label with (almost) no hold-out examples gives a meaningless threshold
and a label with few training examples gives a meaningless output unit.

Where the parts come from (``--assignment``, the workflow's default ``split.scope: global``):
one release group → part table drawn once for all sources by ``abgd.split_groups`` (see
``abgd.partition``), so that an album is in the same part for every source and the fusion
holdout holds no recording that a single-source model was fitted on. Without it
(``split.scope: per_source``, the participants' script) the source draws its own split:
the distinct release-group MBIDs are sorted, permuted with
``numpy.random.default_rng(seed).permutation``, and the first ``n - round(holdout_fraction *
n)`` of the permutation go to ``fit``, the rest to ``holdout`` (with at least one release group
in each part when there are two or more). Either way recordings follow their release group,
the draw does not depend on input row order, and the fraction is a fraction of release
groups, not of recordings.

Minimum counts, and how they differ from the organisers' ``participant_split_data.py``: a label
is removed when it has fewer than ``min_fit`` recordings in fit, fewer than ``min_holdout`` in
holdout, or fewer than ``min_release_groups`` distinct release groups in either part. A subgenre
whose parent genre is removed is removed too (a subgenre output without its genre would break
the taxonomy the decoder relies on); a subgenre whose parent never occurs in the data is not
affected by that rule. Removed labels are taken off every recording and recordings left without
any label are dropped and counted; the original script keeps them (with an empty label), and it
has neither the parent rule nor a release-group minimum.

The rules are applied in passes until a pass removes nothing, as asked of this step. Note that
with these rules a second removing pass never happens: a recording is dropped only once all its
labels are gone, so dropping it cannot lower the count of a label that survives, and the parent
rule is closed within the pass. ``iterations`` (counting passes, the last one removing nothing)
is therefore 1 when nothing is removed and 2 otherwise; the loop stays as a guard should a rule
that does interact (e.g. a minimum on a share) be added.

``--from-file`` replaces the random split by the authors' published lists
(``*.recordingmbid``: header ``recordingmbid``, one MBID per line); listed MBIDs absent from the
ground truth and ground-truth MBIDs in neither list are reported (the latter are dropped), and
release groups found on both sides are counted rather than fixed.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from abgd import labels as lab
from abgd import partition
from abgd.io import provenance, write_json
from abgd.progress import parse_step_args, step_parser

if TYPE_CHECKING:  # pandas loads in the functions that build frames
    import pandas as pd

LOG = logging.getLogger("abgd.split")
FIT, HOLDOUT = partition.FIT, partition.HOLDOUT
PARTS = (FIT, HOLDOUT)
_EXAMPLES = 20


def assign_release_groups(
    release_groups: Sequence[str], holdout_fraction: float, seed: int
) -> dict[str, str]:
    """Map each distinct release group to ``fit`` or ``holdout`` (the per-source draw).

    Every release group is its own component of ``abgd.partition.assign_components``.
    """
    return partition.assign_components({g: g for g in set(release_groups)}, holdout_fraction,
                                       seed)


def parts_from_assignment(
    release_groups: Sequence[str], assignment: dict[str, str], origin: str = "assignment"
) -> list[str]:
    """Part of each row from a global release group → part table; a missing group is an error."""
    missing = sorted({g for g in release_groups if g not in assignment})
    if missing:
        raise ValueError(f"{origin}: {len(missing)} release group(s) of the ground truth are "
                         f"not assigned (made from other ground truths?): "
                         f"{', '.join(missing[:_EXAMPLES])}")
    return [assignment[g] for g in release_groups]


@dataclass
class MinimumCountResult:
    """Outcome of ``apply_minimum_counts``; indices refer to the input rows."""

    kept_labels: list[list[str]]  # per input row, the labels that survive (empty = dropped)
    keep_row: np.ndarray  # bool per input row
    labels: list[str]  # surviving labels, sorted
    removed: dict[str, dict[str, Any]] = field(default_factory=dict)
    iterations: int = 0  # counting passes, the last of which removed nothing


def _label_counts(
    codes: np.ndarray, rows: np.ndarray, part: np.ndarray, group: np.ndarray,
    mask: np.ndarray, n_labels: int, n_groups: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Recordings and distinct release groups per (label, part), as (n_labels, 2) arrays."""
    c, r = codes[mask], rows[mask]
    key = c * 2 + part[r]
    recordings = np.bincount(key, minlength=2 * n_labels).reshape(n_labels, 2)
    pairs = np.unique(key * max(n_groups, 1) + group[r])
    groups = np.bincount(pairs // max(n_groups, 1), minlength=2 * n_labels).reshape(n_labels, 2)
    return recordings, groups


def apply_minimum_counts(
    label_lists: Sequence[Sequence[str]],
    parts: Sequence[str],
    release_groups: Sequence[str],
    min_fit: int,
    min_holdout: int,
    min_release_groups: int,
) -> MinimumCountResult:
    """Remove labels below the minimums until stable (see module docstring for the rules)."""
    n_rows = len(label_lists)
    if not n_rows == len(parts) == len(release_groups):
        raise ValueError("label_lists, parts and release_groups must have the same length")
    bad_parts = sorted(set(parts) - set(PARTS))
    if bad_parts:
        raise ValueError(f"unknown part name(s) {bad_parts}; expected {PARTS}")
    vocab = lab.vocabulary(label_lists)
    index = {label: i for i, label in enumerate(vocab)}
    n_labels = len(vocab)
    lengths = np.fromiter((len(x) for x in label_lists), dtype=np.int64, count=n_rows)
    codes = np.fromiter((index[x] for labels in label_lists for x in labels),
                        dtype=np.int64, count=int(lengths.sum()))
    rows = np.repeat(np.arange(n_rows, dtype=np.int64), lengths)
    part = np.fromiter((p == HOLDOUT for p in parts), dtype=np.int64, count=n_rows)
    group_names, group = np.unique(np.asarray(release_groups, dtype=object).astype(str),
                                   return_inverse=True)
    parent_code = np.array([index.get(lab.parent(x) or "", -1) if lab.is_subgenre(x) else -1
                            for x in vocab], dtype=np.int64)
    has_parent = parent_code >= 0

    active_label = np.ones(n_labels, dtype=bool)
    active_row = lengths > 0
    removed: dict[str, dict[str, Any]] = {}
    iterations = 0
    minimum = np.array([min_fit, min_holdout])
    while True:
        iterations += 1
        mask = active_label[codes] & active_row[rows]
        active_row &= np.bincount(rows[mask], minlength=n_rows) > 0
        recs, grps = _label_counts(codes, rows, part, group, mask, n_labels, len(group_names))
        below = ((recs < minimum) | (grps < min_release_groups)).any(axis=1)
        bad = active_label & below
        gone = ~active_label | bad
        while True:  # a parent's removal removes its subgenres, in the same pass
            orphaned = active_label & ~gone & has_parent & gone[np.maximum(parent_code, 0)]
            if not orphaned.any():
                break
            gone |= orphaned
        newly = active_label & gone
        if not newly.any():
            break
        for i in np.flatnonzero(newly):
            reason = "parent removed" if not bad[i] else "below minimum"
            removed[vocab[i]] = {
                FIT: int(recs[i, 0]), HOLDOUT: int(recs[i, 1]),
                "fit_release_groups": int(grps[i, 0]),
                "holdout_release_groups": int(grps[i, 1]),
                "iteration": iterations, "reason": reason,
            }
        active_label &= ~newly

    kept = [[x for x in labels if active_label[index[x]]] if active_row[i] else []
            for i, labels in enumerate(label_lists)]
    keep_row = np.array([bool(x) for x in kept], dtype=bool)
    return MinimumCountResult(
        kept_labels=kept, keep_row=keep_row,
        labels=[x for i, x in enumerate(vocab) if active_label[i]],
        removed=removed, iterations=iterations,
    )


def read_recordingmbid_list(path: str | os.PathLike[str]) -> list[str]:
    """Read an authors' ``*.recordingmbid`` list: header ``recordingmbid``, one MBID per line."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        lines = [line.strip() for line in handle]
    if not lines or lines[0] != "recordingmbid":
        raise ValueError(f"{path}: line 1 should be the header 'recordingmbid'")
    mbids: list[str] = []
    seen: set[str] = set()
    for number, mbid in enumerate(lines[1:], start=2):
        if not mbid:
            continue
        if not lab.UUID_RE.fullmatch(mbid):
            raise ValueError(f"{path}: line {number}: {mbid!r} is not a lowercase UUID")
        if mbid in seen:
            raise ValueError(f"{path}: line {number}: duplicate MBID {mbid}")
        seen.add(mbid)
        mbids.append(mbid)
    return mbids


def parts_from_lists(
    mbids: Sequence[str], fit_list: Sequence[str], holdout_list: Sequence[str]
) -> tuple[list[str | None], dict[str, Any]]:
    """Part of each recording from published lists, and what did not match (reported)."""
    both = sorted(set(fit_list) & set(holdout_list))
    if both:
        raise ValueError(f"{len(both)} MBID(s) listed in both fit and holdout lists: "
                         f"{', '.join(both[:_EXAMPLES])}")
    lookup = {m: FIT for m in fit_list} | {m: HOLDOUT for m in holdout_list}
    parts = [lookup.get(m) for m in mbids]
    present = set(mbids)
    absent = {name: sorted(m for m in listed if m not in present)
              for name, listed in ((FIT, fit_list), (HOLDOUT, holdout_list))}
    unassigned = sorted(m for m, p in zip(mbids, parts, strict=True) if p is None)
    report = {
        "listed_but_absent": {k: len(v) for k, v in absent.items()},
        "listed_but_absent_examples": {k: v[:_EXAMPLES] for k, v in absent.items()},
        "unassigned_recordings": len(unassigned),
        "unassigned_examples": unassigned[:_EXAMPLES],
    }
    return parts, report


def _sizes(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    return {
        p: {"recordings": int((frame["part"] == p).sum()),
            "release_groups": int(frame.loc[frame["part"] == p, "release_group"].nunique())}
        for p in PARTS
    }


def make_split(
    groundtruth: pd.DataFrame,
    seed: int,
    holdout_fraction: float = 0.2,
    min_fit: int = 20,
    min_holdout: int = 10,
    min_release_groups: int = 1,
    parts: Sequence[str | None] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The split table (``mbid, release_group, part``, sorted by MBID) and its summary.

    ``parts`` (one per ground-truth row, ``None`` = in neither list) replaces the random split.
    """
    import pandas as pd

    mbids = list(groundtruth["mbid"])
    groups = list(groundtruth["release_group"])
    label_lists = [list(x) for x in groundtruth["labels"]]
    if parts is None:
        assignment = assign_release_groups(groups, holdout_fraction, seed)
        parts = [assignment[g] for g in groups]
    assigned = np.array([p is not None for p in parts], dtype=bool)
    idx = np.flatnonzero(assigned)
    initial = pd.DataFrame({"release_group": [groups[i] for i in idx],
                            "part": [parts[i] for i in idx]})
    result = apply_minimum_counts([label_lists[i] for i in idx], [parts[i] for i in idx],
                                  [groups[i] for i in idx], min_fit, min_holdout,
                                  min_release_groups)
    kept_idx = idx[result.keep_row]
    table = pd.DataFrame({
        "mbid": [mbids[i] for i in kept_idx],
        "release_group": [groups[i] for i in kept_idx],
        "part": [parts[i] for i in kept_idx],
    }).sort_values("mbid", kind="stable").reset_index(drop=True)
    dropped = [mbids[i] for i in idx[~result.keep_row]]
    fit_groups = set(initial.loc[initial["part"] == FIT, "release_group"])
    hold_groups = set(initial.loc[initial["part"] == HOLDOUT, "release_group"])
    summary: dict[str, Any] = {
        "labels": result.labels,
        "n_labels": len(result.labels),
        "removed_labels": result.removed,
        "dropped_recordings": len(dropped),
        "dropped_examples": sorted(dropped)[:_EXAMPLES],
        "input_recordings": len(mbids),
        "unassigned_recordings": int((~assigned).sum()),
        "sizes_before": _sizes(initial),
        "sizes": _sizes(table),
        "release_groups_in_both_parts": len(fit_groups & hold_groups),
        "iterations": result.iterations,
        "seed": seed,
        "parameters": {"holdout_fraction": holdout_fraction, "min_fit": min_fit,
                       "min_holdout": min_holdout, "min_release_groups": min_release_groups},
    }
    return table, summary


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(
        prog="python -m abgd.split",
        description="Release-group-disjoint fit/holdout split of a training ground truth, "
                    "with iterated minimum label counts.",
    )
    parser.add_argument("--groundtruth", required=True, help="training ground-truth Parquet")
    parser.add_argument("--out", required=True, help="output split TSV")
    parser.add_argument("--summary", required=True, help="output summary JSON")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--holdout-fraction", type=float, default=0.2,
                        help="fraction of release groups in holdout (default 0.2)")
    parser.add_argument("--min-fit", type=int, default=20,
                        help="minimum recordings per label in fit (default 20)")
    parser.add_argument("--min-holdout", type=int, default=10,
                        help="minimum recordings per label in holdout (default 10)")
    parser.add_argument("--min-release-groups", type=int, default=1,
                        help="minimum distinct release groups per label in each part (default 1)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--from-file", nargs=2, metavar=("FIT", "HOLDOUT"),
                        help="published *.recordingmbid lists instead of the random split")
    source.add_argument("--assignment",
                        help="release group -> part TSV drawn for all sources by "
                             "abgd.split_groups (split.scope: global); without it and without "
                             "--from-file this source draws its own split (per_source)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    groundtruth = lab.read_groundtruth_parquet(args.groundtruth)
    parts = None
    list_report: dict[str, Any] | None = None
    inputs = [args.groundtruth]
    if args.from_file:
        fit_list = read_recordingmbid_list(args.from_file[0])
        holdout_list = read_recordingmbid_list(args.from_file[1])
        parts, list_report = parts_from_lists(list(groundtruth["mbid"]), fit_list, holdout_list)
        inputs += list(args.from_file)
    elif args.assignment:
        parts = parts_from_assignment(list(groundtruth["release_group"]),
                                      partition.read_assignment(args.assignment),
                                      f"{args.groundtruth} vs {args.assignment}")
        inputs.append(args.assignment)
    table, summary = make_split(groundtruth, args.seed, args.holdout_fraction, args.min_fit,
                                args.min_holdout, args.min_release_groups, parts)
    summary["mode"] = "from-file" if args.from_file else "random"
    summary["scope"] = ("global" if args.assignment
                        else "published lists" if args.from_file else "per_source")
    if list_report is not None:
        summary["from_file"] = list_report
    summary["provenance"] = provenance("split", {**summary["parameters"], "seed": args.seed,
                                                 "mode": summary["mode"],
                                                 "scope": summary["scope"]}, inputs)
    partition.write_split_tsv(table, args.out)
    write_json(args.summary, summary)
    LOG.info("%s: fit %d / holdout %d recordings, %d labels kept, %d removed, %d recordings "
             "dropped, %d passes", args.groundtruth, summary["sizes"][FIT]["recordings"],
             summary["sizes"][HOLDOUT]["recordings"], summary["n_labels"],
             len(summary["removed_labels"]), summary["dropped_recordings"],
             summary["iterations"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
