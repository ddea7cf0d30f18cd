"""The evaluate CLI end to end on a tiny hand-computed case."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from abgd import evaluate as E


@pytest.fixture
def files(tmp_path):
    gt = pd.DataFrame({"mbid": ["b", "a", "c"], "release_group": ["r1", "r2", "r3"],
                       "labels": [["rock", "rock---punk"], ["jazz"], ["rock"]]})
    gt.to_parquet(tmp_path / "gt.parquet")
    (tmp_path / "run.tsv").write_text("a\tjazz\nb\trock\tjazz\nc\tpop\n")
    scores = pd.DataFrame({"mbid": ["a", "b", "c"],
                           "jazz": np.array([0.9, 0.6, 0.1], np.float32),
                           "rock": np.array([0.2, 0.7, 0.4], np.float32),
                           "rock---punk": np.array([0.1, 0.3, 0.5], np.float32)})
    scores.to_parquet(tmp_path / "scores.parquet", index=False)
    return tmp_path


def test_cli_with_scores(files):
    out = files / "eval.json"
    summary = files / "eval.results_summary"
    assert E.main(["--groundtruth", str(files / "gt.parquet"), "--run", str(files / "run.tsv"),
                   "--scores", str(files / "scores.parquet"), "--system", "single",
                   "--source", "lastfm", "--split", "validation", "--decoding", "per_label",
                   "--out", str(out), "--summary-text", str(summary)]) == 0
    doc = json.loads(out.read_text())
    m = doc["metrics"]
    assert doc["n_recordings"] == 3 and doc["decoding"] == "per_label"
    # per track all: a P1 R1; b P1/2 R1/2; c P0 R0 -> P .5, R .5
    assert m["Ptrackall"] == pytest.approx(0.5) and m["Rtrackall"] == pytest.approx(0.5)
    # subgenre block: only b, nothing predicted at that level -> P 0, sd undefined (null)
    assert m["n_tracksub"] == 1 and m["Ptracksub"] == 0 and m["Ptracksub_sd"] is None
    truth = np.array([[1, 0], [0, 1], [0, 1]])  # a, b, c x jazz, rock
    expected = roc_auc_score(truth, np.array([[0.9, 0.2], [0.6, 0.7], [0.1, 0.4]]))
    assert m["roc_auc_genre"] == pytest.approx(expected)
    # jazz 1, rock 1, rock---punk: positive b (0.3) between negatives 0.1 and 0.5 -> 0.5
    assert m["n_roc_auc"] == 3 and m["roc_auc"] == pytest.approx(2.5 / 3)
    text = summary.read_text()
    assert text.startswith("# summary per track (all labels, n = 3)\nPrecision: mean = 0.5 sd")
    assert "# summary per track (subgenre labels, n = 1)\nPrecision: mean = 0 sd = NA" in text


def test_cli_without_scores_gives_null_auc(files):
    out = files / "eval.json"
    E.main(["--groundtruth", str(files / "gt.parquet"), "--run", str(files / "run.tsv"),
            "--system", "random", "--source", "lastfm", "--split", "validation", "--seed", "1",
            "--out", str(out)])
    doc = json.loads(out.read_text())
    assert doc["metrics"]["roc_auc"] is None and doc["seed"] == 1


def test_id_mismatch_names_files(files):
    (files / "bad.tsv").write_text("a\tjazz\nb\trock\n")
    with pytest.raises(ValueError, match=r"bad\.tsv vs .*gt\.parquet: IDs don't match"):
        E.evaluate_files(files / "gt.parquet", files / "bad.tsv")
