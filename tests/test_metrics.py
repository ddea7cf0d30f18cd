"""abgd.metrics against a plain-loop port of eval.R written here, and ROC AUC against sklearn."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.metrics import roc_auc_score

from abgd import metrics as M

EVAL_OUTPUTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval_outputs"
VOCAB = ["rock", "pop", "jazz", "rock---indie", "rock---punk", "pop---synth", "jazz---bop", "x---y"]


def _r_round(x: float) -> float:
    return x if math.isnan(x) else round(x, 4)


def eval_r_port(truth: dict[str, list[str]], run: dict[str, list[str]]) -> dict[str, float]:
    """Line-by-line transcription of eval.R's loop (rounding of per-item values included)."""
    ids = sorted(truth)
    assert sorted(run) == ids
    rows = {k: [] for k in ("Pall", "Rall", "Fall", "Pgen", "Rgen", "Fgen", "Psub", "Rsub", "Fsub")}
    t_label: dict[str, int] = {}
    p_label: dict[str, int] = {}
    tp_label: dict[str, int] = {}
    for mbid in ids:
        gt, pr = truth[mbid], run[mbid]
        tp = [g in pr for g in gt]
        is_gen_gt = ["---" not in g for g in gt]
        t, p = len(gt), len(pr)
        p_all = sum(tp) / p if p else math.nan
        r_all = sum(tp) / t if t else math.nan
        t_gen = sum(is_gen_gt)
        p_gen = sum("---" not in x for x in pr)
        tp_gen = sum(a and b for a, b in zip(tp, is_gen_gt, strict=True))
        p_g = r_g = math.nan
        if t_gen > 0:
            p_g = tp_gen / p_gen if p_gen else 0.0
            r_g = tp_gen / t_gen
        t_sub, p_sub, tp_sub = t - t_gen, p - p_gen, sum(tp) - tp_gen
        na_sub = t_sub == 0
        p_s = r_s = math.nan
        if t_sub > 0:
            p_s = tp_sub / p_sub if p_sub else 0.0
            r_s = tp_sub / t_sub
        for level, pp, rr, na in (("all", p_all, r_all, False), ("gen", p_g, r_g, t_gen == 0),
                                  ("sub", p_s, r_s, na_sub)):
            if na:
                ff = math.nan
            else:
                try:
                    ff = 2 * pp * rr / (pp + rr)
                except ZeroDivisionError:
                    ff = math.nan
                if math.isnan(ff):
                    ff = 0.0
            rows[f"P{level}"].append(pp)
            rows[f"R{level}"].append(rr)
            rows[f"F{level}"].append(ff)
        for g in gt:
            t_label[g] = t_label.get(g, 0) + 1
        for x in pr:
            p_label[x] = p_label.get(x, 0) + 1
        for g, hit in zip(gt, tp, strict=True):
            if hit:
                tp_label[g] = tp_label.get(g, 0) + 1
    out: dict[str, float] = {}

    def summarise(values: list[float], key: str) -> None:
        kept = [_r_round(v) for v in values if not math.isnan(v)]
        out[key] = statistics.fmean(kept) if kept else math.nan
        out[key + "_sd"] = statistics.stdev(kept) if len(kept) > 1 else math.nan

    for level in ("all", "gen", "sub"):
        for m in "PRF":
            summarise(rows[f"{m}{level}"], f"{m}track{level}")
        out[f"n_track{level}"] = sum(not math.isnan(v) for v in rows[f"F{level}"])
    labels = sorted(t_label)
    lp = {x: tp_label.get(x, 0) / p_label.get(x, 1) for x in labels}
    lr = {x: tp_label.get(x, 0) / t_label[x] for x in labels}
    lf = {x: (2 * lp[x] * lr[x] / (lp[x] + lr[x])) if lp[x] + lr[x] else 0.0 for x in labels}
    for level, chosen in (("all", labels), ("gen", [x for x in labels if "---" not in x]),
                          ("sub", [x for x in labels if "---" in x])):
        for m, table in (("P", lp), ("R", lr), ("F", lf)):
            summarise([table[x] for x in chosen], f"{m}label{level}")
        out[f"n_label{level}"] = len(chosen)
    return out


def _assert_close(ours: dict, ref: dict) -> None:
    for key, expected in ref.items():
        got = ours[key]
        if isinstance(expected, float) and math.isnan(expected):
            assert math.isnan(got), key
        else:
            assert got == pytest.approx(expected, abs=1e-12), key


label_sets = st.lists(st.sampled_from(VOCAB), unique=True, max_size=5)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(label_sets.filter(bool), label_sets), min_size=1, max_size=25),
       st.booleans())
def test_matches_eval_r_port(pairs, round_items):
    truth = {f"id{i:03d}": t for i, (t, _) in enumerate(pairs)}
    run = {f"id{i:03d}": p for i, (_, p) in enumerate(pairs)}
    ids = list(truth)[::-1]  # order must not matter
    ours = M.evaluate_lists(ids, [truth[i] for i in ids], list(run), list(run.values()),
                            round_items=4 if round_items else None)
    ref = eval_r_port(truth, run)
    if not round_items:
        ref = {k: v for k, v in ref.items() if k.startswith("n_")}
    _assert_close(ours, ref)


def test_hand_computed_case():
    # r1: truth {rock, rock---indie}, run {rock, pop}: P=1/2 R=1/2; gen P=1/2 R=1; sub P=0 R=0
    # r2: truth {pop}, run {pop---synth, x---y}: all P=0; gen P=0 (none predicted) R=0; no sub
    truth = {"r1": ["rock", "rock---indie"], "r2": ["pop"]}
    run = {"r1": ["rock", "pop"], "r2": ["pop---synth", "x---y"]}
    out = M.evaluate_lists(list(truth), list(truth.values()), list(run), list(run.values()))
    assert out["Ptrackall"] == pytest.approx(0.25)
    assert out["Ptrackgen"] == pytest.approx(0.25)
    assert out["Rtrackgen"] == pytest.approx(0.5)
    assert out["n_tracksub"] == 1 and out["Ftracksub"] == 0.0
    # labels in truth: pop (P 0/1, R 0/1), rock (1/1, 1/1), rock---indie (never predicted: 0)
    assert out["n_labelall"] == 3 and out["n_labelgen"] == 2 and out["n_labelsub"] == 1
    assert out["Plabelall"] == pytest.approx(1 / 3)
    assert math.isnan(out["Plabelsub_sd"])
    # micro: TP=1, predicted=4, true=3
    assert out["Pmicro"] == pytest.approx(0.25) and out["Rmicro"] == pytest.approx(1 / 3)


def test_empty_prediction_precision_dropped_like_na_rm():
    out = M.evaluate_lists(["a", "b"], [["rock"], ["pop"]], ["a", "b"], [["rock"], []])
    assert out["Ptrackall"] == 1.0  # NaN of "b" dropped
    assert out["Ftrackall"] == 0.5  # F of "b" is 0, kept


def test_ids_must_match():
    with pytest.raises(ValueError, match=r"IDs don't match.*'c'"):
        M.evaluate_lists(["a", "b"], [["rock"], ["pop"]], ["a", "c"], [["rock"], ["pop"]])
    with pytest.raises(ValueError, match="duplicate IDs in the run"):
        M.evaluate_lists(["a"], [["rock"]], ["a", "a"], [["rock"], ["pop"]])


def test_repeated_label_in_a_row_is_an_error():
    with pytest.raises(ValueError, match=r"repeated within recording.*'b'"):
        M.evaluate_lists(["a", "b"], [["rock"], ["pop"]], ["a", "b"], [["rock"], ["pop", "pop"]])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 60), st.integers(1, 6), st.booleans())
def test_roc_auc_matches_sklearn(seed, n, k, ties):
    rng = np.random.default_rng(seed)
    truth = rng.random((n, k)) < 0.3
    scores = rng.random((n, k)).astype(np.float32)
    if ties:
        scores = np.round(scores * 4) / 4
    auc = M.per_label_roc_auc(sparse.csr_matrix(truth), scores, chunk=2)
    for j in range(k):
        if truth[:, j].all() or not truth[:, j].any():
            assert math.isnan(auc[j])
        else:
            assert auc[j] == pytest.approx(roc_auc_score(truth[:, j], scores[:, j]), abs=1e-12)


def test_roc_auc_macro_levels():
    rng = np.random.default_rng(3)
    labels = ["pop", "pop---a", "rock", "rock---b"]
    truth = rng.random((200, 4)) < 0.3
    truth[:, 3] = False  # no positive: excluded
    scores = rng.random((200, 4))
    out = M.roc_auc_macro(truth, scores, labels)
    valid = [0, 1, 2]
    assert out["roc_auc"] == pytest.approx(roc_auc_score(truth[:, valid], scores[:, valid]))
    assert out["roc_auc_genre"] == pytest.approx(roc_auc_score(truth[:, [0, 2]],
                                                               scores[:, [0, 2]]))
    assert out["roc_auc_subgenre"] == pytest.approx(roc_auc_score(truth[:, 1], scores[:, 1]))
    assert out["n_roc_auc"] == 3


@pytest.mark.parametrize("value, text", [
    (0.0007, "7e-04"), (0.0001, "1e-04"), (0.0013, "0.0013"), (0.001, "0.001"), (0.0, "0"),
    (1.0, "1"), (0.274, "0.274"), (0.1451, "0.1451"), (math.nan, "NaN"), (1353213, "1353213"),
    (12.5, "12.5"), (100000.0, "1e+05"),
])
def test_r_number(value, text):
    assert M.r_number(value) == text


@pytest.mark.realdata
def test_summary_format_reproduces_official_files():
    files = sorted(EVAL_OUTPUTS.glob("*.results_summary"))
    if not files:
        pytest.skip("shared eval_outputs not available")
    for path in files:
        raw = path.read_bytes().decode("utf-8")
        parsed = M.parse_results_summary(raw)
        # re-enter the numbers independently of the parser's float conversion
        numbers = re.findall(r"mean = (\S+) sd = (\S+)", raw)
        assert len(numbers) == 18
        assert M.format_results_summary(parsed, newline="\r\n") == raw, path.name


def _align_with_pandas(truth_ids: list[str], run_ids: list[str]) -> np.ndarray:
    """The alignment as pandas indexes define it: an independent reference for align_ids."""
    import pandas as pd

    truth, run = pd.Index(truth_ids), pd.Index(run_ids)
    for name, index in (("ground truth", truth), ("run", run)):
        if not index.is_unique:
            return ("duplicate", name, index[index.duplicated()].unique().tolist())
    positions = run.get_indexer(truth)
    # sorted: pandas leaves the difference unsorted when the ground truth is empty
    missing, extra = truth[positions < 0].tolist(), sorted(run.difference(truth).tolist())
    if missing or extra:
        return ("mismatch", missing, extra)
    return positions


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from("abcdefgh"), max_size=8),
       st.lists(st.sampled_from("abcdefgh"), max_size=8), st.booleans())
def test_align_ids_agrees_with_pandas(truth: list[str], run: list[str], same: bool) -> None:
    if same:  # the common case: the same IDs in another order
        run = sorted(set(truth), reverse=True)
        truth = sorted(set(truth))
    expected = _align_with_pandas(truth, run)
    if isinstance(expected, tuple):
        with pytest.raises(ValueError) as caught:
            M.align_ids(truth, run)
        message = str(caught.value)
        if expected[0] == "duplicate":
            assert message == (f"duplicate IDs in the {expected[1]}: "
                               f"{M.quoted_listing(expected[2])}")
        else:
            assert f"{len(expected[1])} ground-truth IDs missing" in message
            assert f"({M.quoted_listing(expected[2])})" in message
        return
    assert M.align_ids(truth, run).tolist() == expected.tolist()
