"""Decoding rules, run-file writing and the check.R rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from abgd import decode as D
from abgd import decoding as DC
from abgd import runs
from abgd import scores as scores_io
from abgd.io import write_json

VOCAB = ["jazz", "pop", "rock", "rock---punk"]


def test_binarize_threshold_and_ratio_fallback():
    scores = np.array([[0.5, 0.1, 0.2, 0.0],   # jazz passes (>= 0.5)
                       [0.1, 0.3, 0.2, 0.05],  # empty: ratios .2, .75, .4, .5 -> pop
                       [0.1, 0.1, 0.39, 0.07]], dtype=np.float32)  # .2 .25 .78 .7
    thr = np.array([0.5, 0.4, 0.5, 0.1])
    pred = DC.binarize(scores, thr, "ratio").toarray()
    np.testing.assert_array_equal(pred, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    # global: top score wins for empty rows
    pred_g = DC.binarize(scores, 0.45, "score").toarray()
    np.testing.assert_array_equal(pred_g, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])


def test_nonpositive_threshold_ranks_last():
    scores = np.array([[-0.2, 0.1]], dtype=np.float32)
    pred = DC.binarize(scores, np.array([0.0, 0.5]), "ratio").toarray()
    np.testing.assert_array_equal(pred, [[0, 1]])


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, line, what", [
    ("a\tjazz\n\nb\tpop\n", 2, "empty line"),
    ("a\tjazz\nb\n", 2, "no labels"),
    ("a\tjazz\nb\t\n", 2, "no labels"),
    ("a\tjazz\tjazz\nb\tpop\n", 1, "duplicate labels"),
    ("a\tjazz\nb\tmetal\n", 2, "unknown labels"),
    ("a\tjazz\nb\tpop\na\trock\n", 3, "duplicate RecordingID"),
    ("a\tjazz\nb\tpop\nc\trock\n", 3, "unknown RecordingID"),
])
def test_check_run_rejects_with_line(tmp_path, text, line, what):
    path = _write(tmp_path / "run.tsv", text)
    with pytest.raises(ValueError) as err:
        runs.check_run(path, VOCAB, ["a", "b"])
    assert f"run.tsv, line {line}: {what}" in str(err.value)


def test_check_run_missing_id(tmp_path):
    path = _write(tmp_path / "run.tsv", "a\tjazz\n")
    with pytest.raises(ValueError, match="1 missing RecordingIDs"):
        runs.check_run(path, VOCAB, ["a", "b"])


def test_check_run_accepts_valid(tmp_path):
    path = _write(tmp_path / "run.tsv", "a\tjazz\trock---punk\nb\tpop\n")
    assert runs.check_run(path, VOCAB, ["b", "a"]) == 2


def test_cli_writes_sorted_checked_run(tmp_path):
    ids = ["c0000000", "a0000000", "b0000000"]
    labels = ["rock", "jazz", "pop"]  # score columns not in vocabulary order
    scores = np.array([[0.9, 0.8, 0.0], [0.1, 0.2, 0.3], [0.0, 0.9, 0.0]], dtype=np.float32)
    frame = pd.DataFrame(scores, columns=labels)
    frame.insert(0, "mbid", ids)
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    write_json(tmp_path / "t.json", {"labels": sorted(labels), "global": 0.5,
                                     "per_label": {"jazz": 0.5, "pop": 0.6, "rock": 0.5}})
    out = tmp_path / "run.tsv"
    for decoding, expected in (
        ("per_label", "a0000000\tpop\nb0000000\tjazz\nc0000000\tjazz\trock\n"),
        ("global", "a0000000\tpop\nb0000000\tjazz\nc0000000\tjazz\trock\n"),
    ):
        assert D.main(["--scores", str(tmp_path / "s.parquet"), "--thresholds",
                       str(tmp_path / "t.json"), "--decoding", decoding, "--out", str(out)]) == 0
        assert out.read_text() == expected
        ids_back, _labels_back = runs.read_run(out)
        assert ids_back == sorted(ids)


def test_thresholds_must_cover_score_columns():
    with pytest.raises(ValueError, match="labels differ"):
        DC.thresholds_for({"labels": ["jazz"], "per_label": {"jazz": 0.5}, "global": 0.5},
                         ["jazz", "pop"], "per_label")


def test_nan_scores_rejected(tmp_path):
    frame = pd.DataFrame({"mbid": ["a", "b"], "jazz": np.array([0.1, np.nan], np.float32)})
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    with pytest.raises(ValueError, match="NaN score for mbid 'b'"):
        scores_io.read_scores(tmp_path / "s.parquet")


# --------------------------------------------------------------------------- hierarchy

HIER = ["jazz", "rock", "rock---punk", "rock---indie", "metal---doom"]  # no "metal" label
HIER_THR = np.array([0.5, 0.6, 0.5, 0.5, 0.5])


def _rows(pred, labels=HIER):
    return [{labels[j] for j in np.flatnonzero(row)} for row in pred.toarray()]


def test_consistent_decoding_hand_example():
    # r = 0.5 -> a rock subgenre survives only if rock scores >= 0.3
    scores = np.array([
        [0.1, 0.40, 0.70, 0.0, 0.0],  # punk kept (rock .40 >= .3), rock added
        [0.8, 0.20, 0.90, 0.0, 0.0],  # punk dropped (rock .20 < .3)
        [0.1, 0.10, 0.00, 0.6, 0.3],  # indie dropped -> empty; fallback ratios among
                                      # allowed: jazz .2, rock .17, doom .6 -> doom (no parent)
        [0.1, 0.10, 0.10, 0.1, 0.9],  # doom kept as is: its parent is not a model label
        [0.1, 0.35, 0.45, 0.0, 0.0],  # empty; allowed ratios jazz .2, rock .58, punk .9
                                      # -> punk, then its parent rock
    ], dtype=np.float32)
    pred = DC.decode_scores([], HIER, scores, HIER_THR, "per_label", "consistent", 0.5)
    assert _rows(pred) == [{"rock", "rock---punk"}, {"jazz"}, {"metal---doom"},
                           {"metal---doom"}, {"rock", "rock---punk"}]
    plain = DC.decode_scores([], HIER, scores, HIER_THR, "per_label")
    assert _rows(plain)[:3] == [{"rock---punk"}, {"jazz", "rock---punk"}, {"rock---indie"}]
    # r = 0: nothing dropped, parents only added (the organisers' hierarchy-expanded variant)
    expanded = DC.decode_scores([], HIER, scores, HIER_THR, "per_label", "consistent", 0.0)
    assert _rows(expanded)[1] == {"jazz", "rock", "rock---punk"}
    assert _rows(expanded)[2] == {"rock", "rock---indie"}


def test_parent_columns():
    np.testing.assert_array_equal(DC.parent_columns(HIER), [-1, -1, 1, 1, -1])


@st.composite
def _decoding_case(draw):
    genres = ["a", "b", "c"]
    subs = ["a---x", "a---y", "b---x", "z---w"]  # z is never a model label
    labels = draw(st.lists(st.sampled_from(genres + subs), min_size=1, max_size=7, unique=True))
    n = draw(st.integers(1, 12))
    finite = st.floats(-1, 2, allow_nan=False, width=32)
    scores = draw(hnp.arrays(np.float32, (n, len(labels)), elements=finite))
    per_label = draw(st.booleans())
    thr = draw(hnp.arrays(np.float64, (len(labels),), elements=st.floats(-0.5, 1.5))) \
        if per_label else draw(st.floats(-0.5, 1.5))
    ratio = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.7]))
    return labels, scores, thr, ratio, "per_label" if per_label else "global"


@settings(max_examples=200, deadline=None)
@given(_decoding_case())
def test_consistent_decoding_never_outputs_orphans(case):
    labels, scores, thr, ratio, decoding = case
    pred = DC.decode_scores([], labels, scores, thr, decoding, "consistent", ratio).toarray()
    thr_vec = np.broadcast_to(np.asarray(thr, dtype=float), (len(labels),))
    assert pred.any(axis=1).all()  # the fallback still gives every row a label
    for i, row in enumerate(pred):
        for j in np.flatnonzero(row):
            parent = labels[j].split("---")[0] if "---" in labels[j] else None
            if parent is None or parent not in labels:
                continue
            p = labels.index(parent)
            assert row[p], f"orphan {labels[j]!r} in row {i}"
            assert scores[i, p] >= ratio * thr_vec[p]  # rule (a) holds, fallback included


def test_cli_consistent_uses_tuned_ratio(tmp_path):
    ids = ["a0000000", "b0000000"]
    scores = np.array([[0.1, 0.4, 0.7, 0.0, 0.0], [0.8, 0.2, 0.9, 0.0, 0.0]], np.float32)
    frame = pd.DataFrame(scores, columns=HIER)
    frame.insert(0, "mbid", ids)
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    config = {"labels": HIER, "global": 0.5,
              "per_label": dict(zip(HIER, HIER_THR.tolist(), strict=True))}
    write_json(tmp_path / "old.json", config)
    write_json(tmp_path / "t.json", {**config, "hierarchy": {
        "per_label": {"parent_threshold_ratio": 0.5}, "global": {"parent_threshold_ratio": 0}}})
    out = tmp_path / "run.tsv"
    base = ["--scores", str(tmp_path / "s.parquet"), "--out", str(out), "--decoding",
            "per_label", "--hierarchy", "consistent"]
    assert D.main([*base, "--thresholds", str(tmp_path / "t.json")]) == 0
    assert out.read_text() == "a0000000\trock\trock---punk\nb0000000\tjazz\n"
    with pytest.raises(ValueError, match=r"old\.json: no hierarchy\.per_label"):
        D.main([*base, "--thresholds", str(tmp_path / "old.json")])
    assert D.main([*base, "--thresholds", str(tmp_path / "old.json"), "--parent-ratio", "0"]) == 0
    assert out.read_text() == "a0000000\trock\trock---punk\nb0000000\tjazz\trock\trock---punk\n"
