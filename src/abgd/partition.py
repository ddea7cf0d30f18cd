"""Fit/holdout assignment of release groups, shared by every source (library, no CLI).

Why one assignment for all sources: the fusion model of a source is early-stopped and
thresholded on that source's holdout, but its inputs are the embeddings of all four
single-source models. If each source drew its own 80/20 split, a holdout album of one source
would be training data of another source's model, and the fusion holdout would score the
album effect the release-group split exists to avoid. The organisers' own train / validation /
test partition is global in the same way (dataset-spec §5.1).

Release groups are linked when one recording is listed under both (different sources may
attach a recording to different release groups); linked groups form connected components, and
every component goes to one part as a whole, so no recording and no release group is fit for
one source and holdout for another. Only the training sets are linked: validation recordings
never enter fit or holdout, and the official partition keeps them apart from training release
groups anyway.

The draw, reproducible and independent of row order: components are named by their smallest
release-group MBID, sorted, and permuted with ``numpy.random.default_rng(seed).permutation``;
walking the permutation, a component goes to ``fit`` while fewer than
``n - round(holdout_fraction * n)`` release groups are in ``fit`` (n = release groups over all
sources), the rest go to ``holdout``. With two or more components each part gets at least one.
When no two release groups are linked this is exactly the per-source draw of one release
group at a time, so one source alone is split as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from abgd.io import atomic_open

if TYPE_CHECKING:  # pandas loads in the functions that read tables
    import pandas as pd

FIT, HOLDOUT = "fit", "holdout"
PARTS = (FIT, HOLDOUT)
ASSIGNMENT_HEADER = ("release_group", "component", "part")
SPLIT_HEADER = ("mbid", "release_group", "part")


def release_group_components(
    pairs: Iterable[tuple[Sequence[str], Sequence[str]]],
) -> dict[str, str]:
    """Map every release group to its component's name (the smallest MBID in it).

    ``pairs`` holds one ``(recording MBIDs, release-group MBIDs)`` per source, row-aligned.
    """
    import pandas as pd

    frames = [pd.DataFrame({"mbid": np.asarray(m, dtype=object),
                            "release_group": np.asarray(g, dtype=object)})
              for m, g in pairs]
    table = pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame({"mbid": [], "release_group": []}, dtype=object)
    names = np.sort(table["release_group"].astype(str).unique())
    if len(names) == 0:
        return {}
    node = np.searchsorted(names, table["release_group"].astype(str).to_numpy())
    # Link every release group of a recording to the first (smallest) one of that recording.
    first = pd.Series(node).groupby(table["mbid"].astype(str).to_numpy()).transform("min")
    graph = sparse.coo_matrix((np.ones(len(node), dtype=np.int8), (first.to_numpy(), node)),
                              shape=(len(names), len(names))).tocsr()
    _, label = connected_components(graph, directed=False)
    # Labels run 0..k-1 and names are sorted: a label's first index is its smallest MBID.
    _, first_index = np.unique(label, return_index=True)
    return dict(zip(names.tolist(), names[first_index[label]].tolist(), strict=True))


def assign_components(components: Mapping[str, str], holdout_fraction: float,
                      seed: int) -> dict[str, str]:
    """Part of every release group, whole components at a time (see the module docstring)."""
    if not 0.0 <= holdout_fraction <= 1.0:
        raise ValueError(f"holdout fraction must be in [0, 1], got {holdout_fraction}")
    keys = sorted(set(components.values()))
    sizes: dict[str, int] = {}
    for key in components.values():
        sizes[key] = sizes.get(key, 0) + 1
    n = len(components)
    n_holdout = round(holdout_fraction * n)
    if len(keys) >= 2 and 0.0 < holdout_fraction < 1.0:
        n_holdout = min(max(n_holdout, 1), n - 1)
    n_fit = n - n_holdout
    order = np.random.default_rng(seed).permutation(len(keys))
    part_of: dict[str, str] = {}
    in_fit = 0
    for i in order:
        key = keys[i]
        if in_fit < n_fit:
            part_of[key] = FIT
            in_fit += sizes[key]
        else:
            part_of[key] = HOLDOUT
    if len(keys) >= 2 and holdout_fraction > 0.0 and HOLDOUT not in part_of.values():
        part_of[keys[order[-1]]] = HOLDOUT  # a last component too large for the fit quota
    return {group: part_of[key] for group, key in components.items()}


def assignment_summary(components: Mapping[str, str], parts: Mapping[str, str]
                       ) -> dict[str, Any]:
    """Sizes of the draw: release groups and components per part, the largest component."""
    import pandas as pd

    sizes = pd.Series(list(components.values())).value_counts()
    return {
        "release_groups": len(components),
        "components": len(sizes),
        "largest_component": int(sizes.max()) if len(sizes) else 0,
        "linked_release_groups": int(sizes[sizes > 1].sum()),
        "release_groups_per_part": {p: sum(v == p for v in parts.values()) for p in PARTS},
    }


def write_assignment(components: Mapping[str, str], parts: Mapping[str, str],
                     path: str | os.PathLike[str]) -> None:
    """``release_group  component  part``, one line per release group, sorted."""
    with atomic_open(path) as handle:
        handle.write("\t".join(ASSIGNMENT_HEADER) + "\n")
        for group in sorted(components):
            handle.write(f"{group}\t{components[group]}\t{parts[group]}\n")


def read_assignment(path: str | os.PathLike[str]) -> dict[str, str]:
    """Release group → part from a file of ``write_assignment``."""
    frame = _read_parts_table(path, ASSIGNMENT_HEADER)
    if not frame["release_group"].is_unique:
        raise ValueError(f"{path}: a release group is listed twice")
    return dict(zip(frame["release_group"], frame["part"], strict=True))


def write_split_tsv(table: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """``mbid  release_group  part``, one line per recording, in the table's order."""
    with atomic_open(path) as handle:
        handle.write("\t".join(SPLIT_HEADER) + "\n")
        for mbid, group, part in zip(table["mbid"], table["release_group"], table["part"],
                                     strict=True):
            handle.write(f"{mbid}\t{group}\t{part}\n")


def read_split_tsv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a split file back (the training, threshold and LightGBM steps read it)."""
    return _read_parts_table(path, SPLIT_HEADER)


def _read_parts_table(path: str | os.PathLike[str], header: tuple[str, ...]) -> pd.DataFrame:
    """A TAB-separated table of strings with this exact header and known names in ``part``."""
    import pandas as pd

    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if tuple(frame.columns) != header:
        raise ValueError(f"{path}: header should be '{'<TAB>'.join(header)}'")
    bad = sorted(set(frame["part"]) - set(PARTS))
    if bad:
        raise ValueError(f"{path}: unknown part name(s) {bad}")
    return frame
