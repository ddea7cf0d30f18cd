"""Throughput and memory of ``abgd.training.train`` against a plain PyTorch loop.

Speed: one epoch on synthetic data (default 20,000 × 2669, 300 labels) at batch 32 and 1024,
through the real ``train()`` path (Lightning) and through a hand-written loop over the same
module, the same index batches and the same optimiser. Samples/s count the training phase only
(the holdout pass is timed apart by both). Memory: a child process trains one epoch on
``--memory-rows`` rows and reports its peak RSS above the baseline after imports.

    .venv/bin/python benchmarks/bench_train.py --rows 20000 --memory-rows 200000 --threads 2

On a GPU: ``--accelerator gpu`` (both loops then run on ``cuda``); the JKU-style network:
``--architecture wide [--branch-width 4000 --top-width 8000]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import torch

from abgd.inference import configure_torch
from abgd.lit_module import GenreClassifier
from abgd.nets import IndexBatches, fit_scaler
from abgd.training import TrainConfig, train


def synthetic(rows: int, n_features: int, n_labels: int, seed: int = 0,
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Float32 features with labels planted in the first columns; 90 % fit / 10 % holdout."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, n_features), dtype=np.float32)
    weights = rng.standard_normal((16, n_labels)).astype(np.float32)
    y = (x[:, :16] @ weights > 2.0).astype(np.uint8)
    order = rng.permutation(rows)
    n_fit = int(rows * 0.9)
    return x, y, np.sort(order[:n_fit]), np.sort(order[n_fit:])


def plain_epoch(x: np.ndarray, y: np.ndarray, fit_rows: np.ndarray, batch_size: int,
                seed: int, params: dict[str, Any] | None = None, device: str = "cpu") -> float:
    """Samples/s of one epoch of a minimal PyTorch loop over the same model and batches."""
    torch.manual_seed(seed)
    labels = [f"l{i}" for i in range(y.shape[1])]
    module = GenreClassifier(x.shape[1], labels, **(params or {}))
    module.set_scaler(*fit_scaler(x, fit_rows))
    module.to(device).train()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    optimizer = module.configure_optimizers()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    total = torch.zeros((), dtype=torch.float64, device=device)
    min_batch = 2 if module.uses_batch_norm else 1
    start = time.perf_counter()
    for index in IndexBatches(torch.as_tensor(fit_rows), batch_size, True, seed, min_batch):
        xb = xt.index_select(0, index).to(device, non_blocking=True)
        yb = yt.index_select(0, index).to(device, non_blocking=True).float()
        loss = loss_fn(module(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach() * len(index)
    float(total)
    return len(fit_rows) / (time.perf_counter() - start)


def lightning_epoch(x: np.ndarray, y: np.ndarray, fit_rows: np.ndarray,
                    holdout_rows: np.ndarray, batch_size: int, seed: int,
                    accelerator: str = "cpu", params: dict[str, Any] | None = None) -> float:
    labels = [f"l{i}" for i in range(y.shape[1])]
    config = TrainConfig(seed=seed, batch_size=batch_size, max_epochs=1,
                         accelerator=accelerator)
    result = train(x, y, fit_rows, holdout_rows, labels, params or {}, config)
    return float(result.metrics["samples_per_second"])


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_child(rows: int, n_features: int, n_labels: int, batch_size: int) -> None:
    """Runs in a fresh interpreter: print the peak RSS growth of one training epoch."""
    baseline = rss_mb()
    x, y, fit_rows, holdout_rows = synthetic(rows, n_features, n_labels)
    data_mb = x.nbytes / 2**20
    labels = [f"l{i}" for i in range(n_labels)]
    train(x, y, fit_rows, holdout_rows, labels, {},
          TrainConfig(batch_size=batch_size, max_epochs=1, accelerator="cpu"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"baseline_mb": baseline, "peak_mb": peak, "data_mb": data_mb,
                      "peak_above_baseline_mb": peak - baseline,
                      "ratio_to_data": (peak - baseline) / data_mb}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=2669)
    parser.add_argument("--labels", type=int, default=300)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 1024])
    parser.add_argument("--repeats", type=int, default=2, help="best of N per measurement")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-rows", type=int, default=200_000, help="0 skips it")
    parser.add_argument("--memory-batch-size", type=int, default=1024)
    parser.add_argument("--accelerator", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--architecture", choices=["paper", "wide"], default="paper")
    parser.add_argument("--branch-width", type=int, default=4000, help="wide only")
    parser.add_argument("--top-width", type=int, default=8000, help="wide only")
    parser.add_argument("--child-memory", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--min-ratio", type=float, default=0.8,
                        help="target: Lightning loop samples/s at least this share of the plain "
                        "loop's, median of paired runs (exit 1 if not)")
    args = parser.parse_args(argv)
    missed = []
    # Before any CUDA work, so cuBLAS picks up the deterministic workspace setting.
    configure_torch(args.threads, args.accelerator)
    device = "cuda" if args.accelerator == "gpu" else "cpu"
    params: dict[str, Any] = {}
    if args.architecture == "wide":
        params = {"architecture": "wide", "branch_width": args.branch_width,
                  "hidden": args.top_width}
    if args.child_memory:
        memory_child(args.rows, args.features, args.labels, args.memory_batch_size)
        return 0
    x, y, fit_rows, holdout_rows = synthetic(args.rows, args.features, args.labels)
    # Warm-up: thread pools, allocator and Lightning's lazy imports would bill the first run.
    plain_epoch(x, y, fit_rows[:2048], 32, 0, params, device)
    lightning_epoch(x, y, fit_rows[:2048], holdout_rows[:256], 32, 0, args.accelerator, params)
    for batch_size in args.batch_sizes:
        plain, ours = [], []
        for repeat in range(args.repeats):
            plain.append(plain_epoch(x, y, fit_rows, batch_size, repeat, params, device))
            ours.append(lightning_epoch(x, y, fit_rows, holdout_rows, batch_size, repeat,
                                        args.accelerator, params))
        # Runs are interleaved, so the median of paired ratios resists load from other jobs.
        paired = float(np.median([o / p for p, o in zip(plain, ours, strict=True)]))
        print(json.dumps({"batch_size": batch_size, "plain_samples_per_s": max(plain),
                          "train_samples_per_s": max(ours), "ratio_of_best": max(ours) / max(plain),
                          "median_paired_ratio": paired, "threads": torch.get_num_threads(),
                          "device": device, "architecture": args.architecture}),
              flush=True)
        print(f"batch {batch_size}: Lightning / plain {paired:.2f} (target >= {args.min_ratio:g})")
        if paired < args.min_ratio:
            missed.append(f"batch {batch_size}: Lightning / plain {paired:.2f} "
                          f"< {args.min_ratio:g}")
    if args.memory_rows:
        command = [sys.executable, __file__, "--child-memory", "--rows", str(args.memory_rows),
                   "--features", str(args.features), "--labels", str(args.labels),
                   "--memory-batch-size", str(args.memory_batch_size)]
        if args.threads:
            command += ["--threads", str(args.threads)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        print(out.strip().splitlines()[-1], flush=True)
    for line in missed:
        print(f"TARGET MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
