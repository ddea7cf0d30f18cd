"""Tests of abgd.split: release-group split invariants, minimum counts, published lists, CLI."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abgd import labels as lab
from abgd import partition, split
from abgd.io import read_json


def _uuid(i: int, tag: int = 0) -> str:
    return f"{i:08x}-{tag:04x}-4000-8000-000000000000"


# ---------------------------------------------------------------- hand-made example

def test_minimum_counts_hand_example() -> None:
    # min_fit=2, min_holdout=1, min_release_groups=1
    rows = [
        ("A", "fit", ["rock", "rock---indie"]),
        ("B", "fit", ["rock", "rock---indie"]),
        ("C", "holdout", ["rock", "rock---indie"]),
        ("D", "fit", ["jazz"]),  # jazz: no holdout recording -> removed, row dropped
        ("E", "fit", ["metal---doom", "rock"]),
        ("F", "fit", ["metal---doom", "rock"]),
        ("G", "holdout", ["metal", "metal---doom"]),  # metal: 0 in fit -> removed
    ]
    # metal---doom has 2 fit / 1 holdout (enough) but loses its parent: removed too, and
    # row G is left without labels. A one-pass count-only script (the original) would keep
    # metal---doom and row G.
    result = split.apply_minimum_counts([r[2] for r in rows], [r[1] for r in rows],
                                        [r[0] for r in rows], 2, 1, 1)
    assert result.labels == ["rock", "rock---indie"]
    assert set(result.removed) == {"jazz", "metal", "metal---doom"}
    assert result.removed["jazz"]["fit"] == 1 and result.removed["jazz"]["holdout"] == 0
    assert result.removed["metal"]["fit"] == 0 and result.removed["metal"]["holdout"] == 1
    assert result.removed["metal---doom"]["reason"] == "parent removed"
    assert (result.removed["metal---doom"]["fit"], result.removed["metal---doom"]["holdout"]) \
        == (2, 1)
    assert result.keep_row.tolist() == [True, True, True, False, True, True, False]
    assert result.kept_labels[4] == ["rock"]
    assert result.iterations == 2


def test_release_group_minimum() -> None:
    # 'x' has 3 fit recordings but all on one album; with min_release_groups=2 it goes.
    groups = ["A", "A", "A", "B", "C", "D", "E"]
    parts = ["fit", "fit", "fit", "holdout", "holdout", "fit", "fit"]
    labels = [["x", "y"], ["x"], ["x"], ["x", "y"], ["x", "y"], ["y"], ["y"]]
    result = split.apply_minimum_counts(labels, parts, groups, 1, 1, 2)
    assert result.labels == ["y"]
    assert result.removed["x"]["fit_release_groups"] == 1
    assert result.keep_row.tolist() == [True, False, False, True, True, True, True]


def _reference_minimum_counts(label_lists, parts, groups, min_fit, min_hold, min_rg):
    """Brute force: plain sets and loops, one label at a time, until nothing changes."""
    current = [set(x) for x in label_lists]
    removed: set[str] = set()
    while True:
        stats = defaultdict(lambda: {"fit": [0, set()], "holdout": [0, set()]})
        for labels, part, group in zip(current, parts, groups, strict=True):
            for x in labels:
                stats[x][part][0] += 1
                stats[x][part][1].add(group)
        newly = {x for x, s in stats.items()
                 if s["fit"][0] < min_fit or s["holdout"][0] < min_hold
                 or len(s["fit"][1]) < min_rg or len(s["holdout"][1]) < min_rg}
        everything = {x for labels in label_lists for x in labels}
        changed = True
        while changed:
            changed = False
            for x in everything - removed - newly:
                if "---" in x and x.split("---")[0] in removed | newly:
                    newly.add(x)
                    changed = True
        if not newly:
            return current, everything - removed
        removed |= newly
        current = [labels - removed for labels in current]


VOCAB = ["a", "a---x", "a---y", "b", "b---z", "c", "c, d & e's"]

ground_truths = st.integers(1, 50).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 14), min_size=n, max_size=n),
    st.lists(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=4, unique=True),
             min_size=n, max_size=n),
))
params = st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 2),
                   st.integers(0, 2**32 - 1))


@settings(max_examples=120, deadline=None)
@given(ground_truths, st.lists(st.sampled_from(["fit", "holdout"]), min_size=50, max_size=50),
       params)
def test_minimum_counts_match_brute_force(gt, part_pool, p) -> None:
    groups, label_lists = gt
    groups = [str(g) for g in groups]
    parts = part_pool[: len(groups)]
    min_fit, min_hold, min_rg, _ = p
    result = split.apply_minimum_counts(label_lists, parts, groups, min_fit, min_hold, min_rg)
    ref_rows, ref_labels = _reference_minimum_counts(label_lists, parts, groups, min_fit,
                                                     min_hold, min_rg)
    assert result.labels == sorted(ref_labels)
    assert [set(x) for x in result.kept_labels] == ref_rows
    assert result.keep_row.tolist() == [bool(x) for x in ref_rows]


def _frame(groups: list[int], label_lists: list[list[str]]) -> pd.DataFrame:
    mbids = [_uuid(i, 1) for i in range(len(groups))]
    return lab.make_groundtruth(mbids, [_uuid(g, 2) for g in groups], label_lists)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ground_truths, params)
def test_split_invariants(gt, p) -> None:
    groups, label_lists = gt
    min_fit, min_hold, min_rg, seed = p
    frame = _frame(groups, label_lists)
    table, summary = split.make_split(frame, seed, 0.2, min_fit, min_hold, min_rg)
    # No release group on both sides.
    by_group = table.groupby("release_group")["part"].nunique()
    assert (by_group <= 1).all()
    # No recording lost or duplicated.
    assert table["mbid"].is_unique
    assert set(table["mbid"]) <= set(frame["mbid"])
    assert len(table) + summary["dropped_recordings"] == len(frame)
    assert list(table["mbid"]) == sorted(table["mbid"])
    # Every kept label meets its minimums in both parts; every kept row keeps a label.
    kept = set(summary["labels"])
    labels_of = dict(zip(frame["mbid"], frame["labels"], strict=True))
    counts: Counter = Counter()
    rgs: defaultdict = defaultdict(set)
    for mbid, group, part in zip(table["mbid"], table["release_group"], table["part"],
                                 strict=True):
        row = [x for x in labels_of[mbid] if x in kept]
        assert row
        for x in row:
            counts[(x, part)] += 1
            rgs[(x, part)].add(group)
    for x in kept:
        assert counts[(x, "fit")] >= min_fit and counts[(x, "holdout")] >= min_hold
        assert len(rgs[(x, "fit")]) >= min_rg and len(rgs[(x, "holdout")]) >= min_rg
        parent = lab.parent(x)
        assert parent is None or parent not in summary["removed_labels"]
    # Same seed, shuffled input: same split.
    again, _ = split.make_split(frame.iloc[::-1].reset_index(drop=True), seed, 0.2, min_fit,
                                min_hold, min_rg)
    pd.testing.assert_frame_equal(table, again)


@given(st.integers(1, 400), st.integers(0, 2**32 - 1), st.sampled_from([0.1, 0.2, 0.25, 0.5]))
def test_release_group_fraction(n: int, seed: int, fraction: float) -> None:
    names = [f"rg{i}" for i in range(n)]
    assignment = split.assign_release_groups(names, fraction, seed)
    n_hold = sum(p == "holdout" for p in assignment.values())
    assert set(assignment) == set(names)
    assert abs(n_hold - fraction * n) <= 0.5 + (1 if n >= 2 else 0)
    if n >= 2:
        assert 1 <= n_hold <= n - 1


def test_fit_fraction_exact_and_seeded() -> None:
    names = [f"rg{i:04d}" for i in range(1000)]
    a = split.assign_release_groups(names, 0.2, 7)
    assert sum(p == "fit" for p in a.values()) == 800
    assert a == split.assign_release_groups(list(reversed(names)), 0.2, 7)
    assert a != split.assign_release_groups(names, 0.2, 8)
    # round(0.2 * 2) = 0, but both parts get a release group when there are two.
    assert sorted(split.assign_release_groups(["x", "y"], 0.2, 1).values()) == ["fit", "holdout"]


# ---------------------------------------------------------------- CLI and published lists

def test_cli_random_and_from_file(tmp_path: Path) -> None:
    groups = [i // 2 for i in range(40)]
    label_lists = [["a", "a---x"] if i % 3 else ["b"] for i in range(40)]
    frame = _frame(groups, label_lists)
    lab.write_groundtruth_parquet(frame, tmp_path / "gt.parquet")
    args = ["--groundtruth", str(tmp_path / "gt.parquet"), "--seed", "3", "--min-fit", "2",
            "--min-holdout", "1"]
    assert split.main([*args, "--out", str(tmp_path / "s.tsv"),
                       "--summary", str(tmp_path / "s.json")]) == 0
    text = (tmp_path / "s.tsv").read_text(encoding="utf-8").splitlines()
    assert text[0] == "mbid\trelease_group\tpart"
    assert len(text) == 41
    summary = read_json(tmp_path / "s.json")
    assert summary["labels"] == ["a", "a---x", "b"]
    assert summary["seed"] == 3 and summary["mode"] == "random"
    assert summary["sizes"]["fit"]["release_groups"] == 16  # 80 % of 20 release groups

    mbids = list(frame["mbid"])
    absent = _uuid(999, 9)
    (tmp_path / "fit.recordingmbid").write_text(
        "recordingmbid\n" + "\n".join([*mbids[:30], absent]) + "\n", encoding="utf-8")
    (tmp_path / "hold.recordingmbid").write_text(
        "recordingmbid\n" + "\n".join(mbids[31:]) + "\n", encoding="utf-8")
    assert split.main([*args, "--out", str(tmp_path / "f.tsv"),
                       "--summary", str(tmp_path / "f.json"), "--from-file",
                       str(tmp_path / "fit.recordingmbid"),
                       str(tmp_path / "hold.recordingmbid")]) == 0
    report = read_json(tmp_path / "f.json")
    assert report["from_file"]["listed_but_absent"] == {"fit": 1, "holdout": 0}
    assert report["from_file"]["listed_but_absent_examples"]["fit"] == [absent]
    assert report["from_file"]["unassigned_examples"] == [mbids[30]]
    assert report["unassigned_recordings"] == 1
    # mbids 30/31 share release group 15, but 30 is unassigned: no group on both sides.
    assert report["release_groups_in_both_parts"] == 0
    parts = partition.read_split_tsv(tmp_path / "f.tsv").set_index("mbid")["part"]
    assert parts[mbids[0]] == "fit" and parts[mbids[35]] == "holdout"
    assert mbids[30] not in parts.index


def test_recordingmbid_list_errors(tmp_path: Path) -> None:
    path = tmp_path / "x.recordingmbid"
    path.write_text(f"recordingmbid\n{_uuid(1)}\n{_uuid(1)}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"line 3: duplicate MBID {_uuid(1)}"):
        split.read_recordingmbid_list(path)
    with pytest.raises(ValueError, match="both fit and holdout"):
        split.parts_from_lists([_uuid(1)], [_uuid(1)], [_uuid(1)])


# ---------------------------------------------------------------- one split for all sources

SOURCES = ("allmusic", "discogs", "lastfm", "tagtraum")

# Per recording: which sources list it, and the release group each of them gives it (usually
# the same album; sometimes another, which links the two release groups).
recording_strategy = st.tuples(
    st.sets(st.sampled_from(SOURCES), min_size=1),
    st.integers(0, 11),
    st.lists(st.one_of(st.none(), st.integers(0, 11)), min_size=4, max_size=4),
    st.lists(st.sampled_from(VOCAB), min_size=1, max_size=3, unique=True),
)


def _sources(recordings) -> dict[str, pd.DataFrame]:
    rows: dict[str, list] = {s: [] for s in SOURCES}
    for i, (listed, group, other, labels) in enumerate(recordings):
        for k, source in enumerate(SOURCES):
            if source in listed:
                g = group if other[k] is None else other[k]
                rows[source].append((_uuid(i, 1), _uuid(g, 2), labels))
    return {s: lab.make_groundtruth([r[0] for r in rows[s]], [r[1] for r in rows[s]],
                                    [r[2] for r in rows[s]]) for s in SOURCES}


def _global_splits(frames, seed, min_fit, min_hold, min_rg):
    components = partition.release_group_components(
        (list(f["mbid"]), list(f["release_group"])) for f in frames.values())
    assignment = partition.assign_components(components, 0.2, seed)
    tables = {}
    for source, frame in frames.items():
        parts = split.parts_from_assignment(list(frame["release_group"]), assignment)
        tables[source], _ = split.make_split(frame, seed, 0.2, min_fit, min_hold, min_rg, parts)
    return assignment, tables


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(recording_strategy, max_size=40), params)
def test_global_split_one_part_across_sources(recordings, p) -> None:
    min_fit, min_hold, min_rg, seed = p
    frames = _sources(recordings)
    assignment, tables = _global_splits(frames, seed, min_fit, min_hold, min_rg)
    every = pd.concat(tables.values(), ignore_index=True)
    # No release group and no recording in two parts, over all sources together.
    assert (every.groupby("release_group")["part"].nunique() <= 1).all()
    assert (every.groupby("mbid")["part"].nunique() <= 1).all()
    # Fusion of source D early-stops and fits thresholds on D's holdout; its inputs come from
    # the single-source models fitted on each S's fit part: the two never share a recording.
    for d in SOURCES:
        holdout = set(tables[d].loc[tables[d]["part"] == "holdout", "mbid"])
        for s in SOURCES:
            assert not holdout & set(tables[s].loc[tables[s]["part"] == "fit", "mbid"])
    # Same draw whatever the order of sources and rows.
    shuffled = {s: frames[s].iloc[::-1].reset_index(drop=True) for s in reversed(SOURCES)}
    again, _ = _global_splits(shuffled, seed, min_fit, min_hold, min_rg)
    assert again == assignment


def test_components_link_release_groups_through_recordings() -> None:
    a = ([_uuid(1), _uuid(2)], ["g1", "g2"])
    b = ([_uuid(1), _uuid(3)], ["g3", "g3"])  # recording 1 under g1 (a) and g3 (b)
    c = ([_uuid(4), _uuid(3)], ["g4", "g5"])  # recording 3 under g3 (b) and g5 (c)
    assert partition.release_group_components([a, b, c]) == {
        "g1": "g1", "g3": "g1", "g5": "g1", "g2": "g2", "g4": "g4"}
    parts = partition.assign_components(partition.release_group_components([a, b, c]), 0.2, 0)
    assert parts["g1"] == parts["g3"] == parts["g5"]
    assert sorted(set(parts.values())) == ["fit", "holdout"]


@given(st.lists(st.integers(1, 30), min_size=1, max_size=40), st.integers(0, 2**32 - 1),
       st.sampled_from([0.1, 0.2, 0.5]))
def test_component_fractions(sizes: list[int], seed: int, fraction: float) -> None:
    components = {f"c{i}-{j}": f"c{i}-0" for i, size in enumerate(sizes) for j in range(size)}
    parts = partition.assign_components(components, fraction, seed)
    n = len(components)
    n_fit = sum(p == "fit" for p in parts.values())
    if len(sizes) < 2:
        assert set(parts.values()) == {"fit"}
        return
    target = n - min(max(round(fraction * n), 1), n - 1)
    assert {"fit", "holdout"} == set(parts.values())
    # fit is filled a whole component at a time up to its quota: overshoot < one component.
    assert n_fit < target + max(sizes)
    if n_fit < target:  # the quota took every component; the last one drawn went to holdout
        assert len({components[g] for g, p in parts.items() if p == "holdout"}) == 1
    for i in range(len(sizes)):
        assert len({parts[g] for g in components if g.startswith(f"c{i}-")}) == 1


def test_cli_global_split_and_fusion_rows(tmp_path: Path) -> None:
    # Three sources; recording 3 is listed under release group 1 by two sources and release
    # group 0 by discogs, so 0 and 1 must share a part.
    from abgd import split_groups
    from abgd.inputs import training_set

    frames = {}
    for k, source in enumerate(("allmusic", "discogs", "lastfm")):
        mbids = [_uuid(i, 1) for i in range(k, 60)]
        groups = [_uuid(0 if (i == 3 and k == 1) else i // 3, 2) for i in range(k, 60)]
        labels = [["a", "a---x"] if i % 2 else ["b"] for i in range(k, 60)]
        frames[source] = lab.make_groundtruth(mbids, groups, labels)
        lab.write_groundtruth_parquet(frames[source], tmp_path / f"{source}.parquet")
    assert split_groups.main([
        "--groundtruth", *(str(tmp_path / f"{s}.parquet") for s in frames),
        "--out", str(tmp_path / "rg.tsv"), "--summary", str(tmp_path / "rg.json"),
        "--seed", "5"]) == 0
    summary = read_json(tmp_path / "rg.json")
    assert summary["release_groups"] == 20 and summary["components"] == 19
    assignment = partition.read_assignment(tmp_path / "rg.tsv")
    assert assignment[_uuid(0, 2)] == assignment[_uuid(1, 2)]
    sets = {}
    for source in frames:
        out = tmp_path / f"{source}.tsv"
        assert split.main(["--groundtruth", str(tmp_path / f"{source}.parquet"), "--seed", "5",
                           "--min-fit", "1", "--min-holdout", "1", "--out", str(out),
                           "--summary", str(tmp_path / f"{source}.json"),
                           "--assignment", str(tmp_path / "rg.tsv")]) == 0
        assert read_json(tmp_path / f"{source}.json")["scope"] == "global"
        data = training_set(tmp_path / f"{source}.parquet", out, tmp_path / f"{source}.json")
        sets[source] = {part: {data.mbids[i] for i in rows}
                        for part, rows in (("fit", data.fit_rows),
                                           ("holdout", data.holdout_rows))}
    for d in sets:
        assert sets[d]["holdout"]
        for s in sets:
            assert not sets[d]["holdout"] & sets[s]["fit"]
    # A ground truth with a release group the table does not know is an error, not a guess.
    with pytest.raises(ValueError, match="1 release group"):
        split.parts_from_assignment([_uuid(99, 2)], assignment)
