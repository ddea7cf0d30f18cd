"""Cost of the LightGBM system: LightGBM's default settings against ``abgd.lgbm``'s fast ones.

Synthetic rows (default 20,000 × 2669, like a chunk job on real features) with planted signal in
a few columns. Measures Dataset construction (binning, paid once per job thanks to reuse), the
seconds per tree for each setting and histogram layout, and the seconds per label: LightGBM's
defaults grow 100 trees per label without early stopping; the fast settings are measured end to
end through ``abgd.lgbm.train_labels`` (early stopping on a holdout, prediction included).

    .venv/bin/python benchmarks/bench_lgbm.py --threads 2
"""

from __future__ import annotations

import argparse
import importlib
import time
from dataclasses import replace

import numpy as np

from abgd.lgbm import BoostConfig, booster_params, train_labels  # sets OMP_WAIT_POLICY

lgb = importlib.import_module("lightgbm")  # after abgd.lgbm, which sets OMP_WAIT_POLICY


def synthetic(rows: int, cols: int, labels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian features; label k depends on columns 3k..3k+2 plus noise (~25 % positives)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols), dtype=np.float32)
    y = np.empty((rows, labels), dtype=np.uint8)
    for k in range(labels):
        signal = x[:, 3 * k:3 * k + 3].sum(axis=1) + rng.standard_normal(rows)
        y[:, k] = signal > np.quantile(signal, 0.75)
    return x, y


def time_dataset(x: np.ndarray, params: dict) -> tuple[lgb.Dataset, float]:
    started = time.perf_counter()
    dataset = lgb.Dataset(x, label=np.zeros(len(x), np.float32), params=params,
                          free_raw_data=False).construct()
    return dataset, time.perf_counter() - started


def time_trees(dataset: lgb.Dataset, y: np.ndarray, params: dict, trees: int) -> float:
    """Seconds per tree, from the difference between ``trees`` and 1 tree (fixed costs out)."""
    dataset.set_label(y.astype(np.float32))
    started = time.perf_counter()
    lgb.train(params, dataset, num_boost_round=1)
    one = time.perf_counter() - started
    started = time.perf_counter()
    lgb.train(params, dataset, num_boost_round=trees)
    many = time.perf_counter() - started
    return (many - one) / (trees - 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000, help="fit rows")
    parser.add_argument("--holdout-rows", type=int, default=5_000)
    parser.add_argument("--cols", type=int, default=2669)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--labels", type=int, default=3, help="labels for the per-label figure")
    parser.add_argument("--default-trees", type=int, default=11,
                        help="trees grown to time LightGBM's defaults (per label: × 100)")
    parser.add_argument("--fast-trees", type=int, default=41)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-ratio", type=float, default=2.0,
                        help="target: per-label time defaults/fast at least this (exit 1 if not)")
    args = parser.parse_args(argv)

    x, y = synthetic(args.rows + args.holdout_rows, args.cols, args.labels, args.seed)
    x_fit, x_holdout = x[:args.rows], x[args.rows:]
    y_fit, y_holdout = y[:args.rows], y[args.rows:]
    print(f"{args.rows} fit + {args.holdout_rows} holdout rows × {args.cols} columns, "
          f"{args.threads} threads, lightgbm {lgb.__version__}")

    fast = BoostConfig(threads=args.threads, seed=args.seed)
    defaults = {"objective": "binary", "num_threads": args.threads, "verbose": -1,
                "deterministic": True, "seed": args.seed}
    per_tree: dict[str, float] = {}
    for layout in ("row", "col"):
        force = {"force_row_wise": layout == "row", "force_col_wise": layout == "col"}
        params = {**defaults, **force}
        dataset, seconds = time_dataset(x_fit, params)
        print(f"Dataset construction, LightGBM defaults (max_bin 255), {layout}-wise: "
              f"{seconds:.2f} s")
        per_tree[f"defaults/{layout}"] = time_trees(dataset, y_fit[:, 0], params,
                                                    args.default_trees)
        del dataset
        params = booster_params(replace(fast, layout=layout))
        dataset, seconds = time_dataset(x_fit, params)
        print(f"Dataset construction, fast (max_bin {fast.max_bin}), {layout}-wise: "
              f"{seconds:.2f} s")
        per_tree[f"fast/{layout}"] = time_trees(dataset, y_fit[:, 0], params, args.fast_trees)
        del dataset
    for name, seconds in per_tree.items():
        print(f"seconds per tree, {name}: {seconds * 1000:.1f} ms")
    best_default = min(per_tree["defaults/row"], per_tree["defaults/col"])
    layout = "row" if per_tree["fast/row"] <= per_tree["fast/col"] else "col"
    ratio = best_default / per_tree[f"fast/{layout}"]
    print(f"per-tree ratio defaults/fast (best layouts): {ratio:.1f}×; faster layout for the "
          f"fast settings: {layout}-wise")

    result = train_labels(x_fit, y_fit, x_holdout, y_holdout,
                          [f"label{k}" for k in range(args.labels)], [x_holdout],
                          replace(fast, layout=layout))
    per_label_fast = (result.seconds["dataset"] + result.seconds["train"]) / args.labels
    per_label_default = best_default * 100
    print(f"fast settings end to end: {args.labels} labels, {result.trees} trees "
          f"(best iterations {sorted(result.best_iterations.values())}), dataset "
          f"{result.seconds['dataset']:.2f} s + training {result.seconds['train']:.2f} s → "
          f"{per_label_fast:.2f} s per label ({result.seconds['train'] / result.trees * 1000:.1f}"
          f" ms per tree incl. evaluation and prediction)")
    print(f"LightGBM defaults, 100 trees per label: {per_label_default:.1f} s per label; "
          f"per-label ratio defaults/fast: {per_label_default / per_label_fast:.1f}× "
          f"(target >= {args.min_ratio:g})")
    if per_label_default / per_label_fast < args.min_ratio:
        print(f"TARGET MISSED: per-label ratio {per_label_default / per_label_fast:.1f} < "
              f"{args.min_ratio:g}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
