"""Time the vectorised eval.R metrics + ROC AUC against a per-recording Python loop.

Synthetic AllMusic-like validation set: 21 genres and 745 subgenres (766 labels), about 1.3
genres and 3 subgenres per recording, predictions of similar size overlapping the truth, and a
float32 score matrix. The loop baseline (a direct eval.R transcription + scikit-learn's
per-label ``roc_auc_score``) runs on a subsample and is extrapolated linearly.

    python benchmarks/bench_evaluate.py --recordings 300000
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np
from scipy import sparse
from sklearn.metrics import roc_auc_score

from abgd import metrics
from abgd.labels import subgenre_mask

N_GENRES, N_SUBGENRES = 21, 745


def make_labels() -> list[str]:
    genres = [f"genre{g:02d}" for g in range(N_GENRES)]
    subs = [f"genre{s % N_GENRES:02d}---sub{s:03d}" for s in range(N_SUBGENRES)]
    return sorted(genres + subs)


def random_sets(rng: np.random.Generator, n: int, labels: list[str],
                base: sparse.csr_matrix | None = None) -> sparse.csr_matrix:
    """Random label sets (~1.3 genres, ~3 subgenres); with ``base``, keep ~half of its labels."""
    sub = subgenre_mask(labels)
    genre_cols, sub_cols = np.flatnonzero(~sub), np.flatnonzero(sub)
    n_gen = 1 + (rng.random(n) < 0.3)
    n_sub = rng.poisson(3.0, n)
    rows = np.concatenate([np.repeat(np.arange(n), n_gen), np.repeat(np.arange(n), n_sub)])
    cols = np.concatenate([
        genre_cols[rng.integers(0, genre_cols.size, n_gen.sum())],
        sub_cols[rng.integers(0, sub_cols.size, n_sub.sum())],
    ])
    matrix = sparse.csr_matrix((np.ones(rows.size, bool), (rows, cols)), shape=(n, len(labels)))
    if base is not None:
        keep = base.copy()
        keep.data = rng.random(keep.nnz) < 0.5
        keep.eliminate_zeros()
        matrix = matrix + keep
    matrix.data[:] = True
    matrix.eliminate_zeros()
    return matrix


def to_lists(matrix: sparse.csr_matrix, labels: list[str]) -> list[list[str]]:
    names = np.asarray(labels, dtype=object)
    return [names[matrix.indices[a:b]].tolist()
            for a, b in zip(matrix.indptr[:-1], matrix.indptr[1:], strict=True)]


def loop_eval(truth: list[list[str]], pred: list[list[str]]) -> float:
    """Plain per-recording loop in eval.R's style (per-track sums and per-label counters)."""
    f_sum = 0.0
    t_lab: dict[str, int] = {}
    p_lab: dict[str, int] = {}
    tp_lab: dict[str, int] = {}
    for gt, pr in zip(truth, pred, strict=True):
        prs = set(pr)
        tp = [g in prs for g in gt]
        for level in (None, False, True):
            g_l = [g for g in gt if level is None or ("---" in g) == level]
            p_l = [x for x in pr if level is None or ("---" in x) == level]
            hits = sum(1 for g, h in zip(gt, tp, strict=True) if h and g in g_l)
            if g_l:
                p = hits / len(p_l) if p_l else 0.0
                r = hits / len(g_l)
                f_sum += 2 * p * r / (p + r) if p + r else 0.0
        for g in gt:
            t_lab[g] = t_lab.get(g, 0) + 1
        for x in pr:
            p_lab[x] = p_lab.get(x, 0) + 1
        for g, h in zip(gt, tp, strict=True):
            if h:
                tp_lab[g] = tp_lab.get(g, 0) + 1
    return f_sum


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recordings", type=int, default=300_000)
    parser.add_argument("--baseline-sample", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-speedup", type=float, default=10.0,
                        help="target: vectorised at least this many times the loop (exit 1 if not)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    labels = make_labels()
    n = args.recordings
    truth_m = random_sets(rng, n, labels)
    pred_m = random_sets(rng, n, labels, base=truth_m)
    scores = rng.random((n, len(labels)), dtype=np.float32) * 0.8
    scores[truth_m.nonzero()] += 0.2 * rng.random(truth_m.nnz, dtype=np.float32)
    truth, pred = to_lists(truth_m, labels), to_lists(pred_m, labels)
    ids = [f"{i:036d}" for i in range(n)]
    print(f"recordings {n}, labels {len(labels)}, truth labels/rec "
          f"{truth_m.nnz / n:.2f}, predicted/rec {pred_m.nnz / n:.2f}")

    start = time.perf_counter()
    result = metrics.evaluate_lists(ids, truth, ids, pred)
    t_eval = time.perf_counter() - start
    start = time.perf_counter()
    auc = metrics.roc_auc_macro(truth_m, scores, labels)
    t_auc = time.perf_counter() - start
    ours = t_eval + t_auc
    print(f"vectorised eval.R metrics: {t_eval:.2f} s (Ftrackall {result['Ftrackall']:.4f})")
    print(f"vectorised ROC AUC:        {t_auc:.2f} s (roc_auc {auc['roc_auc']:.4f})")
    print(f"vectorised total:          {ours:.2f} s")

    m = min(args.baseline_sample, n)
    start = time.perf_counter()
    loop_eval(truth[:m], pred[:m])
    t_loop = (time.perf_counter() - start) * n / m
    dense = truth_m[:m].toarray()
    start = time.perf_counter()
    for j in range(len(labels)):
        if 0 < dense[:, j].sum() < m:
            roc_auc_score(dense[:, j], scores[:m, j])
    t_sk = (time.perf_counter() - start) * n / m
    baseline = t_loop + t_sk
    print(f"loop baseline on {m} recordings, extrapolated to {n}: eval.R loop {t_loop:.1f} s, "
          f"per-label sklearn AUC {t_sk:.1f} s, total {baseline:.1f} s")
    print(f"speed-up: {baseline / ours:.1f}x (target >= {args.min_speedup:g})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS: {peak / 1024:.0f} MiB")
    if baseline / ours < args.min_speedup:
        print(f"TARGET MISSED: speed-up {baseline / ours:.1f} < {args.min_speedup:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
