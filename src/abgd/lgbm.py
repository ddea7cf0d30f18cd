"""Gradient-boosted trees (LightGBM), one binary model per label, as a switchable system.

Nobody has published gradient boosting on these features (DBIS 2017 called it infeasible for
lack of compute), so the system is built to be cheap and to spread over a cluster:

* The labels of a source are cut into K contiguous chunks of the sorted label list; each job
  trains its chunk and writes score tables for its labels, and ``merge_scores`` glues the
  chunks back into the format of ``abgd.predict`` so that thresholds, decoding and evaluation
  treat the system exactly like the MLPs.
* Binning a 2669-column matrix is a large part of LightGBM's cost, so a job builds its fit and
  holdout ``Dataset`` once and only swaps the label between models (``set_label``). The booster
  parameters are given to the ``Dataset`` too: ``lgb.train`` silently rebuilds a Dataset whose
  dataset-level parameters differ from the booster's, which would undo the reuse.
* Each label's random seed comes from the run seed and the label's *name*, never its position
  in a chunk, so scores do not depend on how the labels were chunked.
* Defaults are the fast settings (63 bins, 15 leaves, 20 % of the features per tree); LightGBM's
  own defaults cost roughly 10-20× more per tree on these inputs (``benchmarks/bench_lgbm.py``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

# LightGBM's OpenMP threads spin while they wait. Where the cores are shared (Snakemake runs
# several jobs; other users), a spinning thread steals the core its partner needs: on a loaded
# 2-core machine a tree took 2.5 s instead of 16 ms. Passive waiting avoids that. It must be set
# before the OpenMP runtime loads, i.e. before lightgbm (or torch) is imported; a value already
# in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from abgd.io import atomic_path
from abgd.progress import progress
from abgd.tables import float32_columns, numeric_array, read_parquet, string_array

if TYPE_CHECKING:  # LightGBM loads where it trains: merge_scores never needs it
    import lightgbm as lgb

log = logging.getLogger("abgd.lgbm")

BEST_ITERATIONS_KEY = b"abgd.best_iterations"
PROVENANCE_KEY = b"abgd.provenance"
LAYOUTS = ("row", "col")


@dataclass(frozen=True)
class BoostConfig:
    num_leaves: int = 15
    max_bin: int = 63
    feature_fraction: float = 0.2
    learning_rate: float = 0.1
    num_boost_round: int = 200
    early_stopping: int = 20  # rounds without holdout log-loss improvement; 0 = never stop
    min_data_in_leaf: int = 20
    seed: int = 0
    threads: int = 1
    layout: str = "col"  # force_col_wise ("col", faster in bench_lgbm) or force_row_wise ("row")


def booster_params(config: BoostConfig) -> dict[str, Any]:
    """LightGBM parameters for one binary label; also used to build the Datasets."""
    if config.layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {config.layout!r}")
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "num_leaves": config.num_leaves,
        "max_bin": config.max_bin,
        "feature_fraction": config.feature_fraction,
        "learning_rate": config.learning_rate,
        "min_data_in_leaf": config.min_data_in_leaf,
        "num_threads": config.threads,
        "deterministic": True,
        "force_row_wise": config.layout == "row",
        "force_col_wise": config.layout == "col",
        # Per-label seeds vary only the tree seeds; the Dataset's own seed stays the run's.
        "data_random_seed": config.seed,
        **model_seeds(config.seed),
        "verbose": -1,
    }


def model_seeds(seed: int) -> dict[str, int]:
    """The tree-building seeds (only feature_fraction's is used with the defaults)."""
    return {name: seed for name in ("feature_fraction_seed", "bagging_seed", "extra_seed",
                                    "drop_seed", "objective_seed")}


def label_seed(seed: int, label: str) -> int:
    """A per-label seed that depends on the label's name only, not on its chunk."""
    digest = hashlib.sha256(f"{seed}\x00{label}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def chunk_slice(n_labels: int, chunks: int, chunk: int) -> range:
    """Positions of chunk ``chunk`` of ``chunks``: ``np.array_split(range(n_labels), chunks)``.

    Chunks may be empty when there are more chunks than labels; the job then writes tables
    with no label columns, which ``merge_scores`` accepts.
    """
    if chunks < 1:
        raise ValueError(f"--chunks must be at least 1, got {chunks}")
    if not 0 <= chunk < chunks:
        raise ValueError(f"--chunk must be in [0, {chunks - 1}], got {chunk}")
    base, extra = divmod(n_labels, chunks)
    start = chunk * base + min(chunk, extra)
    return range(start, start + base + (1 if chunk < extra else 0))


def l2_normalise_blocks(x: np.ndarray, n_blocks: int) -> np.ndarray:
    """Scale each of the ``n_blocks`` equal-width column blocks of every row to unit L2 norm.

    The MLP fusion normalises the four embeddings the same way (``torch.nn.functional
    .normalize``, eps 1e-12), so both fusion systems see the same geometry; an all-zero block
    stays zero. Works in place on a float32 copy.
    """
    if n_blocks < 1 or x.shape[1] % n_blocks:
        raise ValueError(f"width {x.shape[1]} is not divisible into {n_blocks} blocks")
    out = np.array(x, dtype=np.float32, copy=True)
    blocks = out.reshape(out.shape[0], n_blocks, -1)
    norms = np.sqrt(np.einsum("ijk,ijk->ij", blocks, blocks, dtype=np.float64))
    blocks /= np.maximum(norms, 1e-12)[:, :, None].astype(np.float32)
    return out


def make_datasets(x_fit: np.ndarray, x_holdout: np.ndarray, config: BoostConfig,
                  ) -> tuple[lgb.Dataset, lgb.Dataset]:
    """Bin the fit rows once (holdout rows with the fit rows' bin edges) for all labels.

    Both arrays should be C-contiguous float32 so LightGBM reads them without a copy.
    """
    import lightgbm as lgb

    params = booster_params(config)
    zeros_fit = np.zeros(x_fit.shape[0], dtype=np.float32)
    zeros_holdout = np.zeros(x_holdout.shape[0], dtype=np.float32)
    fit = lgb.Dataset(x_fit, label=zeros_fit, params=params, free_raw_data=False)
    fit.construct()
    holdout = lgb.Dataset(x_holdout, label=zeros_holdout, reference=fit, params=params,
                          free_raw_data=False)
    holdout.construct()
    return fit, holdout


@dataclass
class ChunkResult:
    labels: list[str]
    scores: list[np.ndarray]  # one float32 (rows × labels) matrix per predicted array
    best_iterations: dict[str, int]
    constant_labels: dict[str, float] = field(default_factory=dict)  # label → fit prevalence
    seconds: dict[str, float] = field(default_factory=dict)
    trees: int = 0


def fit_label(fit: lgb.Dataset, holdout: lgb.Dataset, y_fit: np.ndarray, y_holdout: np.ndarray,
              label: str, config: BoostConfig) -> tuple[lgb.Booster, int]:
    """One binary booster, early-stopped on the holdout log loss, and the trees grown.

    ``lgb.train`` truncates the returned model to its best iteration, so the number of trees
    actually grown (for cost accounting) is counted by a callback.
    """
    import lightgbm as lgb

    fit.set_label(y_fit.astype(np.float32))
    holdout.set_label(y_holdout.astype(np.float32))
    params = {**booster_params(config), **model_seeds(label_seed(config.seed, label))}
    grown: list[int] = []

    def count(env: Any) -> None:
        grown.append(env.iteration)

    callbacks: list[Any] = [count]
    if config.early_stopping > 0:
        callbacks.append(lgb.early_stopping(config.early_stopping, verbose=False))
    booster = lgb.train(params, fit, num_boost_round=config.num_boost_round,
                        valid_sets=[holdout], valid_names=["holdout"], callbacks=callbacks)
    if config.early_stopping <= 0 or booster.best_iteration <= 0:
        booster.best_iteration = booster.current_iteration()
    return booster, len(grown)


def train_labels(x_fit: np.ndarray, y_fit: np.ndarray, x_holdout: np.ndarray,
                 y_holdout: np.ndarray, labels: Sequence[str], predict_on: Sequence[np.ndarray],
                 config: BoostConfig) -> ChunkResult:
    """Train one booster per column of ``y_fit`` and score each array of ``predict_on``.

    ``y_fit``/``y_holdout`` are 0/1 matrices whose columns are ``labels``. A label without a
    positive (or without a negative) in fit cannot be learned: it gets its fit prevalence as a
    constant score, is logged, and reported in ``constant_labels`` with best iteration 0.
    """
    if y_fit.shape != (x_fit.shape[0], len(labels)):
        raise ValueError(f"fit targets {y_fit.shape} do not match {x_fit.shape[0]} rows × "
                         f"{len(labels)} labels")
    if y_holdout.shape != (x_holdout.shape[0], len(labels)):
        raise ValueError(f"holdout targets {y_holdout.shape} do not match "
                         f"{x_holdout.shape[0]} rows × {len(labels)} labels")
    scores = [np.empty((x.shape[0], len(labels)), dtype=np.float32) for x in predict_on]
    result = ChunkResult(labels=list(labels), scores=scores, best_iterations={})
    started = time.perf_counter()
    fit, holdout = make_datasets(x_fit, x_holdout, config) if len(labels) else (None, None)
    result.seconds["dataset"] = time.perf_counter() - started
    started = time.perf_counter()
    for j, label in enumerate(progress(labels, desc="labels", unit="label")):
        positives = int(y_fit[:, j].sum())
        if positives in (0, y_fit.shape[0]):
            prevalence = positives / max(y_fit.shape[0], 1)
            log.warning("label %r has %d positives among %d fit rows: constant score %.3g",
                        label, positives, y_fit.shape[0], prevalence)
            for out in scores:
                out[:, j] = prevalence
            result.best_iterations[label] = 0
            result.constant_labels[label] = prevalence
            continue
        booster, grown = fit_label(fit, holdout, y_fit[:, j], y_holdout[:, j], label, config)
        best = int(booster.best_iteration)
        result.best_iterations[label] = best
        result.trees += grown
        for x, out in zip(predict_on, scores, strict=True):
            out[:, j] = booster.predict(x, num_iteration=best) if len(x) else 0.0
        log.debug("%s: best iteration %d of %d grown", label, best, grown)
    result.seconds["train"] = time.perf_counter() - started
    return result


# --- score tables --------------------------------------------------------------------------------

def write_score_table(path: str | os.PathLike[str], mbids: Sequence[str], labels: Sequence[str],
                      scores: np.ndarray, best_iterations: dict[str, int],
                      extra_metadata: dict[bytes, str] | None = None) -> None:
    """``abgd.predict``'s score layout (``mbid`` + float32 per label) plus per-label iterations.

    Rows must already be sorted by MBID: the caller owns the order, this only checks it.
    """
    mbids = list(mbids)
    if any(a >= b for a, b in itertools.pairwise(mbids)):
        raise ValueError(f"{path}: MBIDs must be sorted and unique")
    if scores.shape != (len(mbids), len(labels)):
        raise ValueError(f"{path}: scores {scores.shape} do not match {len(mbids)} rows × "
                         f"{len(labels)} labels")
    columns = [string_array(mbids), *float32_columns(scores)]
    schema = pa.schema([pa.field("mbid", pa.string()),
                        *(pa.field(label, pa.float32()) for label in labels)])
    metadata = {BEST_ITERATIONS_KEY: json.dumps(best_iterations, sort_keys=True,
                                                ensure_ascii=False)}
    metadata.update(extra_metadata or {})
    table = pa.Table.from_arrays(columns, schema=schema.with_metadata(metadata))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


@dataclass
class ScoreTable:
    path: str
    mbids: list[str]
    labels: list[str]
    scores: np.ndarray
    best_iterations: dict[str, int]


def read_score_table(path: str | os.PathLike[str]) -> ScoreTable:
    table = read_parquet(path)
    names = table.column_names
    if not names or names[0] != "mbid":
        raise ValueError(f"{path}: first column must be 'mbid'")
    labels = names[1:]
    repeated = sorted({n for n in labels if labels.count(n) > 1})
    if repeated:
        raise ValueError(f"{path}: label column(s) {repeated} appear more than once")
    scores = np.empty((table.num_rows, len(labels)), dtype=np.float32)
    for j, label in enumerate(labels):
        scores[:, j] = numeric_array(table.column(label))
    raw = (table.schema.metadata or {}).get(BEST_ITERATIONS_KEY)
    return ScoreTable(path=str(path), mbids=table.column("mbid").to_pylist(), labels=labels,
                      scores=scores, best_iterations=json.loads(raw) if raw else {})


def merge_tables(parts: Sequence[ScoreTable], labels: Sequence[str]) -> ScoreTable:
    """One table with columns in ``labels`` order from chunk tables holding each label once.

    Refuses, naming the file: MBID columns that differ from the first part's, a label in two
    parts, a label that is not a model label, and (naming the labels) labels no part holds.
    """
    if not parts:
        raise ValueError("no parts to merge")
    first = parts[0]
    owner: dict[str, tuple[int, int]] = {}
    wanted = set(labels)
    for p, part in enumerate(parts):
        if part.mbids != first.mbids:
            raise ValueError(f"{part.path}: its mbid column differs from {first.path}'s "
                             f"({len(part.mbids)} vs {len(first.mbids)} rows)")
        for j, label in enumerate(part.labels):
            if label not in wanted:
                raise ValueError(f"{part.path}: label {label!r} is not a model label")
            if label in owner:
                raise ValueError(f"{part.path}: label {label!r} is also in "
                                 f"{parts[owner[label][0]].path}")
            owner[label] = (p, j)
    missing = [label for label in labels if label not in owner]
    if missing:
        raise ValueError(f"{len(missing)} label(s) in no part, e.g. {missing[:5]} "
                         f"(parts: {[part.path for part in parts]})")
    scores = np.empty((len(first.mbids), len(labels)), dtype=np.float32)
    best: dict[str, int] = {}
    for k, label in enumerate(labels):
        p, j = owner[label]
        scores[:, k] = parts[p].scores[:, j]
        if label in parts[p].best_iterations:
            best[label] = parts[p].best_iterations[label]
    return ScoreTable(path="", mbids=list(first.mbids), labels=list(labels), scores=scores,
                      best_iterations=best)


def config_record(config: BoostConfig) -> dict[str, Any]:
    return asdict(config)
