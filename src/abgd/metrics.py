"""The official MediaEval AcousticBrainz Genre metrics (``eval.R``), vectorised, plus ROC AUC.

Reported numbers are only comparable with the 2017/2018 results if every corner case follows
``eval.R`` (MTG/acousticbrainz-genre-dataset ``evaluation/eval.R``; dataset-spec §6.2):

* per recording, all labels: ``P = |TP|/|P|`` (an empty prediction gives NaN, dropped from the
  mean like R's ``na.rm``), ``R = |TP|/|T|``;
* genre / subgenre level: only recordings with at least one ground-truth label of that level
  take part (NA otherwise); precision is 0 when nothing of that level is predicted;
* ``F = 2PR/(P+R)``, and 0 where that is NaN (P = R = 0) -- but an NA level stays NA;
* per label, only labels occurring in the ground truth; a label never predicted has precision
  0; predicted labels absent from the ground truth get no entry but still cost precision;
* eval.R rounds every per-recording and per-label value to 4 decimals *before* averaging
  (``data.track[,-1] <- round(...)``), then prints ``round(mean)`` and ``round(sd)`` (n − 1).
  ``round_items=4`` (the default) reproduces that; ``None`` keeps full precision.

Everything works on ``scipy.sparse`` binary matrices over one label index, so 300 k recordings
cost a handful of sparse products instead of a Python loop per recording. Micro-averaged P/R/F
and macro ROC AUC are extras that eval.R does not compute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
from scipy import sparse

from abgd.labels import label_matrix_strict, quoted_listing, subgenre_mask

LEVELS = ("all", "gen", "sub")
BLOCKS = tuple(f"{kind}{level}" for kind in ("track", "label") for level in LEVELS)
#: The official result-CSV column order (``results/2018-allscores.csv``).
OFFICIAL_COLUMNS = tuple(f"{m}{block}" for block in BLOCKS for m in "PRF")
_BLOCK_TITLES = {
    "trackall": "per track (all labels",
    "trackgen": "per track (genre labels",
    "tracksub": "per track (subgenre labels",
    "labelall": "per label (all labels",
    "labelgen": "per label (genre labels",
    "labelsub": "per label (subgenre labels",
}


def align_ids(truth_ids: Sequence[str], run_ids: Sequence[str]) -> np.ndarray:
    """Row positions in the run for each ground-truth ID; the two ID sets must be identical.

    eval.R sorts both files and stops with "IDs don't match" at the first difference (and
    silently ignores surplus run lines); here any difference is an error that lists both sides.
    """
    # A dict, not pandas: every evaluate job aligns IDs, and importing pandas costs more
    # than the alignment itself (0.2 s against ~10 ms for 50,000 IDs).
    positions_of: dict[str, dict[str, int]] = {}
    for name, ids in (("ground truth", truth_ids), ("run", run_ids)):
        index: dict[str, int] = {}
        for position, mbid in enumerate(ids):
            index.setdefault(mbid, position)
        if len(index) != len(ids):
            dup = list(dict.fromkeys(m for i, m in enumerate(ids) if index[m] != i))
            raise ValueError(f"duplicate IDs in the {name}: {quoted_listing(dup)}")
        positions_of[name] = index
    run_index = positions_of["run"]
    positions = np.fromiter((run_index.get(m, -1) for m in truth_ids), dtype=np.intp,
                            count=len(truth_ids))
    missing = [m for m, p in zip(truth_ids, positions, strict=True) if p < 0]
    extra = sorted(set(run_index) - set(positions_of["ground truth"]))
    if missing or extra:
        raise ValueError(
            "IDs don't match: "
            f"{len(missing)} ground-truth IDs missing from the run ({quoted_listing(missing)}); "
            f"{len(extra)} run IDs not in the ground truth ({quoted_listing(extra)})"
        )
    return positions


def _rounded(values: np.ndarray, digits: int | None) -> np.ndarray:
    return values if digits is None else np.round(values, digits)


def mean_sd(values: np.ndarray) -> tuple[float, float, int]:
    """R's ``mean(x, na.rm=TRUE)`` and ``sd(x, na.rm=TRUE)``: NaN mean if empty, NaN sd below 2."""
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        return math.nan, math.nan, 0
    sd = float(np.std(kept, ddof=1)) if kept.size > 1 else math.nan
    return float(np.mean(kept)), sd, int(kept.size)


def _f_score(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        f = 2 * precision * recall / (precision + recall)
    return np.where(np.isnan(f), 0.0, f)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / den


def per_track(truth: sparse.csr_matrix, pred: sparse.csr_matrix,
              sub: np.ndarray) -> dict[str, np.ndarray]:
    """Per-recording P/R/F at the three levels (NaN = NA, i.e. the level does not apply)."""
    truth = sparse.csr_matrix(truth, dtype=np.int32)
    pred = sparse.csr_matrix(pred, dtype=np.int32)
    tp_matrix = truth.multiply(pred).tocsr()
    sub_col = sub.astype(np.float64)
    out: dict[str, np.ndarray] = {}
    t = np.asarray(truth.sum(axis=1), dtype=np.float64).ravel()
    p = np.asarray(pred.sum(axis=1), dtype=np.float64).ravel()
    tp = np.asarray(tp_matrix.sum(axis=1), dtype=np.float64).ravel()
    t_sub, p_sub, tp_sub = (m @ sub_col for m in (truth, pred, tp_matrix))
    counts = {
        "all": (t, p, tp),
        "gen": (t - t_sub, p - p_sub, tp - tp_sub),
        "sub": (t_sub, p_sub, tp_sub),
    }
    for level, (t_l, p_l, tp_l) in counts.items():
        precision = _divide(tp_l, p_l)
        recall = _divide(tp_l, t_l)
        if level != "all":
            precision = np.where(p_l == 0, 0.0, precision)
        f = _f_score(precision, recall)
        if level != "all":
            na = t_l == 0
            precision, recall, f = (np.where(na, np.nan, x) for x in (precision, recall, f))
        out[f"P{level}"], out[f"R{level}"], out[f"F{level}"] = precision, recall, f
    return out


def per_label(truth: sparse.csr_matrix, pred: sparse.csr_matrix) -> dict[str, np.ndarray]:
    """Per-label P/R/F for the labels present in the ground truth (``index`` = their columns)."""
    truth = sparse.csr_matrix(truth, dtype=np.int32)
    pred = sparse.csr_matrix(pred, dtype=np.int32)
    t = np.asarray(truth.sum(axis=0)).ravel().astype(np.float64)
    p = np.asarray(pred.sum(axis=0)).ravel().astype(np.float64)
    tp = np.asarray(truth.multiply(pred).sum(axis=0)).ravel().astype(np.float64)
    index = np.flatnonzero(t > 0)
    t, p, tp = t[index], p[index], tp[index]
    precision = tp / np.where(p == 0, 1.0, p)
    recall = tp / t
    return {"index": index, "P": precision, "R": recall, "F": _f_score(precision, recall)}


def evaluate_matrices(
    truth: sparse.spmatrix, pred: sparse.spmatrix, labels: Sequence[str],
    round_items: int | None = 4,
) -> dict[str, Any]:
    """All eval.R summaries (+ micro P/R/F) for binary matrices over one shared label index.

    The index must include predicted labels that are absent from the ground truth, otherwise
    their cost to per-recording precision would be lost.
    """
    if truth.shape != pred.shape or truth.shape[1] != len(labels):
        raise ValueError(
            f"shape mismatch: truth {truth.shape}, predictions {pred.shape}, {len(labels)} labels"
        )
    sub = subgenre_mask(labels)
    metrics: dict[str, Any] = {}
    track = per_track(truth, pred, sub)
    for level in LEVELS:
        for m in "PRF":
            mean, sd, _ = mean_sd(_rounded(track[f"{m}{level}"], round_items))
            metrics[f"{m}track{level}"], metrics[f"{m}track{level}_sd"] = mean, sd
        metrics[f"n_track{level}"] = int(np.count_nonzero(~np.isnan(track[f"F{level}"])))
    label = per_label(truth, pred)
    label_sub = sub[label["index"]]
    for level, mask in (("all", np.ones_like(label_sub)), ("gen", ~label_sub), ("sub", label_sub)):
        for m in "PRF":
            mean, sd, _ = mean_sd(_rounded(label[m][mask], round_items))
            metrics[f"{m}label{level}"], metrics[f"{m}label{level}_sd"] = mean, sd
        metrics[f"n_label{level}"] = int(mask.sum())
    tp_total = float(sparse.csr_matrix(truth).multiply(pred).sum())
    p_total, t_total = float(pred.sum()), float(truth.sum())
    p_micro = tp_total / p_total if p_total else 0.0
    r_micro = tp_total / t_total if t_total else math.nan
    metrics["Pmicro"], metrics["Rmicro"] = p_micro, r_micro
    metrics["Fmicro"] = float(_f_score(np.array([p_micro]), np.array([r_micro]))[0])
    return metrics


def evaluate_lists(
    truth_ids: Sequence[str], truth_labels: Sequence[Sequence[str]],
    run_ids: Sequence[str], run_labels: Sequence[Sequence[str]],
    round_items: int | None = 4,
) -> dict[str, Any]:
    """eval.R on label lists: align the run on the ground-truth IDs, then score."""
    positions = align_ids(truth_ids, run_ids)
    run_aligned = [run_labels[i] for i in positions]
    labels = sorted(set(chain.from_iterable(truth_labels)) | set(chain.from_iterable(run_labels)))
    truth = label_matrix_strict(truth_labels, labels, truth_ids, "ground truth")
    pred = label_matrix_strict(run_aligned, labels, truth_ids, "run")
    return evaluate_matrices(truth, pred, labels, round_items)


# --------------------------------------------------------------------------- ROC AUC


def per_label_roc_auc(truth: sparse.spmatrix | np.ndarray, scores: np.ndarray,
                      chunk: int = 32) -> np.ndarray:
    """Mann-Whitney AUC per column (NaN where a column lacks positives or negatives).

    Sorting each score column once and locating the (few) positives with ``searchsorted``
    gives their tie-averaged ranks, so the cost is one sort per label instead of
    scikit-learn's per-label curve construction; the result equals ``roc_auc_score``.
    """
    n, k = scores.shape
    if truth.shape != (n, k):
        raise ValueError(f"shape mismatch: truth {truth.shape}, scores {scores.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    truth_csc = sparse.csc_matrix(truth, dtype=bool)
    truth_csc.eliminate_zeros()
    auc = np.full(k, np.nan)
    for start in range(0, k, chunk):
        stop = min(start + chunk, k)
        block = np.sort(np.ascontiguousarray(scores[:, start:stop].T), axis=1)
        for j in range(start, stop):
            rows = truth_csc.indices[truth_csc.indptr[j]:truth_csc.indptr[j + 1]]
            n_pos = rows.size
            n_neg = n - n_pos
            if n_pos == 0 or n_neg == 0:
                continue
            column = block[j - start]
            values = scores[rows, j]
            left = np.searchsorted(column, values, side="left").astype(np.float64)
            right = np.searchsorted(column, values, side="right").astype(np.float64)
            rank_sum = float(np.sum((left + right + 1.0) / 2.0))
            auc[j] = (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return auc


def _mean_defined(auc: np.ndarray) -> tuple[float, int]:
    valid = auc[~np.isnan(auc)]
    return (float(valid.mean()) if valid.size else math.nan), int(valid.size)


def macro_roc_auc(truth: sparse.spmatrix | np.ndarray, scores: np.ndarray) -> tuple[float, int]:
    """Macro ROC AUC over labels with ≥1 positive and ≥1 negative, and how many labels that is."""
    return _mean_defined(per_label_roc_auc(truth, scores))


def roc_auc_macro(truth: sparse.spmatrix | np.ndarray, scores: np.ndarray,
                  labels: Sequence[str]) -> dict[str, Any]:
    """``macro_roc_auc`` overall and per level (genre, subgenre), as evaluation reports it."""
    auc = per_label_roc_auc(truth, scores)
    sub = subgenre_mask(labels)
    out: dict[str, Any] = {}
    for key, mask in (("roc_auc", np.ones_like(sub)), ("roc_auc_genre", ~sub),
                      ("roc_auc_subgenre", sub)):
        out[key], out[f"n_{key}"] = _mean_defined(auc[mask])
    return out


# --------------------------------------------------------------------------- summary text


def r_number(value: float | int | None) -> str:
    """``as.character(round(x, 4))`` as R prints it: shortest digits, fixed unless wider.

    R chooses scientific notation when the fixed form is wider than the scientific one
    (``0.0007`` → ``7e-04``, as in ``2018-allscores.csv``), and drops trailing zeros.
    """
    if value is None:
        return "NA"
    if isinstance(value, int | np.integer):
        return str(int(value))
    x = float(value)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    x15 = float(f"{x:.14e}")
    digits = next(s for s in range(1, 16) if float(f"{x15:.{s - 1}e}") == x15)
    mantissa, exponent = f"{x15:.{digits - 1}e}".split("e")
    exp = int(exponent)
    sci = f"{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    fixed = f"{x15:.{max(0, digits - 1 - exp)}f}"
    return fixed if len(fixed) <= len(sci) else sci


def _r_round(value: Any, digits: int = 4) -> float | None:
    if value is None:
        return None
    x = float(value)
    return x if math.isnan(x) or math.isinf(x) else round(x, digits)


def format_results_summary(metrics: Mapping[str, Any], newline: str = "\n") -> str:
    """The text of eval.R's ``<run>.results_summary`` (same blocks, labels, rounding, n).

    The official files in MTG/acousticbrainz-genre-dataset carry CRLF line ends; pass
    ``newline="\\r\\n"`` for a byte-identical file. A missing sd (fewer than 2 values) prints
    ``NA`` like R; a mean over nothing prints ``NaN``.
    """
    lines: list[str] = []
    for block in BLOCKS:
        if lines:
            lines.append("")
        lines.append(f"# summary {_BLOCK_TITLES[block]}, n = {int(metrics[f'n_{block}'])})")
        for m, name in (("P", "Precision"), ("R", "   Recall"), ("F", "  F-score")):
            mean = _r_round(metrics[f"{m}{block}"])
            sd = _r_round(metrics[f"{m}{block}_sd"])
            sd_text = "NA" if sd is None or math.isnan(sd) else r_number(sd)
            lines.append(f"{name}: mean = {r_number(mean)} sd = {sd_text}")
    return newline.join(lines) + newline


def parse_results_summary(text: str) -> dict[str, Any]:
    """Read an official summary back into metric keys (to compare with published runs)."""
    metrics: dict[str, Any] = {}
    block_iter = iter(BLOCKS)
    block = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("# summary"):
            block = next(block_iter)
            metrics[f"n_{block}"] = int(line.rsplit("n = ", 1)[1].rstrip(")"))
        elif line and block is not None:
            name, rest = line.split(":", 1)
            m = {"Precision": "P", "Recall": "R", "F-score": "F"}[name.strip()]
            mean_text, sd_text = rest.replace("mean =", "").split(" sd = ")
            metrics[f"{m}{block}"] = float(mean_text)
            metrics[f"{m}{block}_sd"] = math.nan if sd_text.strip() == "NA" else float(sd_text)
    return metrics
