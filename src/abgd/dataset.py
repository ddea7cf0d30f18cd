"""The converted dataset in your own code: ``load(results_dir, source, split)``.

What every team of the MediaEval task wrote for itself (a JSON → array converter, a label
binarizer, a train/holdout cut), read from a finished study's files instead:

* features: float32, ``n × 2669``, columns in :data:`abgd.features.FEATURE_NAMES` order, read
  from the converted Parquet parts straight into the final matrix one row group at a time
  (:func:`abgd.arrays.load_feature_matrix`), so peak memory is the matrix plus one row group;
* labels: a ``uint8`` multi-hot matrix over the source's *training* vocabulary (the labels a
  model can learn; ``groundtruth/<source>.json`` ``vocabulary``), so train and validation
  columns line up. Validation labels outside it are counted in ``outside_labels``;
* rows sorted by MBID, with each recording's release group and, for ``train``, its part of the
  study's split (``fit``, ``holdout``, or ``none`` for the few the split left out).

Library module: it needs no workflow, only ``results/<dataset>/`` as the study wrote it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from abgd.arrays import load_feature_matrix
from abgd.features import FEATURE_NAMES
from abgd.io import read_json
from abgd.labels import label_matrix_lenient, read_groundtruth_parquet

SPLITS = ("train", "validation")


@dataclass
class Dataset:
    """One source and split of a study, rows in MBID order."""

    features: np.ndarray  # float32 (n, 2669), FEATURE_NAMES order
    labels: np.ndarray  # uint8 (n, k) multi-hot over label_names
    label_names: list[str]
    mbids: list[str]
    release_groups: list[str]
    part: np.ndarray | None = None  # train only: "fit", "holdout" or "none" per row
    outside_labels: dict[str, int] = field(default_factory=dict)
    feature_names: tuple[str, ...] = FEATURE_NAMES

    @property
    def fit(self) -> np.ndarray:
        """Row indices of the fit part (train only)."""
        return self._rows("fit")

    @property
    def holdout(self) -> np.ndarray:
        """Row indices of the holdout part (train only)."""
        return self._rows("holdout")

    def _rows(self, name: str) -> np.ndarray:
        if self.part is None:
            raise ValueError("only the train split has fit/holdout parts")
        return np.flatnonzero(self.part == name)


def _split_parts(path: Path, mbids: list[str]) -> np.ndarray:
    import pandas as pd

    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if list(table.columns[:1]) != ["mbid"] or "part" not in table.columns:
        raise ValueError(f"{path}: not a split TSV (columns {list(table.columns)})")
    where = dict(zip(table["mbid"], table["part"], strict=True))
    unknown = set(where) - set(mbids)
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} recordings are not in the ground truth, "
                         f"e.g. {sorted(unknown)[:5]}")
    return np.array([where.get(m, "none") for m in mbids], dtype="<U7")


def load(results_dir: str | os.PathLike[str], source: str, split: str) -> Dataset:
    """Features, multi-hot labels, MBIDs, release groups (and train parts) of one source/split.

    ``results_dir`` is a study's ``results/<dataset>`` folder. Every recording of the ground
    truth has features (the ``groundtruth`` step keeps only those); a missing one is an error
    naming it, never a silently shorter matrix.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    root = Path(results_dir)
    truth_path = root / "groundtruth" / f"{source}-{split}.parquet"
    if not truth_path.is_file():
        raise FileNotFoundError(f"{truth_path}: no ground truth (is {root} a finished study, "
                                f"and {source!r} one of its sources?)")
    summary = read_json(root / "groundtruth" / f"{source}.json")
    vocabulary = list(summary["vocabulary"])
    truth = read_groundtruth_parquet(truth_path).sort_values("mbid", kind="stable")
    mbids = truth["mbid"].tolist()
    multi_hot, outside = label_matrix_lenient(truth["labels"], vocabulary)
    features, found = load_feature_matrix(root / "features" / f"{split}.manifest.json", mbids)
    if not found.all():
        missing = [mbids[i] for i in np.flatnonzero(~found)]
        raise ValueError(f"{root}/features/{split}: {len(missing)} recordings of {truth_path} "
                         f"have no features, e.g. {missing[:5]}")
    part = _split_parts(root / "splits" / f"{source}.tsv", mbids) if split == "train" else None
    return Dataset(features=features, labels=multi_hot.toarray().astype(np.uint8),
                   label_names=vocabulary, mbids=mbids,
                   release_groups=truth["release_group"].tolist(), part=part,
                   outside_labels=dict(outside))
