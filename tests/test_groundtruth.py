"""Tests of the groundtruth step: Parquet, summary JSON, orphans, out-of-vocabulary labels."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from abgd import groundtruth
from abgd.io import read_json

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "groundtruth"
EXCERPT = "reconstructed_from_mirdata_index.acousticbrainz-mediaeval-{}-{}.excerpt.tsv"
HEADER = "recordingmbid\treleasegroupmbid\tgenre1\tgenre2\tgenre3\n"


def _uuid(i: int) -> str:
    return f"{i:08x}-1111-4111-8111-111111111111"


def _run(tmp_path: Path, train: Path, validation: Path, *extra: str) -> dict:
    code = groundtruth.main([
        "--train", str(train), "--validation", str(validation), "--source", "discogs",
        "--out-train", str(tmp_path / "out" / "discogs-train.parquet"),
        "--out-validation", str(tmp_path / "out" / "discogs-validation.parquet"),
        "--summary", str(tmp_path / "out" / "discogs.json"), *extra,
    ])
    assert code == 0
    return read_json(tmp_path / "out" / "discogs.json")


@pytest.mark.realdata
def test_real_discogs_excerpts(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/data not available")
    train = tmp_path / "train.tsv"
    validation = tmp_path / "validation.tsv"
    for name, path in (("train", train), ("validation", validation)):
        body = (SHARED / EXCERPT.format("discogs", name)).read_text(encoding="utf-8")
        path.write_text(HEADER + body, encoding="utf-8")
    summary = _run(tmp_path, train, validation)
    # Labels of the two discogs-train rows, sorted by hand (' ' < '-' < letters).
    assert summary["vocabulary"] == [
        "electronic", "electronic---ambient", "electronic---dark ambient", "rock",
        "rock---brit pop", "stage & screen", "stage & screen---soundtrack"]
    assert summary["genres"] == ["electronic", "rock", "stage & screen"]
    assert summary["n_subgenres"] == 4
    assert summary["train"]["recordings"] == 2
    assert summary["validation"]["label_assignments"] == 5
    # discogs-validation uses classical, classical---contemporary, rock, rock---folk rock,
    # rock---prog rock; only 'rock' occurs in train.
    assert summary["validation_labels_outside_vocabulary"] == {
        "classical": 1, "classical---contemporary": 1, "rock---folk rock": 1,
        "rock---prog rock": 1}
    assert summary["provenance"]["step"] == "groundtruth"
    table = pq.read_table(tmp_path / "out" / "discogs-train.parquet")
    assert table.column_names == ["mbid", "release_group", "labels"]
    assert str(table.schema.field("labels").type) == "list<element: string>"
    assert table.column("labels").to_pylist()[1] == ["rock", "rock---brit pop"]


def test_orphans_counted_and_no_header_option(tmp_path: Path) -> None:
    train = tmp_path / "t.tsv"
    train.write_text(
        f"{_uuid(1)}\t{_uuid(11)}\trock\trock---indie\tpop---ballad\n"
        f"{_uuid(2)}\t{_uuid(12)}\tjazz---bigband\t\t\n"
        f"{_uuid(3)}\t{_uuid(12)}\tjazz\tjazz---bigband\t\n", encoding="utf-8")
    validation = tmp_path / "v.tsv"
    validation.write_text(f"{_uuid(4)}\t{_uuid(13)}\tfolk, world, & country\t\t\n",
                          encoding="utf-8")
    summary = _run(tmp_path, train, validation, "--no-header")
    assert summary["train"]["orphan_subgenres"] == {"jazz---bigband": 1, "pop---ballad": 1}
    assert summary["train"]["rows_with_orphan_subgenres"] == 2
    assert summary["train"]["release_groups"] == 2
    assert summary["validation_labels_outside_vocabulary"] == {"folk, world, & country": 1}


def test_bad_input_fails_with_file_name(tmp_path: Path) -> None:
    train = tmp_path / "t.tsv"
    train.write_text(HEADER + f"{_uuid(1)}\t{_uuid(2)}\trock\n{_uuid(1)}\t{_uuid(2)}\tpop\n",
                     encoding="utf-8")
    with pytest.raises(ValueError, match=rf"t\.tsv.*{_uuid(1)}"):
        _run(tmp_path, train, train)
    assert not (tmp_path / "out" / "discogs.json").exists()


def test_help_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "abgd.groundtruth", "--help"],
                            capture_output=True, text=True, check=True)
    assert "--out-validation" in result.stdout


def test_recordings_without_features_are_left_out_and_listed() -> None:
    import pandas as pd

    from abgd.groundtruth import restrict_to_features

    frame = pd.DataFrame({"mbid": ["b", "a", "c"], "release_group": ["r", "r", "s"],
                          "labels": [["rock"], ["pop"], ["jazz"]]})
    kept, missing = restrict_to_features(frame, {"a", "c", "zzz"})
    assert list(kept["mbid"]) == ["a", "c"]
    assert missing == ["b"]
    assert len(kept) + len(missing) == len(frame)
