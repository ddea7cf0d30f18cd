"""Benchmark of the multi-task network against the four single-source networks (prints figures).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_multitask.py [--rows 32000] [--repeats 2]

Epoch cost. On a synthetic union of ``--rows`` recordings × 2669 float32 features where each
source annotates a share of the recordings close to the real release's (allmusic 0.66,
discogs 0.45, lastfm 0.28, tagtraum 0.25 of the ~2.0 M distinct recordings; label counts 766,
315, 327, 296), it times one training epoch (the ``train_seconds`` of the epoch log: batches
only) of the multi-task network on the union's fit rows, and one epoch of each single-source
network on its own fit rows, in paired order A B A B, and prints the medians and the ratio
multitask / (sum of the four singles). The same process, same thread count, same widths.

Memory. In a fresh child process it writes nothing to disk and runs the multi-task *step's*
own path (``abgd.union.Union`` in memory, the feature matrix, ``train_multitask`` for one epoch)
and reports the peak resident memory (VmHWM) above the resident memory measured once the libraries
are imported (so targets, masks, scaler and holdout scores all count), as a multiple of the
feature matrix's bytes, at ``--rows`` and half of it; the slope between the two is the memory per
byte of features that the real union scales with (the README's budget is ≤ 1.3×). Keep ``--rows``
≥ 24000: the holdout batches (4096 rows, with their logits and per-cell losses) are a constant
cost only once the union's holdout part is larger than one batch at both sizes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np

SHARES = {"allmusic": 0.66, "discogs": 0.45, "lastfm": 0.28, "tagtraum": 0.25}
LABELS = {"allmusic": 766, "discogs": 315, "lastfm": 327, "tagtraum": 296}
N_FEATURES = 2669


def rss_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def synthetic(rows: int, seed: int = 0):
    """Features, and per source: member rows, its fit/holdout split, sparse-ish targets."""
    from abgd.nets import head_label
    from abgd.union import FIT, HOLDOUT, Union

    rng = np.random.default_rng(seed)
    parts = np.zeros((rows, len(SHARES)), dtype=np.uint8)
    for h, share in enumerate(SHARES.values()):
        member = rng.random(rows) < share
        parts[member, h] = np.where(rng.random(int(member.sum())) < 0.8, FIT, HOLDOUT)
    parts[(parts == 0).all(axis=1), 0] = FIT
    widths = list(LABELS.values())
    y = np.empty((rows, sum(widths)), dtype=np.uint8)
    for start in range(0, rows, 4096):  # no float temporary of the whole target matrix
        y[start:start + 4096] = rng.random((min(4096, rows - start), sum(widths)),
                                           dtype=np.float32) < 0.01
    labels = [head_label(s, f"l{j}") for s, n in LABELS.items() for j in range(n)]
    union = Union(mbids=[f"{i:036d}" for i in range(rows)], y=y, labels=labels,
                  heads=list(SHARES), head_of_label=np.repeat(np.arange(len(widths)), widths),
                  parts=parts, outside_labels={})
    return union


def features(rows: int, seed: int = 1) -> np.ndarray:
    x = np.empty((rows, N_FEATURES), dtype=np.float32)
    rng = np.random.default_rng(seed)
    for start in range(0, rows, 4096):  # filled in place: no float64 temporary of the whole
        x[start:start + 4096] = rng.standard_normal((min(4096, rows - start), N_FEATURES),
                                                    dtype=np.float32)
    return x


def epoch_multitask(x, union, threads: int) -> float:
    from abgd.multitask import train_multitask
    from abgd.training import TrainConfig

    config = TrainConfig(seed=0, max_epochs=1, threads=threads, accelerator="cpu")
    return train_multitask(x, union, {"hidden": 256}, config).epochs[0]["train_seconds"]


def epoch_singles(x, union, threads: int) -> float:
    from abgd.training import TrainConfig, train
    from abgd.union import FIT, HOLDOUT

    config = TrainConfig(seed=0, max_epochs=1, threads=threads, accelerator="cpu")
    total = 0.0
    for h, source in enumerate(union.heads):
        member = np.flatnonzero(union.parts[:, h] != 0)
        columns = np.flatnonzero(union.head_of_label == h)
        # Each single job holds only its own recordings, as the real jobs do.
        xs, ys = x[member], union.y[np.ix_(member, columns)]
        part = union.parts[member, h]
        result = train(xs, ys, np.flatnonzero(part == FIT), np.flatnonzero(part == HOLDOUT),
                       [f"{source}{j}" for j in range(len(columns))], {"hidden": 256}, config)
        total += result.epochs[0]["train_seconds"]
    return total


def child_memory(rows: int, threads: int) -> None:
    """Runs in a fresh process: peak RSS of one multitask epoch over the matrix's size."""
    import abgd.multitask  # noqa: F401  (imports before the baseline)

    before = rss_kb("VmRSS")
    union = synthetic(rows)
    x = features(rows)
    epoch_multitask(x, union, threads)
    peak = rss_kb("VmHWM")
    print(json.dumps({"matrix_bytes": x.nbytes, "targets_bytes": union.y.nbytes,
                      "rss_before_kb": before, "peak_kb": peak}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_memory(args.rows, args.threads)
        return 0
    union = synthetic(args.rows)
    x = features(args.rows)
    sizes = {s: int((union.parts[:, h] == 1).sum()) for h, s in enumerate(union.heads)}
    print(f"union {args.rows} recordings, fit rows per source {sizes}, "
          f"union fit rows {len(union.rows(1))}, threads {args.threads}")
    multi, single = [], []
    for _ in range(args.repeats):  # paired A B A B
        started = time.perf_counter()
        multi.append(epoch_multitask(x, union, args.threads))
        single.append(epoch_singles(x, union, args.threads))
        print(f"  pair: multitask {multi[-1]:.2f} s, four singles {single[-1]:.2f} s "
              f"({time.perf_counter() - started:.0f} s with setup)")
    if args.repeats:  # --repeats 0: memory only
        m, s = statistics.median(multi), statistics.median(single)
        print(f"epoch (batches only), median of {args.repeats}: multitask {m:.2f} s, "
              f"four single-source networks together {s:.2f} s, ratio {m / s:.2f}")
    # Peak memory at two sizes: the slope is what grows with the union (constant costs such as
    # the libraries' arenas and the scaler's fixed-size chunks cancel out).
    mems = []
    for rows in (args.rows // 2, args.rows):
        out = subprocess.run([sys.executable, __file__, "--child", "--rows", str(rows),
                              "--threads", str(args.threads)], capture_output=True, text=True,
                             check=True).stdout
        mems.append(json.loads(out.strip().splitlines()[-1]))
        grown = (mems[-1]["peak_kb"] - mems[-1]["rss_before_kb"]) * 1024
        print(f"memory, {rows} recordings: feature matrix {mems[-1]['matrix_bytes'] / 1e6:.0f} "
              f"MB, targets {mems[-1]['targets_bytes'] / 1e6:.0f} MB, peak above the imports' "
              f"baseline {grown / 1e6:.0f} MB = {grown / mems[-1]['matrix_bytes']:.2f}x the matrix")
    small, large = mems
    slope = ((large["peak_kb"] - large["rss_before_kb"]) - (small["peak_kb"]
             - small["rss_before_kb"])) * 1024 / (large["matrix_bytes"] - small["matrix_bytes"])
    print(f"memory growth per byte of feature matrix (slope between the two sizes): {slope:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
