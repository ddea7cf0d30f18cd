"""Turn score matrices into label sets: thresholds, the no-label fallback, hierarchy rules.

Library half of ``abgd.decode`` (which writes run files from score tables): ``abgd tag`` and
``abgd.threshold`` decode with the very same functions.

Decisions (dataset-spec §6.1, §7.3):

* A label is predicted iff ``score ≥ threshold`` (the baseline's rule).
* A recording left without any label gets exactly one: with per-label thresholds the label with
  the highest ``score / threshold`` ratio (the baseline's fix), with a global threshold the
  top-scoring label. The ratio uses ``max(threshold, 1e-12)`` as denominator: a threshold ≤ 0
  would flip signs or divide by zero; for such a label every non-negative score is already
  predicted, so a recording reaching the fallback has a negative score there and the huge
  negative ratio ranks that label last, which is the intended "least convincing" reading.

Hierarchy-consistent decoding (``--hierarchy consistent``, dataset-spec §6.2 and §7.4): the
organisers' re-scoring showed that a run predicting ``rock---punk`` without ``rock`` loses at the
genre level. After thresholding, (a) a predicted subgenre is dropped when its parent genre's
score is below ``tau_parent = r × (the parent's own threshold)``, with ``r`` tuned on the holdout
by ``abgd.threshold``; (b) the parent of every remaining subgenre is added. ``r = 0`` (with
non-negative scores) only adds parents, which is the organisers' "hierarchy-expanded" variant.
A subgenre whose parent is not a model label cannot be checked nor completed, so it is kept as
is. The no-label fallback runs after these two steps and obeys them too: it picks the best label
among those rule (a) allows, and adds that label's parent, so no row ever holds a subgenre
without its parent (when the parent is a model label).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from abgd.labels import parent

RATIO_FLOOR = 1e-12
HIERARCHIES = ("none", "consistent")


def _per_label(thresholds: np.ndarray | float, n_labels: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(thresholds, dtype=np.float64), (n_labels,))


def fill_empty(pred: np.ndarray, scores: np.ndarray, thresholds: np.ndarray | float,
               fallback: str = "ratio", allowed: np.ndarray | None = None) -> np.ndarray:
    """Give every row without a label its single most convincing label (in place).

    ``allowed`` (rows × labels, optional) restricts the choice, so that the hierarchy rule
    cannot be undone by the fallback.
    """
    thr = _per_label(thresholds, scores.shape[1])
    empty = np.flatnonzero(~pred.any(axis=1))
    if empty.size and scores.shape[1]:
        chosen = scores[empty].astype(np.float64)
        if fallback == "ratio":
            chosen = chosen / np.maximum(thr, RATIO_FLOOR)
        elif fallback != "score":
            raise ValueError(f"unknown fallback {fallback!r}")
        if allowed is not None:
            chosen = np.where(allowed[empty], chosen, -np.inf)
        pred[empty, np.argmax(chosen, axis=1)] = True
    return pred


def binarize(scores: np.ndarray, thresholds: np.ndarray | float,
             fallback: str = "ratio") -> sparse.csr_matrix:
    """Predicted iff ``score ≥ threshold``; empty rows get one label (``ratio`` or ``score``)."""
    pred = scores >= _per_label(thresholds, scores.shape[1])
    return sparse.csr_matrix(fill_empty(pred, scores, thresholds, fallback))


def parent_columns(labels: Sequence[str]) -> np.ndarray:
    """For each label the column of its parent genre, or -1 (a genre, or a parent the model
    does not output)."""
    index = {label: j for j, label in enumerate(labels)}
    return np.array([index.get(up, -1) if (up := parent(label)) is not None else -1
                     for label in labels], dtype=np.int64)


def parent_allowed(scores: np.ndarray, parents: np.ndarray,
                   parent_thresholds: np.ndarray) -> np.ndarray:
    """Rows × labels: False where a subgenre's parent scores below its parent threshold."""
    allowed = np.ones(scores.shape, dtype=bool)
    subs = np.flatnonzero(parents >= 0)
    if subs.size:
        cols = parents[subs]
        allowed[:, subs] = scores[:, cols] >= parent_thresholds[cols]
    return allowed


def add_parents(pred: np.ndarray, parents: np.ndarray) -> np.ndarray:
    """Set the parent column of every predicted subgenre (in place), without a row loop."""
    subs = np.flatnonzero(parents >= 0)
    if subs.size and pred.shape[0]:
        rows, which = np.nonzero(pred[:, subs])
        pred[rows, parents[subs][which]] = True
    return pred


def consistent_binarize(scores: np.ndarray, thresholds: np.ndarray | float,
                        labels: Sequence[str], parent_ratio: float,
                        fallback: str = "ratio") -> sparse.csr_matrix:
    """The hierarchy-consistent decoding (module docstring): drop, add parents, then fallback."""
    thr = _per_label(thresholds, scores.shape[1])
    parents = parent_columns(labels)
    allowed = parent_allowed(scores, parents, parent_ratio * thr)
    pred = (scores >= thr) & allowed
    add_parents(pred, parents)
    fill_empty(pred, scores, thr, fallback, allowed)
    add_parents(pred, parents)
    return sparse.csr_matrix(pred)



def thresholds_for(config: dict, labels: Sequence[str], decoding: str,
                   source: str = "thresholds") -> np.ndarray | float:
    """Thresholds aligned on the score columns; label sets must agree exactly."""
    if sorted(config["labels"]) != sorted(labels):
        missing = sorted(set(config["labels"]) - set(labels))
        extra = sorted(set(labels) - set(config["labels"]))
        raise ValueError(f"{source}: labels differ from the score columns "
                         f"(missing in scores: {missing[:5]}, not in thresholds: {extra[:5]})")
    if decoding == "global":
        return float(config["global"])
    if decoding == "per_label":
        return np.array([float(config["per_label"][label]) for label in labels])
    raise ValueError(f"unknown decoding {decoding!r}")


def parent_ratio_for(config: dict, decoding: str, source: str = "thresholds") -> float:
    """The holdout-tuned ``r`` of the consistent decoding for ``decoding``."""
    try:
        return float(config["hierarchy"][decoding]["parent_threshold_ratio"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{source}: no hierarchy.{decoding}.parent_threshold_ratio; rerun "
                         "abgd.threshold or pass --parent-ratio") from err


def decode_scores(ids: Sequence[str], labels: Sequence[str], scores: np.ndarray,
                  thresholds: np.ndarray | float, decoding: str, hierarchy: str = "none",
                  parent_ratio: float | None = None) -> sparse.csr_matrix:
    fallback = "ratio" if decoding == "per_label" else "score"
    if hierarchy == "none":
        return binarize(scores, thresholds, fallback)
    if hierarchy != "consistent":
        raise ValueError(f"unknown hierarchy {hierarchy!r}")
    if parent_ratio is None:
        raise ValueError("the consistent decoding needs a parent threshold ratio")
    return consistent_binarize(scores, thresholds, labels, parent_ratio, fallback)
