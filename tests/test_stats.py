"""Tests of abgd.stats: Table 2 on the real excerpts, overlaps, pseudo-entropy, outputs."""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abgd import labels as lab
from abgd import stats

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "groundtruth"
EXCERPT = "reconstructed_from_mirdata_index.acousticbrainz-mediaeval-{}-{}.excerpt.tsv"


def _uuid(i: int) -> str:
    return f"{i:08x}-2222-4222-8222-222222222222"


def _coded(rows: dict[int, list[str]]) -> stats.Coded:
    ids = sorted(rows)
    return stats.coded_from_lists([_uuid(i) for i in ids], [_uuid(1000 + i) for i in ids],
                                  [sorted(rows[i]) for i in ids])


# Table 2 of the real excerpt rows, counted by hand from the eight files:
# (recordings, release groups, genres, subgenres, genres/rec, subgenres/rec)
TABLE2 = {
    ("allmusic", "train"): (2, 2, 2, 4, 1.0, 2.0),
    ("allmusic", "validation"): (2, 2, 2, 1, 1.0, 0.5),
    ("discogs", "train"): (2, 2, 3, 4, 1.5, 2.0),
    ("discogs", "validation"): (2, 2, 2, 3, 1.0, 1.5),
    ("lastfm", "train"): (2, 2, 2, 1, 1.0, 0.5),
    ("lastfm", "validation"): (2, 2, 2, 4, 1.0, 2.0),
    ("tagtraum", "train"): (2, 2, 2, 3, 1.5, 1.5),
    ("tagtraum", "validation"): (2, 2, 2, 1, 1.0, 0.5),
}


@pytest.mark.realdata
def test_cli_on_real_excerpts(tmp_path: Path) -> None:
    if not SHARED.is_dir():
        pytest.skip("../shared/data not available")
    gt = tmp_path / "gt"
    for source, split in TABLE2:
        frame = lab.read_groundtruth_tsv(SHARED / EXCERPT.format(source, split), header=False)
        lab.write_groundtruth_parquet(frame, gt / f"{source}-{split}.parquet")
    out = tmp_path / "stats"
    assert stats.main(["--groundtruth-dir", str(gt), "--out-dir", str(out)]) == 0
    with open(out / "table2.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    got = {(r["source"], r["split"]): (int(r["recordings"]), int(r["release_groups"]),
                                       int(r["genres"]), int(r["subgenres"]),
                                       float(r["genres_per_recording"]),
                                       float(r["subgenres_per_recording"])) for r in rows}
    assert got == TABLE2
    with open(out / "overlap.csv", encoding="utf-8", newline="") as handle:
        overlap = {(r["split"], r["sources"]): int(r["recordings"])
                   for r in csv.DictReader(handle)}
    # 6eafad9e… is in allmusic- and discogs-train, 77a9cc42… in lastfm- and tagtraum-train,
    # 7ded30da… in allmusic- and discogs-validation.
    assert overlap[("train", "allmusic&discogs")] == 1
    assert overlap[("train", "lastfm&tagtraum")] == 1
    assert overlap[("train", "allmusic&lastfm")] == 0
    assert overlap[("train", "all")] == 0
    assert overlap[("validation", "allmusic&discogs")] == 1
    assert overlap[("validation", "lastfm&tagtraum")] == 0
    # Table 3 pools train and validation. Discogs' four rows carry "rock" twice (8eed6eed and
    # 77c17f82), every other label once: on the diagonal only x = rock---brit pop,
    # rock---folk rock, rock---prog rock given y = rock add a term, each 1/4 * log2(2/1).
    # Genres only, no two recordings share a co-occurring genre pair with n(y) > 1: 0.
    with open(out / "table3.csv", encoding="utf-8", newline="") as handle:
        t3 = {(r["recordings"], r["scope"], r["x"], r["y"]): r
              for r in csv.DictReader(handle)}
    cell = t3[("train+validation", "all_labels", "discogs", "discogs")]
    assert float(cell["entropy_bits"]) == pytest.approx(0.75)
    assert int(cell["n_recordings"]) == 4
    assert float(t3[("train+validation", "genres_only", "discogs", "discogs")]["entropy_bits"]) \
        == pytest.approx(0.0)
    # 6eafad9e (train) and 7ded30da (validation) are in AllMusic and Discogs: N = 2.
    assert int(t3[("train+validation", "all_labels", "allmusic", "discogs")]["n_recordings"]) \
        == 2
    markdown = (out / "stats.md").read_text(encoding="utf-8")
    assert "| Tagtraum | ours, validation " in markdown
    assert re.search(r"\| Tagtraum \| paper, whole release incl\. hidden test \| +692,217 \|",
                     markdown)
    assert re.search(r"\| AllMusic \| +59\.6 \|", markdown)  # the paper's Table 3a beside ours
    assert "Log base 2" in markdown and "train + validation pooled" in markdown
    for name in ("figure1_genre_distribution.png", "figure2_labels_per_recording.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "stats.json").is_file()


def test_pseudo_entropy_hand_example() -> None:
    x = _coded({1: ["a"], 2: ["a", "b"], 3: ["b"], 4: ["c"]})  # 4 only in X: ignored
    y = _coded({1: ["p"], 2: ["p"], 3: ["q"], 5: ["r"]})  # 5 only in Y: ignored
    # N = 3; n(a,p) = 2, n(b,p) = 1, n(b,q) = 1; n(p) = 2, n(q) = 1
    # H(X|Y) = -[2/3 log2(2/2) + 1/3 log2(1/2) + 1/3 log2(1/1)] = 1/3
    assert stats.pseudo_conditional_entropy(x, y) == pytest.approx(1 / 3)
    # n(a) = n(b) = 2: H(Y|X) = -[2/3 log2(2/2) + 1/3 log2(1/2) + 1/3 log2(1/2)] = 2/3
    assert stats.pseudo_conditional_entropy(y, x) == pytest.approx(2 / 3)


def test_pseudo_entropy_diagonal_multilabel() -> None:
    # Shares of recordings, not of label pairs: they sum to 14/3 here, and H(X|X) > 0.
    x = _coded({1: ["a", "b"], 2: ["a"], 3: ["a", "b", "c"]})
    # N = 3, n(a) = 3, n(b) = 2, n(c) = 1. Non-zero terms (x | y): (b|a) 2/3 log2(3/2),
    # (c|a) 1/3 log2(3), (c|b) 1/3 log2(2); every other pair has n(x, y) = n(y).
    expected = 2 / 3 * math.log2(3 / 2) + 1 / 3 * math.log2(3) + 1 / 3
    assert stats.pseudo_conditional_entropy(x, x) == pytest.approx(expected)
    co = stats.cooccurrence(x, x)
    assert co.n == 3 and co.counts.sum() == 14
    # A renormalised pair distribution (the estimator this replaces) would give
    # -sum c/14 log2(c/c_y) with c_y = 6, 5, 3 instead: a different number.
    assert expected != pytest.approx(2 / 14 * math.log2(6 / 2) + 2 / 14 * math.log2(5 / 2))


def test_genres_only_drops_subgenres() -> None:
    x = _coded({1: ["a", "a---s"], 2: ["b"]})
    y = _coded({1: ["p"], 2: ["p", "p---t"]})
    # all labels: N = 2, n(p) = 2, n(p---t) = 1; (a,p), (a---s,p), (b,p) add 1/2 log2(2)
    # each, (b,p---t) adds 0: H = 3/2
    assert stats.pseudo_conditional_entropy(x, y) == pytest.approx(1.5)
    # genres: (a,p), (b,p): H = 2 * 1/2 log2(2) = 1
    assert stats.pseudo_conditional_entropy(x, y, genres_only=True) == pytest.approx(1.0)


def test_recordings_without_labels_of_the_scope_are_not_counted() -> None:
    x = _coded({1: ["a"], 2: ["a"], 3: ["a---s"]})  # 3 has no genre in X
    y = _coded({1: ["p"], 2: ["q"], 3: ["p"]})
    # genres only: N = 2 (recordings 1, 2), n(p) = 1, so H(X|Y) = 0 (3 would make n(p) = 2);
    # n(a) = 2: H(Y|X) = 2 * 1/2 log2(2) = 1 (with N = 3 it would be 2/3).
    assert stats.pseudo_conditional_entropy(x, y, genres_only=True) == pytest.approx(0.0)
    assert stats.pseudo_conditional_entropy(y, x, genres_only=True) == pytest.approx(1.0)


def _brute_force(x_rows: dict[int, set[str]], y_rows: dict[int, set[str]]) -> float:
    """Equation (1) with plain sets and loops."""
    common = [m for m in x_rows.keys() & y_rows.keys() if x_rows[m] and y_rows[m]]
    if not common:
        return float("nan")
    joint: Counter = Counter()
    marginal: Counter = Counter()
    for mbid in common:
        marginal.update(y_rows[mbid])
        for a in x_rows[mbid]:
            for b in y_rows[mbid]:
                joint[(a, b)] += 1
    n = len(common)
    return -sum(c / n * math.log2((c / n) / (marginal[b] / n)) for (_, b), c in joint.items())


rows_strategy = st.dictionaries(
    st.integers(0, 30), st.sets(st.sampled_from(["a", "a---x", "b", "b---y", "c", "d, e"]),
                                min_size=1, max_size=4), max_size=25)


@settings(max_examples=150, deadline=None)
@given(rows_strategy, rows_strategy)
def test_pseudo_entropy_matches_brute_force(xr, yr) -> None:
    expected = _brute_force(xr, yr)
    got = stats.pseudo_conditional_entropy(_coded(xr), _coded(yr))
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-9)


def test_concat_coded_pools_splits() -> None:
    a = _coded({1: ["a", "b"], 2: ["c"]})
    b = stats.coded_from_lists([_uuid(7)], [_uuid(8)], [["b", "d"]])
    both = stats.concat_coded([a, b])
    assert both.vocab == ["a", "b", "c", "d"]
    assert both.mbid.tolist() == [_uuid(1), _uuid(2), _uuid(7)]
    got = [sorted(both.vocab[c] for c, r in zip(both.code, both.row, strict=True) if r == i)
           for i in range(3)]
    assert got == [["a", "b"], ["c"], ["b", "d"]]
    with pytest.raises(ValueError, match="two splits"):
        stats.concat_coded([a, a], "allmusic")


def test_read_coded_matches_lists(tmp_path: Path) -> None:
    lists = [["z", "b---q"], ["b"], ["folk, world, & country", "b"]]
    frame = lab.make_groundtruth([_uuid(i) for i in range(3)], [_uuid(9)] * 3, lists)
    lab.write_groundtruth_parquet(frame, tmp_path / "x.parquet")
    coded = stats.read_coded(tmp_path / "x.parquet")
    assert coded.vocab == sorted({"z", "b---q", "b", "folk, world, & country"})
    decoded = [sorted(coded.vocab[c] for c, r in zip(coded.code, coded.row, strict=True)
                      if r == i) for i in range(3)]
    assert decoded == [sorted(x) for x in lists]
    row = stats.table2_row(coded)
    assert (row["release_groups"], row["genres"], row["subgenres"]) == (1, 3, 1)


def test_labels_per_recording_and_distribution() -> None:
    data = _coded({1: ["a", "a---x", "a---y"], 2: ["a", "b"], 3: ["b"], 4: ["b", "b---y"]})
    matrix = stats.labels_per_recording(data)
    # (genres, subgenres): (1,2), (2,0), (1,0), (1,1)
    assert matrix.tolist() == [[0, 0, 0], [1, 1, 1], [1, 0, 0]]
    assert stats.genre_distribution(data) == {"b": 3, "a": 2}


def test_markdown_thousands_and_alignment() -> None:
    text = stats.markdown_table(["Source", "Recordings"], [["AllMusic", "1,353,213"],
                                                           ["Lastfm", "566,710"]], "lr")
    lines = text.splitlines()
    assert lines[2] == "| AllMusic |  1,353,213 |"
    assert lines[3] == "| Lastfm   |    566,710 |"
    assert lines[1] == "| -------- | ---------: |"
    assert len({len(line) for line in lines}) == 1
