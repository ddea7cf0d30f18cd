"""Decoding rules, run-file writing and the check.R rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abgd import decode as D
from abgd.io import write_json

VOCAB = ["jazz", "pop", "rock", "rock---punk"]


def test_binarize_threshold_and_ratio_fallback():
    scores = np.array([[0.5, 0.1, 0.2, 0.0],   # jazz passes (>= 0.5)
                       [0.1, 0.3, 0.2, 0.05],  # empty: ratios .2, .75, .4, .5 -> pop
                       [0.1, 0.1, 0.39, 0.07]], dtype=np.float32)  # .2 .25 .78 .7
    thr = np.array([0.5, 0.4, 0.5, 0.1])
    pred = D.binarize(scores, thr, "ratio").toarray()
    np.testing.assert_array_equal(pred, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    # global: top score wins for empty rows
    pred_g = D.binarize(scores, 0.45, "score").toarray()
    np.testing.assert_array_equal(pred_g, [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])


def test_nonpositive_threshold_ranks_last():
    scores = np.array([[-0.2, 0.1]], dtype=np.float32)
    pred = D.binarize(scores, np.array([0.0, 0.5]), "ratio").toarray()
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
        D.check_run(path, VOCAB, ["a", "b"])
    assert f"run.tsv, line {line}: {what}" in str(err.value)


def test_check_run_missing_id(tmp_path):
    path = _write(tmp_path / "run.tsv", "a\tjazz\n")
    with pytest.raises(ValueError, match="1 missing RecordingIDs"):
        D.check_run(path, VOCAB, ["a", "b"])


def test_check_run_accepts_valid(tmp_path):
    path = _write(tmp_path / "run.tsv", "a\tjazz\trock---punk\nb\tpop\n")
    assert D.check_run(path, VOCAB, ["b", "a"]) == 2


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
        ids_back, _labels_back = D.read_run(out)
        assert ids_back == sorted(ids)


def test_thresholds_must_cover_score_columns():
    with pytest.raises(ValueError, match="labels differ"):
        D.thresholds_for({"labels": ["jazz"], "per_label": {"jazz": 0.5}, "global": 0.5},
                         ["jazz", "pop"], "per_label")


def test_nan_scores_rejected(tmp_path):
    frame = pd.DataFrame({"mbid": ["a", "b"], "jazz": np.array([0.1, np.nan], np.float32)})
    frame.to_parquet(tmp_path / "s.parquet", index=False)
    with pytest.raises(ValueError, match="NaN score for mbid 'b'"):
        D.read_scores(tmp_path / "s.parquet")
