"""The evaluate CLI end to end on a tiny hand-computed case."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.metrics import roc_auc_score

from abgd import evaluate as E
from abgd import evaluation, metrics
from abgd import labels as lab


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
        evaluation.evaluate_files(files / "gt.parquet", files / "bad.tsv")


# --------------------------------------------------------------------------- bootstrap


def _random_case(n, k=8, seed=0):
    rng = np.random.default_rng(seed)
    labels = [f"g{j // 4}" if j % 4 == 0 else f"g{j // 4}---s{j}" for j in range(k)]
    y = rng.random((n, k)) < 0.25
    y[~y.any(axis=1), 0] = True
    s = np.round(np.clip(y * 0.35 + rng.random((n, k)), 0, 1), 2).astype(np.float32)
    pred = s > 0.75
    pred[~pred.any(axis=1), 1] = True
    return labels, y, s, pred


def test_bootstrap_replicates_match_recomputation():
    labels, y, s, pred = _random_case(60, seed=1)
    truth, run = sparse.csr_matrix(y), sparse.csr_matrix(pred)
    track_f = np.round(metrics.per_track(truth, run, lab.subgenre_mask(labels))["Fall"], 4)
    indices = evaluation.resample_indices(60, 6, seed=11)
    reps = evaluation.bootstrap_replicates(indices, track_f, truth, run, truth, s)
    for b, rows in enumerate(indices):
        expected = metrics.evaluate_matrices(truth[rows], run[rows], labels)
        yy, ss = y[rows], s[rows]
        usable = [j for j in range(len(labels)) if 0 < yy[:, j].sum() < len(rows)]
        auc = np.mean([roc_auc_score(yy[:, j], ss[:, j]) for j in usable])
        assert reps["Ftrackall"][b] == pytest.approx(expected["Ftrackall"], abs=1e-12)
        assert reps["Flabelall"][b] == pytest.approx(expected["Flabelall"], abs=1e-12)
        assert reps["roc_auc"][b] == pytest.approx(auc, abs=1e-12)


def _write_case(path, n, seed):
    labels, y, s, pred = _random_case(n, seed=seed)
    ids = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(n)]
    gt = [[lab for lab, v in zip(labels, row, strict=True) if v] for row in y]
    pd.DataFrame({"mbid": ids, "release_group": ["rg"] * n, "labels": gt}).to_parquet(
        path / f"gt{n}.parquet")
    run = ["\t".join([i, *(lab for lab, v in zip(labels, row, strict=True) if v)])
           for i, row in zip(ids, pred, strict=True)]
    (path / f"run{n}.tsv").write_text("\n".join(run) + "\n")
    frame = pd.DataFrame(s, columns=labels)
    frame.insert(0, "mbid", ids)
    frame.to_parquet(path / f"scores{n}.parquet", index=False)
    return path / f"gt{n}.parquet", path / f"run{n}.tsv", path / f"scores{n}.parquet"


def test_bootstrap_interval_contains_estimate_and_shrinks(tmp_path):
    widths = {}
    for n in (150, 2400):
        gt, run, scores = _write_case(tmp_path, n, seed=n)
        result = evaluation.evaluate_files(gt, run, scores, bootstrap=200, bootstrap_seed=5)
        for metric in evaluation.HEADLINE:
            lo, hi = result[f"{metric}_ci95"]
            assert lo <= result[metric] <= hi, (n, metric)
            widths[n, metric] = hi - lo
    for metric in evaluation.HEADLINE:
        # the width scales like 1/sqrt(n): 16 times the recordings, about a quarter
        assert widths[2400, metric] < 0.5 * widths[150, metric], metric


def test_cli_records_variant_and_bootstrap(files):
    out = files / "eval.json"
    argv = ["--groundtruth", str(files / "gt.parquet"), "--run", str(files / "run.tsv"),
            "--scores", str(files / "scores.parquet"), "--system", "single-consistent",
            "--source", "lastfm", "--split", "validation", "--decoding", "per_label",
            "--hierarchy", "consistent", "--bootstrap", "50", "--bootstrap-seed", "3",
            "--out", str(out)]
    assert E.main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["decoding"] == "per_label" and doc["hierarchy"] == "consistent"
    assert doc["bootstrap"]["replicates"] == 50 and doc["bootstrap"]["seed"] == 3
    first = out.read_text()
    for metric in evaluation.HEADLINE:
        lo, hi = doc["metrics"][f"{metric}_ci95"]
        assert 0 <= lo <= hi <= 1
    assert E.main(argv) == 0
    assert json.loads(out.read_text())["metrics"] == json.loads(first)["metrics"]  # seeded
    E.main([*argv[:-2], "--bootstrap", "0", "--out", str(out)])
    assert "roc_auc_ci95" not in json.loads(out.read_text())["metrics"]
