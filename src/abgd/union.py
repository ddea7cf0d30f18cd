"""The union of the sources' training sets, as one multi-task problem (numpy only).

With ``split.scope: global`` (the default) a recording is in the same part for every source
that annotates it; with ``split.scope: per_source`` (or the authors' per-source lists) each
source draws its own parts, so one recording can sit in the fit part of one source and the
holdout part of another. The union is therefore described cell by cell, which covers both:
``parts[i, s]`` says whether recording ``i`` is absent from
source ``s`` (0), in its fit part (1) or in its holdout part (2). Training counts the loss of a
head only on fit cells, early stopping only on holdout cells, and each source's holdout scores
(for its thresholds) are those of its own holdout recordings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abgd.inputs import training_set
from abgd.nets import head_label

ABSENT, FIT, HOLDOUT = 0, 1, 2


@dataclass
class Union:
    mbids: list[str]  # sorted, distinct
    y: np.ndarray  # uint8, recordings × all heads' labels
    labels: list[str]  # "<source>:<label>", head after head
    heads: list[str]  # the sources, in order
    head_of_label: np.ndarray  # int64, which head each output belongs to
    parts: np.ndarray  # uint8, recordings × heads: ABSENT, FIT or HOLDOUT
    outside_labels: dict[str, dict[str, int]]

    def rows(self, part: int) -> np.ndarray:
        """Recordings with at least one cell in ``part``."""
        return np.flatnonzero((self.parts == part).any(axis=1))

    def head_rows(self, head: int, part: int) -> np.ndarray:
        return np.flatnonzero(self.parts[:, head] == part)

    def crossing(self) -> int:
        """Recordings in the fit part of one source and the holdout part of another."""
        return int(((self.parts == FIT).any(axis=1) & (self.parts == HOLDOUT).any(axis=1)).sum())


def assemble(sources: Sequence[str], groundtruths: Sequence[str | os.PathLike[str]],
             splits: Sequence[str | os.PathLike[str]],
             summaries: Sequence[str | os.PathLike[str]]) -> Union:
    """One row per distinct recording of the sources' splits, targets side by side."""
    if not (len(sources) == len(groundtruths) == len(splits) == len(summaries)):
        raise ValueError("give one ground truth, split and split summary per source")
    if len(set(sources)) != len(sources) or any(":" in s for s in sources):
        raise ValueError(f"sources must be distinct and hold no ':': {list(sources)}")
    sets = [training_set(g, p, m) for g, p, m in zip(groundtruths, splits, summaries,
                                                      strict=True)]
    mbids = sorted(set().union(*(s.mbids for s in sets)))
    where = {mbid: i for i, mbid in enumerate(mbids)}
    widths = [len(s.labels) for s in sets]
    y = np.zeros((len(mbids), sum(widths)), dtype=np.uint8)
    parts = np.zeros((len(mbids), len(sources)), dtype=np.uint8)
    labels: list[str] = []
    offset = 0
    for h, (source, data) in enumerate(zip(sources, sets, strict=True)):
        rows = np.fromiter((where[m] for m in data.mbids), dtype=np.int64, count=len(data.mbids))
        y[rows, offset:offset + widths[h]] = data.y
        parts[rows[data.fit_rows], h] = FIT
        parts[rows[data.holdout_rows], h] = HOLDOUT
        labels += [head_label(source, label) for label in data.labels]
        offset += widths[h]
    head_of_label = np.repeat(np.arange(len(sources)), widths)
    return Union(mbids=mbids, y=y, labels=labels, heads=list(sources),
                 head_of_label=head_of_label, parts=parts,
                 outside_labels={s: d.outside_labels for s, d in zip(sources, sets, strict=True)})
