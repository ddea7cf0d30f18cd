"""Thresholds against brute force over every candidate threshold on small cases."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from abgd import threshold as T


def brute_label_f(y: np.ndarray, s: np.ndarray) -> float:
    best = 0.0
    for thr in np.unique(s):
        pred = s >= thr
        tp = np.sum(pred & y)
        if tp:
            p, r = tp / pred.sum(), tp / y.sum()
            best = max(best, 2 * p * r / (p + r))
    return best


def brute_track_f(y: np.ndarray, totals: np.ndarray, s: np.ndarray, thr: float) -> float:
    fs = []
    for i in range(len(s)):
        pred = s[i] >= thr
        if not pred.any():
            pred = np.zeros_like(pred)
            pred[np.argmax(s[i])] = True
        tp = np.sum(pred & y[i])
        p, r = tp / pred.sum(), (tp / totals[i]) if totals[i] else np.nan
        f = 2 * p * r / (p + r) if (p + r) else 0.0
        fs.append(0.0 if np.isnan(f) else f)
    return float(np.mean(fs))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 25), st.integers(1, 4))
def test_per_label_threshold_reaches_brute_force_max(seed, n, k):
    rng = np.random.default_rng(seed)
    y = rng.random((n, k)) < 0.4
    s = (np.round(rng.random((n, k)) * 8) / 8).astype(np.float32)
    labels = [f"l{j}" for j in range(k)]
    thr, f, untunable = T.per_label_thresholds(sparse.csr_matrix(y), s, labels)
    for j in range(k):
        if not y[:, j].any():
            assert labels[j] in untunable
            assert not (s[:, j] >= thr[j]).any()  # never predicted on the holdout
            continue
        expected = brute_label_f(y[:, j], s[:, j])
        assert f[j] == pytest.approx(expected, abs=1e-12)
        pred = s[:, j] >= thr[j]
        tp = np.sum(pred & y[:, j])
        achieved = 2 * tp / (pred.sum() + y[:, j].sum())
        assert achieved == pytest.approx(expected, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 15), st.integers(1, 5))
def test_global_threshold_matches_brute_force(seed, n, k):
    rng = np.random.default_rng(seed)
    y = rng.random((n, k)) < 0.4
    extra = rng.integers(0, 2, n)  # GT labels the model does not output
    totals = y.sum(axis=1) + extra
    s = (np.round(rng.random((n, k)) * 10) / 10).astype(np.float32)
    candidates = T.global_candidates(s, max_candidates=1000)
    np.testing.assert_array_equal(candidates, np.unique(s))
    ours = T.mean_track_f(sparse.csr_matrix(y), totals.astype(float), s, candidates,
                          rows_per_chunk=4)
    brute = [brute_track_f(y, totals, s, c) for c in candidates]
    np.testing.assert_allclose(ours, brute, atol=1e-12)


def test_grid_used_when_too_many_distinct_scores():
    rng = np.random.default_rng(0)
    s = rng.random((500, 30)).astype(np.float32)
    grid = T.global_candidates(s, max_candidates=64)
    assert grid.size <= 64
    assert grid.min() == pytest.approx(s.min()) and grid.max() == pytest.approx(s.max())


def test_cli_end_to_end(tmp_path):
    rng = np.random.default_rng(1)
    labels = ["jazz", "rock", "rock---punk", "zzz---never"]
    n = 60
    y = rng.random((n, 4)) < 0.4
    y[:, 3] = False
    y[~y.any(axis=1), 0] = True
    ids = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(n)]
    scores = np.clip(y * 0.4 + rng.random((n, 4)) * 0.6, 0, 1).astype(np.float32)
    frame = pd.DataFrame(scores, columns=labels)
    frame.insert(0, "mbid", ids)
    frame.to_parquet(tmp_path / "scores.parquet", index=False)
    gt_labels = [[lab for lab, v in zip(labels, row, strict=True) if v] for row in y]
    gt_labels[0] = [*gt_labels[0], "removed-label"]
    pd.DataFrame({"mbid": [*ids[::-1], "ffffffff-0000-0000-0000-000000000000"],
                  "release_group": ["rg"] * (n + 1),
                  "labels": [*gt_labels[::-1], ["jazz"]]}).to_parquet(tmp_path / "gt.parquet")
    out = tmp_path / "thr.json"
    assert T.main(["--scores", str(tmp_path / "scores.parquet"), "--groundtruth",
                   str(tmp_path / "gt.parquet"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["labels"] == labels
    assert result["untunable_labels"] == ["zzz---never"]
    assert set(result["per_label"]) == set(labels)
    hf = result["holdout_f"]
    assert hf["global_Ftrackall"] == pytest.approx(hf["global_search_Ftrackall"], abs=1e-12)
    assert 0 < hf["per_label_Ftrackall"] <= 1
    assert result["provenance"]["step"] == "threshold"


def test_missing_groundtruth_is_reported(tmp_path):
    with pytest.raises(ValueError, match="no ground truth"):
        T.truth_for_scores(["a", "b"], ["a"], [["rock"]], ["rock"], "gt.parquet")


def brute_consistent(labels, s_row, thr, ratio, fallback):
    """The consistent decoding of one row, written out label by label."""
    def parent_of(label):
        if "---" not in label:
            return None
        parent = label.split("---")[0]
        return labels.index(parent) if parent in labels else None

    def allowed(j):
        p = parent_of(labels[j])
        return p is None or s_row[p] >= ratio * thr[p]

    chosen = {j for j in range(len(labels)) if s_row[j] >= thr[j] and allowed(j)}
    if not chosen:
        key = (lambda j: s_row[j] / max(thr[j], 1e-12)) if fallback == "ratio" else \
            (lambda j: s_row[j])
        chosen = {max((j for j in range(len(labels)) if allowed(j)), key=key)}
    for j in list(chosen):
        p = parent_of(labels[j])
        if p is not None:
            chosen.add(p)
    return chosen


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(3, 20), st.booleans())
def test_parent_ratio_matches_brute_force(seed, n, per_label):
    rng = np.random.default_rng(seed)
    labels = ["a", "a---x", "a---y", "b", "b---x", "c---z"]
    k = len(labels)
    y = rng.random((n, k)) < 0.35
    extra = rng.integers(0, 2, n)
    totals = (y.sum(axis=1) + extra).astype(float)
    s = (np.round(rng.random((n, k)) * 20) / 20).astype(np.float32)
    thr = rng.random(k) * 0.8 + 0.1 if per_label else np.full(k, 0.55)
    fallback = "ratio" if per_label else "score"
    ratios = (0.0, 0.5, 1.0)
    fitted = T.fit_parent_ratio(sparse.csr_matrix(y), totals, s, labels,
                                thr if per_label else 0.55, fallback, ratios)
    brute = []
    for r in ratios:
        fs = []
        for i in range(n):
            pred = brute_consistent(labels, s[i], thr, r, fallback)
            tp = sum(bool(y[i, j]) for j in pred)
            p, rec = tp / len(pred), (tp / totals[i] if totals[i] else np.nan)
            f = 2 * p * rec / (p + rec) if (p + rec) > 0 else 0.0
            fs.append(0.0 if np.isnan(f) else f)
        brute.append(float(np.mean(fs)))
    np.testing.assert_allclose(list(fitted["grid_Ftrackall"].values()), brute, atol=1e-12)
    best = int(np.argmax(brute))
    assert fitted["parent_threshold_ratio"] == ratios[best]
    assert fitted["holdout_Ftrackall"] == pytest.approx(brute[best], abs=1e-12)


def test_cli_writes_hierarchy_ratios(tmp_path):
    rng = np.random.default_rng(3)
    labels = ["rock", "rock---punk", "rock---indie", "pop"]
    n = 80
    y = rng.random((n, 4)) < 0.3
    y[y[:, 1] | y[:, 2], 0] = True  # the taxonomy: a subgenre comes with its parent
    y[~y.any(axis=1), 3] = True
    ids = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(n)]
    scores = np.clip(y * 0.3 + rng.random((n, 4)) * 0.7, 0, 1).astype(np.float32)
    frame = pd.DataFrame(scores, columns=labels)
    frame.insert(0, "mbid", ids)
    frame.to_parquet(tmp_path / "scores.parquet", index=False)
    gt = [[lab for lab, v in zip(labels, row, strict=True) if v] for row in y]
    pd.DataFrame({"mbid": ids, "release_group": ["rg"] * n, "labels": gt}).to_parquet(
        tmp_path / "gt.parquet")
    out = tmp_path / "thr.json"
    assert T.main(["--scores", str(tmp_path / "scores.parquet"), "--groundtruth",
                   str(tmp_path / "gt.parquet"), "--out", str(out),
                   "--parent-ratios", "0", "0.5", "1"]) == 0
    hierarchy = json.loads(out.read_text())["hierarchy"]
    assert hierarchy["ratios"] == [0.0, 0.5, 1.0]
    assert hierarchy["n_subgenres_with_model_parent"] == 2
    for decoding in ("per_label", "global"):
        fitted = hierarchy[decoding]
        assert fitted["parent_threshold_ratio"] in (0.0, 0.5, 1.0)
        assert fitted["holdout_Ftrackall"] == max(fitted["grid_Ftrackall"].values())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=1, max_size=40),
       st.integers(0, 2**32 - 1))
def test_precision_recall_points_equal_scikit_learn(rows: list[tuple[bool, int]], seed: int
                                                    ) -> None:
    """Same curve as scikit-learn's, value for value, with many tied scores."""
    from sklearn.metrics import precision_recall_curve

    y = np.array([r[0] for r in rows])
    if not y.any():
        y[0] = True
    levels = np.random.default_rng(seed).random(7).astype(np.float32)
    s = levels[[r[1] for r in rows]]
    ours = T.precision_recall_points(y, s)
    theirs = precision_recall_curve(y, s)
    for a, b in zip(ours, theirs, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert T.best_f_threshold(y, s)[0] in set(s.tolist())
