"""Decision thresholds fitted on the holdout scores (the 20 % of the training set).

The baseline tuned its per-label thresholds on the official validation set, which is also the
set it reports on (dataset-spec §7.3). Here the thresholds see only the holdout part of the
training set, so reported validation numbers stay unbiased.

Two decodings are fitted:

* ``per_label``: for each label the threshold at the arg-max of F1 along scikit-learn's
  precision-recall curve (``F = nan_to_num(2PR/(P+R))``, first maximum = lowest threshold).
  A label without any positive on the holdout cannot be tuned; it gets the smallest float
  above its highest holdout score, i.e. it is never predicted on the holdout (and only on
  another split if a score beats every holdout score). Such labels are counted and listed.
* ``global``: one threshold for all labels maximising the mean per-recording F (eval.R
  ``Ftrackall``, including the decoder's top-label fallback for empty rows). Candidates are all
  distinct scores when there are at most ``max_candidates``; otherwise a grid made of quantiles
  of each recording's top scores (where a useful threshold lives: a few labels per recording)
  plus an even grid over the score range.

For the hierarchy-consistent variant of each decoding (``abgd.decode --hierarchy consistent``)
the parent-threshold ratio ``r`` is chosen from a small grid (default 0, 0.25, 0.5, 0.75, 1) to
maximise the holdout mean per-recording F of the consistent decoding, ties going to the smallest
``r`` (the least intrusive rule). Only one number per decoding is tuned, on purpose: a ratio per
parent would add hundreds of parameters fitted on few holdout positives.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from abgd import metrics
from abgd.decoding import binarize, consistent_binarize, parent_columns
from abgd.io import provenance, write_json
from abgd.labels import is_subgenre, label_matrix_strict, read_groundtruth
from abgd.progress import parse_step_args, progress, step_parser
from abgd.scores import read_scores

LOG = logging.getLogger("abgd.threshold")
TOP_K_FOR_GRID = 16
PARENT_RATIOS = (0.0, 0.25, 0.5, 0.75, 1.0)


def truth_for_scores(score_ids: Sequence[str], gt_ids: Sequence[str],
                     gt_labels: Sequence[Sequence[str]], labels: Sequence[str],
                     source: str = "ground truth") -> tuple[sparse.csr_matrix, np.ndarray]:
    """Truth matrix over the model labels for the scored rows, and each row's total GT count.

    The total includes ground-truth labels the model does not output (dropped rare labels):
    they still count as misses in eval.R's recall.
    """
    index = {mbid: i for i, mbid in enumerate(gt_ids)}
    missing = [m for m in score_ids if m not in index]
    if missing:
        raise ValueError(f"{source}: {len(missing)} scored mbids have no ground truth, "
                         f"e.g. {missing[:5]}")
    rows = [gt_labels[index[m]] for m in score_ids]
    known = set(labels)
    truth = label_matrix_strict([[x for x in r if x in known] for r in rows], labels,
                                list(score_ids), source)
    totals = np.fromiter((len(r) for r in rows), dtype=np.float64, count=len(rows))
    return truth, totals


def precision_recall_points(y: np.ndarray, s: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and thresholds as ``sklearn.metrics.precision_recall_curve`` gives them.

    Why not scikit-learn's: importing it costs each threshold job about 0.8 s, several times
    the fit itself on the demo data. The arithmetic is the same (float64 cumulative counts
    at each distinct score, from the highest down; ties do not matter, since only the last
    position of each score is kept), so the values are identical: tests/test_threshold.py
    compares the two on random inputs with ties.
    """
    order = np.argsort(s, kind="stable")[::-1]
    scores = s[order]
    last = np.flatnonzero(np.diff(scores))
    last = np.concatenate([last, [scores.size - 1]])
    tps = np.cumsum(np.asarray(y[order], dtype=np.float64))[last]
    fps = 1 + last.astype(np.float64) - tps
    precision = tps / (tps + fps)
    recall = tps / tps[-1] if tps[-1] else np.ones_like(tps)
    return (np.concatenate([precision[::-1], [1.0]]), np.concatenate([recall[::-1], [0.0]]),
            scores[last][::-1])


def best_f_threshold(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Threshold and F at the first arg-max of F along the precision-recall curve."""
    precision, recall, thresholds = precision_recall_points(y, s)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.nan_to_num(2 * precision * recall / (precision + recall))
    best = int(np.argmax(f[:-1]))  # the curve's last point (P=1, R=0) has no threshold
    return float(thresholds[best]), float(f[best])


def per_label_thresholds(truth: sparse.spmatrix, scores: np.ndarray, labels: Sequence[str]
                         ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-label F-maximising thresholds, holdout F per label, and the untunable labels."""
    truth_csc = sparse.csc_matrix(truth, dtype=bool)
    thresholds = np.empty(len(labels))
    best_f = np.zeros(len(labels))
    untunable: list[str] = []
    for j in progress(range(len(labels)), desc="thresholds"):
        y = truth_csc[:, j].toarray().ravel()
        s = scores[:, j]
        if not y.any():
            top = float(s.max()) if s.size else 0.0
            thresholds[j] = float(np.nextafter(top, math.inf))
            untunable.append(labels[j])
            continue
        thresholds[j], best_f[j] = best_f_threshold(y, s)
    return thresholds, best_f, untunable


def global_candidates(scores: np.ndarray, max_candidates: int = 512) -> np.ndarray:
    unique = np.unique(scores)
    if unique.size <= max_candidates:
        return unique.astype(np.float64)
    k = min(TOP_K_FOR_GRID, scores.shape[1])
    top = np.partition(scores, scores.shape[1] - k, axis=1)[:, -k:]
    half = max_candidates // 2
    grid = np.concatenate([
        np.quantile(top, np.linspace(0.0, 1.0, half)),
        np.linspace(float(scores.min()), float(scores.max()), max_candidates - half),
    ])
    return np.unique(grid)


def mean_track_f(truth: sparse.csr_matrix, totals: np.ndarray, scores: np.ndarray,
                 candidates: np.ndarray, rows_per_chunk: int = 4096) -> np.ndarray:
    """Mean eval.R per-recording F (all labels) for every candidate global threshold.

    Per chunk of recordings, each score's candidate bin is found once; reverse cumulative
    counts then give, for every candidate at once, how many labels and true labels pass it.
    An empty prediction is replaced by the top-scoring label, as the decoder does.
    """
    n, _ = scores.shape
    g = candidates.size
    sums = np.zeros(g)
    truth = sparse.csr_matrix(truth, dtype=bool)
    for start in range(0, n, rows_per_chunk):
        stop = min(start + rows_per_chunk, n)
        s = scores[start:stop]
        y = truth[start:stop].toarray()
        r = stop - start
        bins = np.searchsorted(candidates, s, side="right")  # s >= candidates[c] iff c < bin
        flat = (np.arange(r)[:, None] * (g + 1) + bins).ravel()
        counts = np.bincount(flat, minlength=r * (g + 1)).reshape(r, g + 1)
        hits = np.bincount(flat, weights=y.ravel().astype(np.float64),
                           minlength=r * (g + 1)).reshape(r, g + 1)
        predicted = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(np.float64)
        true_pos = np.cumsum(hits[:, ::-1], axis=1)[:, ::-1][:, 1:]
        top_hit = y[np.arange(r), np.argmax(s, axis=1)].astype(np.float64)
        empty = predicted == 0
        predicted = np.where(empty, 1.0, predicted)
        true_pos = np.where(empty, top_hit[:, None], true_pos)
        denom = predicted + totals[start:stop, None]
        sums += np.sum(np.where(denom > 0, 2 * true_pos / np.where(denom > 0, denom, 1), 0), axis=0)
    return sums / max(n, 1)


def holdout_track_f(truth: sparse.csr_matrix, totals: np.ndarray, pred: sparse.csr_matrix,
                     labels: Sequence[str]) -> float:
    """eval.R ``Ftrackall`` of a decoded holdout, counting GT labels the model cannot output."""
    extra = _extra_truth(truth, totals)
    pred_full = sparse.hstack([pred, sparse.csr_matrix(extra.shape, dtype=bool)]).tocsr()
    truth_full = sparse.hstack([truth, extra]).tocsr()
    extra_labels = [f"\x00extra{i}" for i in range(extra.shape[1])]
    return metrics.evaluate_matrices(truth_full, pred_full, [*labels, *extra_labels],
                                     None)["Ftrackall"]


def fit_parent_ratio(truth: sparse.csr_matrix, totals: np.ndarray, scores: np.ndarray,
                     labels: Sequence[str], thresholds: np.ndarray | float, fallback: str,
                     ratios: Sequence[float] = PARENT_RATIOS) -> dict[str, Any]:
    """Holdout Ftrackall of the consistent decoding for each ratio; the first best wins."""
    grid = [holdout_track_f(truth, totals,
                            consistent_binarize(scores, thresholds, labels, r, fallback), labels)
            for r in ratios]
    best = int(np.argmax(grid))
    return {"parent_threshold_ratio": float(ratios[best]), "holdout_Ftrackall": grid[best],
            "grid_Ftrackall": dict(zip((f"{r:g}" for r in ratios), grid, strict=True))}


def fit_thresholds(truth: sparse.csr_matrix, totals: np.ndarray, scores: np.ndarray,
                   labels: Sequence[str], max_candidates: int = 512,
                   parent_ratios: Sequence[float] = PARENT_RATIOS) -> dict[str, Any]:
    """Both decodings' thresholds (and consistent-variant ratios) plus the holdout F they reach."""
    per_label, f_label, untunable = per_label_thresholds(truth, scores, labels)
    candidates = global_candidates(scores, max_candidates)
    mean_f = mean_track_f(truth, totals, scores, candidates)
    best = int(np.argmax(mean_f))
    holdout: dict[str, Any] = {"per_label": dict(zip(labels, f_label.tolist(), strict=True))}
    parents = parent_columns(labels)
    hierarchy: dict[str, Any] = {
        "ratios": [float(r) for r in parent_ratios],
        "n_subgenres_with_model_parent": int(np.count_nonzero(parents >= 0)),
        "subgenres_without_model_parent": [
            lab for lab, p in zip(labels, parents, strict=True)
            if p < 0 and is_subgenre(lab)],
    }
    for name, thr, fallback in (("per_label", per_label, "ratio"),
                                ("global", candidates[best], "score")):
        holdout[f"{name}_Ftrackall"] = holdout_track_f(
            truth, totals, binarize(scores, thr, fallback), labels)
        if parent_ratios:
            hierarchy[name] = fit_parent_ratio(truth, totals, scores, labels, thr, fallback,
                                               parent_ratios)
    holdout["global_search_Ftrackall"] = float(mean_f[best])
    return {
        "hierarchy": hierarchy,
        "labels": list(labels),
        "per_label": dict(zip(labels, per_label.tolist(), strict=True)),
        "global": float(candidates[best]),
        "global_candidates": int(candidates.size),
        "holdout_f": holdout,
        "untunable_labels": untunable,
        "n_untunable": len(untunable),
    }


def _extra_truth(truth: sparse.csr_matrix, totals: np.ndarray) -> sparse.csr_matrix:
    """Ground-truth labels outside the model's outputs, as anonymous one-per-column misses.

    Only their count per recording matters to per-recording recall, so each is placed in its
    own anonymous column (never predicted).
    """
    missing = (totals - np.asarray(truth.sum(axis=1)).ravel()).astype(np.int64)
    width = int(missing.max()) if missing.size else 0
    rows = np.repeat(np.arange(missing.size), missing)
    cols = np.concatenate([np.arange(m) for m in missing]) if width else np.zeros(0, int)
    return sparse.csr_matrix((np.ones(rows.size, dtype=bool), (rows, cols)),
                             shape=(missing.size, width))


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.threshold",
                         description="Fit per-label and global thresholds on "
                         "holdout scores.")
    parser.add_argument("--scores", required=True, type=Path, help="holdout score Parquet")
    parser.add_argument("--groundtruth", required=True, type=Path,
                        help="training ground-truth Parquet (covers the holdout rows)")
    parser.add_argument("--out", required=True, type=Path, help="thresholds JSON to write")
    parser.add_argument("--max-candidates", type=int, default=512,
                        help="global-threshold grid size when scores have more distinct values")
    parser.add_argument("--parent-ratios", type=float, nargs="+", default=list(PARENT_RATIOS),
                        help="grid of parent-threshold ratios r for the hierarchy-consistent "
                        "decoding (default: 0 0.25 0.5 0.75 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    ids, labels, scores = read_scores(args.scores)
    gt_ids, gt_labels = read_groundtruth(args.groundtruth)
    truth, totals = truth_for_scores(ids.tolist(), gt_ids, gt_labels, labels,
                                     str(args.groundtruth))
    if any(not math.isfinite(r) for r in args.parent_ratios):
        raise SystemExit(f"--parent-ratios must be finite numbers, got {args.parent_ratios}")
    result = fit_thresholds(truth, totals, scores, labels, args.max_candidates,
                            args.parent_ratios)
    result["provenance"] = provenance(
        "threshold", {"max_candidates": args.max_candidates,
                      "parent_ratios": args.parent_ratios},
        [str(args.scores), str(args.groundtruth)])
    write_json(args.out, result)
    LOG.info("%s: %d labels (%d without holdout positives), global %.4f, holdout Ftrackall "
             "per-label %.4f / global %.4f", args.out, len(labels), result["n_untunable"],
             result["global"], result["holdout_f"]["per_label_Ftrackall"],
             result["holdout_f"]["global_Ftrackall"])
    for name in ("per_label", "global"):
        fitted = result["hierarchy"][name]
        LOG.info("consistent %s decoding: r = %g, holdout Ftrackall %.4f", name,
                 fitted["parent_threshold_ratio"], fitted["holdout_Ftrackall"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
