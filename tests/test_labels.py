"""Tests of abgd.labels: TSV reading (real excerpts), errors, vocabulary, matrices, round trips."""

from __future__ import annotations

import bz2
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abgd import labels as lab
from abgd.io import read_json, write_json

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "groundtruth"
EXCERPT = "reconstructed_from_mirdata_index.acousticbrainz-mediaeval-{}-{}.excerpt.tsv"
HEADER = "recordingmbid\treleasegroupmbid\tgenre1\tgenre2\n"
M1 = "6eafad9e-3e4e-4af7-ad2c-dba94cfedecf"
M2 = "bd523884-e1b7-4401-b882-743356fc0e33"
G1 = "fa7475c1-78a3-31e3-8b27-ca4fef89ba12"
G2 = "a3fb800d-a878-3406-8b62-d2b84cfba36e"

# First MBID prefix and labels of each real excerpt row, read by eye from the files.
EXPECTED = {
    ("allmusic", "train"): [
        ("6eafad9e", ["stage & screen", "stage & screen---film music",
                      "stage & screen---soundtracks", "stage & screen---television music",
                      "stage & screen---tv soundtracks"]),
        ("bd523884", ["pop/rock"]),
    ],
    ("allmusic", "validation"): [("7ded30da", ["classical", "classical---chamber music"]),
                                 ("aaa52449", ["blues"])],
    ("discogs", "train"): [
        ("6eafad9e", ["electronic", "electronic---ambient", "electronic---dark ambient",
                      "stage & screen", "stage & screen---soundtrack"]),
        ("8eed6eed", ["rock", "rock---brit pop"]),
    ],
    ("discogs", "validation"): [("7ded30da", ["classical", "classical---contemporary"]),
                                ("77c17f82", ["rock", "rock---folk rock", "rock---prog rock"])],
    ("lastfm", "train"): [("77a9cc42", ["instrumental"]), ("46c7f8fb", ["pop", "pop---dancepop"])],
    ("lastfm", "validation"): [("12d7776c", ["dance", "dance---club", "dance---eurodance"]),
                               ("8c5a3f2a", ["rock", "rock---alternative", "rock---hardrock"])],
    ("tagtraum", "train"): [("acf8fff1", ["jazz", "jazz---jazzvocals", "jazz---standards"]),
                            ("77a9cc42", ["easylistening", "jazz", "jazz---bigband"])],
    ("tagtraum", "validation"): [("be9e01e5", ["trance"]), ("896796e0", ["dubstep",
                                                                         "dubstep---bass"])],
}


def _need_shared() -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/data not available")


def test_subgenre_and_parent() -> None:
    assert lab.is_subgenre("rock---folk rock")
    assert not lab.is_subgenre("folk, world, & country")
    assert lab.parent("stage & screen---film music") == "stage & screen"
    assert lab.parent("rock") is None
    assert lab.parent("a---b---c") == "a"


def test_orphan_subgenres() -> None:
    assert lab.orphan_subgenres(["rock", "rock---indie", "pop---ballad"]) == ["pop---ballad"]
    assert lab.orphan_subgenres(["jazz", "jazz---bigband"]) == []


def test_vocabulary_uses_python_string_order() -> None:
    # ' ' (32) < '-' (45) < letters: the order of the authors' label matrices.
    vocab = lab.vocabulary([["blues---acoustic blues", "blues"], ["blues rock", "blues"]])
    assert vocab == ["blues", "blues rock", "blues---acoustic blues"]


def test_label_matrix_counts_labels_outside_vocabulary() -> None:
    matrix, outside = lab.label_matrix_lenient([["b", "a"], ["z"], ["a", "z", "y"]],
                                               ["a", "b", "c"])
    assert matrix.dtype == np.uint8
    expected = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0]], dtype=np.uint8)
    np.testing.assert_array_equal(matrix.toarray(), expected)
    assert outside == {"y": 1, "z": 2}


@pytest.mark.realdata
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_read_every_real_excerpt(key: tuple[str, str]) -> None:
    _need_shared()
    frame = lab.read_groundtruth_tsv(SHARED / EXCERPT.format(*key), header=False)
    assert list(frame.columns) == ["mbid", "release_group", "labels"]
    got = [(m[:8], labels) for m, labels in zip(frame["mbid"], frame["labels"], strict=True)]
    assert got == EXPECTED[key]


@pytest.mark.realdata
def test_read_published_rows_with_header_and_bz2(tmp_path: Path) -> None:
    _need_shared()
    source = SHARED / "data_README_example_rows.lastfm.tsv"
    compressed = tmp_path / "rows.tsv.bz2"
    compressed.write_bytes(bz2.compress(source.read_bytes()))
    for path in (source, compressed):
        frame = lab.read_groundtruth_tsv(path)
        assert len(frame) == 6
        assert frame["labels"][0] == ["metal", "metal---heavymetal", "metal---progressivemetal",
                                      "rock", "rock---progressiverock"]
        assert frame["labels"][2] == ["soul"]
        assert frame["release_group"][2] == "6e652b2f-6f94-47ef-834a-a85d25921fce"


def _write(tmp_path: Path, body: str, name: str = "gt.tsv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_duplicate_mbid_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{M1}\t{G1}\trock\t\n{M2}\t{G2}\tpop\t\n{M1}\t{G2}\tjazz\t\n")
    with pytest.raises(ValueError, match=M1) as info:
        lab.read_groundtruth_tsv(path)
    assert "lines 2 and 4" in str(info.value)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{M1}\n", "line 2: expected at least 2"),
        (f"{M1.upper()}\t{G1}\trock\n", "line 2: recording MBID"),
        (f"{M1}\tnot-a-uuid\trock\n", "line 2: release-group MBID"),
        (f"{M1}\t{G1}\trock\n{M2}\t{G2}\t\t\n", f"without any label: line 3 {M2}"),
    ],
)
def test_bad_rows_raise_with_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lab.read_groundtruth_tsv(_write(tmp_path, body))


def test_missing_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nohead.tsv"
    path.write_text(f"{M1}\t{G1}\trock\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        lab.read_groundtruth_tsv(path)
    assert lab.read_groundtruth_tsv(path, header=False)["labels"][0] == ["rock"]


def test_padding_repeats_and_crlf(tmp_path: Path) -> None:
    path = _write(tmp_path, f"{M1}\t{G1}\trock\t\t\trock\tpop\t\r\n")
    frame = lab.read_groundtruth_tsv(path)
    assert frame["labels"][0] == ["pop", "rock"]


TRICKY = ["folk, world, & country", "children's", "funk / soul", "stage & screen---film music",
          "folk, world, & country---bolero"]


def test_tricky_labels_survive_parquet_json_and_tsv(tmp_path: Path) -> None:
    frame = lab.make_groundtruth([M1, M2], [G1, G2], [sorted(TRICKY[:3]), sorted(TRICKY[3:])])
    lab.write_groundtruth_parquet(frame, tmp_path / "gt.parquet")
    schema = pq.read_schema(tmp_path / "gt.parquet")
    assert str(schema.field("labels").type) == "list<element: string>"
    back = lab.read_groundtruth_parquet(tmp_path / "gt.parquet")
    assert list(back["labels"]) == list(frame["labels"])
    write_json(tmp_path / "v.json", {"vocabulary": lab.vocabulary(frame["labels"])})
    assert read_json(tmp_path / "v.json")["vocabulary"] == sorted(TRICKY)
    assert json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))["vocabulary"][0] == (
        "children's")
    lab.write_groundtruth_tsv(frame, tmp_path / "gt.tsv")
    again = lab.read_groundtruth_tsv(tmp_path / "gt.tsv")
    assert list(again["labels"]) == list(frame["labels"])
    assert list(again["mbid"]) == [M1, M2]


label_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\t\r\n"),
    min_size=1, max_size=12,
).filter(lambda s: s.strip() == s and s != "")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(label_text, min_size=1, max_size=4, unique=True), min_size=1,
                max_size=5))
def test_round_trip_property(tmp_path_factory: pytest.TempPathFactory,
                             label_lists: list[list[str]]) -> None:
    tmp = tmp_path_factory.mktemp("rt")
    n = len(label_lists)
    mbids = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(n)]
    frame = lab.make_groundtruth(mbids, mbids, [sorted(x) for x in label_lists])
    lab.write_groundtruth_parquet(frame, tmp / "a.parquet")
    lab.write_groundtruth_tsv(frame, tmp / "a.tsv")
    for back in (lab.read_groundtruth_parquet(tmp / "a.parquet"),
                 lab.read_groundtruth_tsv(tmp / "a.tsv")):
        assert list(back["labels"]) == list(frame["labels"])
