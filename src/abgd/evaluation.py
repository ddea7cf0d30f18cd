"""Score one run file against a ground truth with the official metrics (+ ROC AUC from scores).

The library behind ``abgd.evaluate`` (the workflow's step) and ``abgd score`` (anyone's run file
against an official ground-truth TSV), so both give the same numbers by construction.

ROC AUC needs the continuous scores, not the run, so it is computed only when ``--scores`` is
given, over the score columns (ground-truth labels the model cannot output have no scores and
are left out of the AUC, but they do count in the eval.R metrics as misses). NaN metrics (e.g.
a subgenre block without subgenres) are written as JSON ``null``.

``--bootstrap B`` adds percentile 95 % intervals over recordings for the headline metrics
(``roc_auc``, ``Ftrackall``, ``Flabelall``) as ``<metric>_ci95: [lo, hi]``. Resampling the
recordings (not the labels) matches what the numbers claim to estimate: performance on another
set of recordings drawn like this one. Each replicate is a vector of draw counts per recording,
so every metric becomes a weighted sum: per-recording F values are averaged with the weights,
per-label counts (T, P, TP) are weighted column sums, and the ROC AUC's Mann-Whitney statistic
is computed with weighted cumulative negatives over each label's sorted scores. No replicate
rebuilds a matrix. Labels that lose all their positives in a replicate drop out of that
replicate's macro averages, exactly as they would in a fresh evaluation of those rows.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from abgd import labels as lab
from abgd import metrics
from abgd.labels import read_groundtruth
from abgd.runs import read_run
from abgd.scores import read_scores

if TYPE_CHECKING:
    import pandas as pd

HEADLINE = ("roc_auc", "Ftrackall", "Flabelall")
_CELLS_PER_CHUNK = 1 << 22


def non_negative_int(text: str) -> int:
    """An argparse type: a count that may be zero (``--bootstrap 0`` turns intervals off)."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def add_bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
    """``--bootstrap B`` and ``--bootstrap-seed S``, as ``evaluate`` and ``score`` take them."""
    parser.add_argument("--bootstrap", type=non_negative_int, default=0, metavar="B",
                        help="bootstrap replicates over recordings for 95%% intervals of "
                        "roc_auc, Ftrackall, Flabelall (default 0: none)")
    parser.add_argument("--bootstrap-seed", type=int, default=0, metavar="S",
                        help="seed of the bootstrap resampling (default 0)")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def auc_inputs(gt_ids: list[str], gt_labels: list[list[str]], score_ids: np.ndarray,
               labels: list[str], scores: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Truth over the score columns and the score rows, both in ground-truth order."""
    positions = metrics.align_ids(gt_ids, score_ids.tolist())
    known = set(labels)
    truth = lab.label_matrix_strict([[x for x in row if x in known] for row in gt_labels],
                                    labels, gt_ids, "ground truth")
    return truth, scores[positions]


# --------------------------------------------------------------------------- bootstrap


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot × n`` recording indices drawn with replacement (one row per replicate)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n)) if n else \
        np.zeros((n_boot, 0), dtype=np.int64)


def draw_counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each recording is drawn in each replicate (``replicates × n`` floats)."""
    b = indices.shape[0]
    flat = (indices + np.arange(b)[:, None] * n).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(np.float64)


def weighted_track_mean(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean of per-recording values under each replicate's weights, NaN (NA) rows left out."""
    valid = ~np.isnan(values)
    den = weights @ valid.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (weights @ np.where(valid, values, 0.0)) / den


def weighted_label_f(truth: sparse.csr_matrix, pred: sparse.csr_matrix, weights: np.ndarray,
                     round_items: int | None = 4) -> np.ndarray:
    """eval.R ``Flabelall`` per replicate: per-label F over labels present in the replicate."""
    truth = sparse.csr_matrix(truth, dtype=np.float64)
    pred = sparse.csr_matrix(pred, dtype=np.float64)
    hits = truth.multiply(pred).tocsr()
    t, p, tp = ((m.T @ weights.T).T for m in (truth, pred, hits))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = tp / np.where(p == 0, 1.0, p)
        recall = tp / t
        f = 2 * precision * recall / (precision + recall)
    f = np.where(np.isnan(f), 0.0, f)
    if round_items is not None:
        f = np.round(f, round_items)
    present = t > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(present, f, 0.0).sum(axis=1) / present.sum(axis=1)


def weighted_roc_auc(truth: sparse.spmatrix, scores: np.ndarray,
                     weights: np.ndarray) -> np.ndarray:
    """Macro ROC AUC per replicate (labels with weighted positives and negatives only).

    For each label the scores are sorted once; a positive's AUC contribution is its weight
    times the weight of negatives scoring strictly lower plus half of those tied with it.
    """
    truth_csc = sparse.csc_matrix(truth, dtype=bool)
    b = weights.shape[0]
    k = scores.shape[1]
    total = np.zeros(b)
    count = np.zeros(b)
    for j in range(k):
        positive = np.zeros(scores.shape[0], dtype=bool)
        positive[truth_csc.indices[truth_csc.indptr[j]:truth_csc.indptr[j + 1]]] = True
        if not positive.any() or positive.all():
            continue
        order = np.argsort(scores[:, j], kind="stable")
        column = scores[order, j]
        pos_at = np.flatnonzero(positive[order])
        w = weights[:, order]
        cum_neg = np.zeros((b, column.size + 1))
        np.cumsum(np.where(positive[order], 0.0, w), axis=1, out=cum_neg[:, 1:])
        start = np.searchsorted(column, column[pos_at], side="left")
        stop = np.searchsorted(column, column[pos_at], side="right")
        below, tied = cum_neg[:, start], cum_neg[:, stop] - cum_neg[:, start]
        w_pos = w[:, pos_at]
        n_pos, n_neg = w_pos.sum(axis=1), cum_neg[:, -1]
        ok = (n_pos > 0) & (n_neg > 0)
        auc = np.sum(w_pos * (below + 0.5 * tied), axis=1) / np.where(ok, n_pos * n_neg, 1.0)
        total += np.where(ok, auc, 0.0)
        count += ok
    with np.errstate(divide="ignore", invalid="ignore"):
        return total / count


def bootstrap_replicates(indices: np.ndarray, track_f: np.ndarray, truth: sparse.csr_matrix,
                         pred: sparse.csr_matrix, auc_truth: sparse.spmatrix | None = None,
                         auc_scores: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Headline metrics for each replicate (row of ``indices``), in chunks of replicates."""
    n = track_f.size
    step = max(1, _CELLS_PER_CHUNK // max(n, 1))
    parts: dict[str, list[np.ndarray]] = {m: [] for m in HEADLINE}
    for start in range(0, indices.shape[0], step):
        weights = draw_counts(indices[start:start + step], n)
        parts["Ftrackall"].append(weighted_track_mean(track_f, weights))
        parts["Flabelall"].append(weighted_label_f(truth, pred, weights))
        if auc_truth is not None and auc_scores is not None:
            parts["roc_auc"].append(weighted_roc_auc(auc_truth, auc_scores, weights))
    return {m: np.concatenate(v) for m, v in parts.items() if v}


def percentile_interval(values: np.ndarray, level: float = 0.95) -> list[float] | None:
    """Percentile interval of bootstrap replicates (NaN replicates ignored)."""
    kept = values[~np.isnan(values)]
    if not kept.size:
        return None
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(kept, [tail, 100 - tail])
    return [float(lo), float(hi)]


def bootstrap_intervals(gt_ids: list[str], gt_labels: list[list[str]], run_ids: list[str],
                        run_labels: list[list[str]], n_boot: int, seed: int,
                        auc: tuple[sparse.spmatrix, np.ndarray] | None = None
                        ) -> dict[str, list[float] | None]:
    """``<metric>_ci95`` for the headline metrics; ``auc`` = truth and scores in GT order."""
    positions = metrics.align_ids(gt_ids, run_ids)
    run_aligned = [run_labels[i] for i in positions]
    labels = sorted({x for row in gt_labels for x in row} | {x for row in run_labels for x in row})
    truth = lab.label_matrix_strict(gt_labels, labels, gt_ids, "ground truth")
    pred = lab.label_matrix_strict(run_aligned, labels, gt_ids, "run")
    track_f = np.round(metrics.per_track(truth, pred, lab.subgenre_mask(labels))["Fall"], 4)
    indices = resample_indices(len(gt_ids), n_boot, seed)
    reps = bootstrap_replicates(indices, track_f, truth, pred, *(auc or (None, None)))
    return {f"{m}_ci95": percentile_interval(reps[m]) if m in reps else None for m in HEADLINE}


def evaluate_files(groundtruth: Path, run: Path, scores: Path | None = None,
                   bootstrap: int = 0, bootstrap_seed: int = 0) -> dict[str, Any]:
    """The metrics of a run file against a ground-truth Parquet (see :func:`evaluate_lists`)."""
    gt_ids, gt_labels = read_groundtruth(groundtruth)
    return evaluate_lists(gt_ids, gt_labels, run, scores, bootstrap, bootstrap_seed,
                          str(groundtruth))


def evaluate_lists(gt_ids: Sequence[str], gt_labels: Sequence[Sequence[str]], run: Path,
                   scores: Path | None = None, bootstrap: int = 0, bootstrap_seed: int = 0,
                   groundtruth: str = "ground truth") -> dict[str, Any]:
    """eval.R's summaries of ``run`` (+ ROC AUC if ``scores``, + intervals if ``bootstrap``).

    NaN values become ``None`` (JSON null); ``groundtruth`` names the truth in error messages.
    """
    gt_ids, gt_labels = list(gt_ids), [list(x) for x in gt_labels]
    run_ids, run_labels = read_run(run)
    try:
        result = metrics.evaluate_lists(gt_ids, gt_labels, run_ids, run_labels)
    except ValueError as err:
        raise ValueError(f"{run} vs {groundtruth}: {err}") from err
    auc_keys = ("roc_auc", "roc_auc_genre", "roc_auc_subgenre")
    auc = None
    if scores is None:
        result.update(dict.fromkeys(auc_keys))
    else:
        score_ids, labels, matrix = read_scores(scores)
        try:
            auc = auc_inputs(gt_ids, gt_labels, score_ids, labels, matrix)
        except ValueError as err:
            raise ValueError(f"{scores} vs {groundtruth}: {err}") from err
        result.update(metrics.roc_auc_macro(*auc, labels))
    if bootstrap > 0:
        result.update(bootstrap_intervals(gt_ids, gt_labels, run_ids, run_labels, bootstrap,
                                          bootstrap_seed, auc))
    return {key: _clean(value) for key, value in result.items()}


def result_tables(gt_ids: Sequence[str], gt_labels: Sequence[Sequence[str]],
                  run_ids: Sequence[str], run_labels: Sequence[Sequence[str]],
                  auc: tuple[sparse.spmatrix, np.ndarray, Sequence[str]] | None = None,
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-recording and per-label tables behind eval.R's means (full precision, NaN = NA).

    Recordings in ground-truth order with P/R/F at the three levels; labels of the ground
    truth (those eval.R averages over) with their counts, P/R/F, level and, given ``auc``
    (truth over the score columns, aligned scores, score labels), their ROC AUC.
    """
    positions = metrics.align_ids(gt_ids, run_ids)
    labels = sorted({x for row in gt_labels for x in row} | {x for row in run_labels for x in row})
    truth = lab.label_matrix_strict(gt_labels, labels, gt_ids, "ground truth")
    pred = lab.label_matrix_strict([run_labels[i] for i in positions], labels, gt_ids, "run")
    import pandas as pd  # only the per-recording/per-label tables need it

    tracks = pd.DataFrame({"mbid": list(gt_ids)})
    for key, values in metrics.per_track(truth, pred, lab.subgenre_mask(labels)).items():
        tracks[key] = values
    per_label = metrics.per_label(truth, pred)
    index = per_label["index"]
    truth_csc, pred_csc = sparse.csc_matrix(truth), sparse.csc_matrix(pred)
    table = pd.DataFrame({
        "label": [labels[j] for j in index],
        "level": ["subgenre" if lab.is_subgenre(labels[j]) else "genre" for j in index],
        "n_truth": np.diff(truth_csc.indptr)[index],
        "n_predicted": np.diff(pred_csc.indptr)[index],
        "n_correct": np.asarray(truth_csc.multiply(pred_csc).sum(axis=0)).ravel()[index],
        "P": per_label["P"], "R": per_label["R"], "F": per_label["F"],
    })
    if auc is not None:
        auc_truth, auc_scores, auc_labels = auc
        values = dict(zip(auc_labels, metrics.per_label_roc_auc(auc_truth, auc_scores),
                          strict=True))
        table["roc_auc"] = [values.get(label, math.nan) for label in table["label"]]
    return tracks, table


def summary_text(result: dict[str, Any]) -> str:
    """eval.R's ``.results_summary`` text of an :func:`evaluate_lists` result (None = NA)."""
    return metrics.format_results_summary(
        {k: math.nan if v is None else v for k, v in result.items()})
