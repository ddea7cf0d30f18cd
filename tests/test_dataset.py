"""abgd.dataset.load on a small study folder written here.

Feature values encode their recording and column (``row * 10_000 + column``), labels and parts
are chosen here, so every expected array follows from the fixture, not from the reader.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from abgd import dataset
from abgd.features import FEATURE_NAMES, N_FEATURES
from abgd.io import write_json
from abgd.labels import make_groundtruth, write_groundtruth_parquet

VOCAB = ["jazz", "rock", "rock---punk"]


def mbid(i: int) -> str:
    return str(uuid.UUID(int=(i * 0x9E3779B97F4A7C15_0000_0001) % (1 << 128)))


def code(row: int) -> np.ndarray:
    return (row * 10_000 + np.arange(N_FEATURES)).astype(np.float32)


def write_part(path: Path, rows: list[int]) -> None:
    matrix = np.stack([code(r) for r in rows])
    arrays = [pa.array([mbid(r) for r in rows])]
    arrays += [pa.array(matrix[:, j]) for j in range(N_FEATURES)]
    schema = pa.schema([pa.field("mbid", pa.string())]
                       + [pa.field(n, pa.float32()) for n in FEATURE_NAMES])
    table = pa.Table.from_arrays(arrays, schema=schema).replace_schema_metadata(
        {"abgd.feature_schema_version": "1"})
    pq.write_table(table, path, row_group_size=3, write_statistics=["mbid"])


def labels_of(row: int) -> list[str]:
    return [["jazz"], ["rock"], ["rock", "rock---punk"], ["jazz", "blues"]][row % 4]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study") / "results" / "mini"
    (root / "features" / "train").mkdir(parents=True)
    (root / "groundtruth").mkdir()
    (root / "splits").mkdir()
    # two parts in unsorted row order; ground truth in yet another order
    parts = [root / "features" / "train" / "train-01.parquet",
             root / "features" / "train" / "train-23.parquet"]
    write_part(parts[0], [5, 1, 9, 3])
    write_part(parts[1], [0, 8, 2, 7, 4, 6])
    write_json(root / "features" / "train.manifest.json", {
        "feature_schema_version": 1,
        "parts": [{"path": f"results/mini/features/train/{p.name}", "bytes": p.stat().st_size}
                  for p in parts]})
    rows = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]
    write_groundtruth_parquet(make_groundtruth(
        [mbid(r) for r in rows], [mbid(100 + r // 2) for r in rows], [labels_of(r) for r in rows]),
        root / "groundtruth" / "src-train.parquet")
    write_json(root / "groundtruth" / "src.json", {"vocabulary": VOCAB})
    split = pd.DataFrame({"mbid": [mbid(r) for r in rows if r != 9],
                          "release_group": "x",
                          "part": ["holdout" if r % 3 == 0 else "fit" for r in rows if r != 9]})
    split.to_csv(root / "splits" / "src.tsv", sep="\t", index=False)
    return root


def test_rows_labels_and_parts_follow_the_study(study, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the manifest's relative paths must resolve from anywhere
    data = dataset.load(study, "src", "train")
    order = sorted(range(10), key=mbid)
    assert data.mbids == [mbid(r) for r in order]
    assert data.features.dtype == np.float32 and data.features.shape == (10, 2669)
    assert data.features.flags.c_contiguous
    np.testing.assert_array_equal(data.features, np.stack([code(r) for r in order]))
    assert data.label_names == VOCAB and data.labels.dtype == np.uint8
    expected = np.array([[label in labels_of(r) for label in VOCAB] for r in order], np.uint8)
    np.testing.assert_array_equal(data.labels, expected)
    assert data.outside_labels == {"blues": 2}  # rows 3 and 7
    assert data.release_groups == [mbid(100 + r // 2) for r in order]
    parts = ["none" if r == 9 else "holdout" if r % 3 == 0 else "fit" for r in order]
    assert data.part.tolist() == parts
    assert data.fit.tolist() == [i for i, p in enumerate(parts) if p == "fit"]
    assert data.holdout.tolist() == [i for i, p in enumerate(parts) if p == "holdout"]
    assert tuple(data.feature_names) == FEATURE_NAMES


def test_bad_arguments_are_named(study):
    with pytest.raises(ValueError, match="split must be one of"):
        dataset.load(study, "src", "test")
    with pytest.raises(FileNotFoundError, match=r"nope-train\.parquet"):
        dataset.load(study, "nope", "train")


def test_missing_features_are_an_error(study, tmp_path):
    copy = tmp_path / "results" / "mini"
    import shutil

    shutil.copytree(study, copy)
    write_part(copy / "features" / "train" / "train-23.parquet", [0, 8, 2, 7, 4])  # 6 gone
    manifest = copy / "features" / "train.manifest.json"
    parts = sorted((copy / "features" / "train").glob("*.parquet"))
    write_json(manifest, {"feature_schema_version": 1, "parts": [
        {"path": str(p), "bytes": p.stat().st_size} for p in parts]})
    with pytest.raises(ValueError, match=mbid(6)):
        dataset.load(copy, "src", "train")
