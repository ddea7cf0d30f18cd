"""Benchmark of the multi-task network against the four single-source networks (prints figures).

    .venv/bin/python benchmarks/bench_multitask.py [--rows 32000] [--memory-rows 64000]

Epoch cost. On a synthetic union of ``--rows`` recordings × 2669 float32 features where each
source annotates a share of the recordings close to the real release's (allmusic 0.66,
discogs 0.45, lastfm 0.28, tagtraum 0.25 of the ~2.0 M distinct recordings; label counts 766,
315, 327, 296), it times one training epoch (the ``train_seconds`` of the epoch log: batches
only) of the multi-task network on the union's fit rows, and one epoch of each single-source
network on its own fit rows, in paired order A B A B, and prints the medians and the ratio
multitask / (sum of the four singles). The same process, same thread count, same widths.

Memory. The multi-task *step* itself (``abgd.train_multitask.main``, one epoch) runs in a fresh
child process per size on a synthetic study written to a temporary folder: the features as one
Parquet part of 2048-row groups (as ``convert`` writes them), and per source a ground-truth
Parquet, a split TSV and a split summary, with the shares and label counts above. So the
figure covers everything the job holds: the ground truths and label matrices, the union's
targets and masks, the feature matrix read from Parquet, the scaler, training, and the holdout
scores of each head. The child imports its libraries and reads a tiny Parquet file first
(Arrow's one-off allocator and thread-pool setup), takes its resident memory (VmRSS) as the
baseline, runs the step and reports its peak (VmHWM). Printed: the peak above the baseline as a
multiple of the feature matrix (rows × 2669 × 4 bytes) at ``--memory-rows`` and half of it, and
the slope between the two sizes, the memory per byte of features that the real union (~2.0 M
recordings, 21 GB) scales with: fixed costs (libraries' arenas, a batch's activations, the
reader's row group) cancel out, which is also why the epoch may run at batch 1024 instead of 32
(sooner, same slope). Target: slope ≤ 1.3; exit status 1 when it is missed. Keep
``--memory-rows`` ≥ 64000: the widest head's holdout part (13 % of the recordings) must fill a
4096-row scoring batch at both sizes, or the batch grows with the size and counts as slope.
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


TARGET = 1.3  # peak memory per byte of the union's feature matrix
CHILD = r"""
import json, sys
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
import pyarrow.parquet as pq
import abgd.multitask, abgd.train_multitask  # noqa: F401  (the step's imports, before the baseline)
pq.read_table(sys.argv[1])  # Arrow's one-off setup, as in bench_dataset.py
base = status("VmRSS")
abgd.train_multitask.main(sys.argv[2:])
print(json.dumps({"base": base, "peak": status("VmHWM")}))
"""


def write_study(root, rows: int, sizes: list[int], seed: int = 0) -> dict[int, list[str]]:
    """One feature part of ``rows`` recordings (MBID order, 2048-row groups) and, per size in
    ``sizes``, ground truths, splits and summaries over the first ``size`` recordings.
    Returns each size's ``train_multitask`` arguments (minus the output folder)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from abgd.features import FEATURE_NAMES
    from abgd.io import write_json
    from abgd.labels import make_groundtruth, write_groundtruth_parquet

    mbids = [f"{i:08x}-0000-4000-8000-{i:012x}" for i in range(rows)]  # sorted
    part = root / "train-01.parquet"
    schema = pa.schema([pa.field("mbid", pa.string())]
                       + [pa.field(n, pa.float32()) for n in FEATURE_NAMES])
    with pq.ParquetWriter(part, schema, use_dictionary=False, write_statistics=["mbid"]) as out:
        for start in range(0, rows, 2048):
            block = features(min(2048, rows - start), seed=start + 1)
            arrays = [pa.array(mbids[start:start + 2048])]
            arrays += [pa.array(block[:, j]) for j in range(N_FEATURES)]
            out.write_table(pa.Table.from_arrays(arrays, schema=schema))
        out.add_key_value_metadata({"abgd.feature_schema_version": "1"})
    pq.write_table(pa.table({"mbid": mbids[:10]}), root / "tiny.parquet")
    union = synthetic(rows, seed)
    vocab = {s: sorted(f"{s}{j:04d}" for j in range(n)) for s, n in LABELS.items()}
    args = {}
    for size in sizes:
        folder = root / str(size)
        folder.mkdir()
        files: dict[str, list[str]] = {"groundtruth": [], "split": [], "split-summary": []}
        for h, source in enumerate(SHARES):
            member = np.flatnonzero(union.parts[:size, h] != 0)
            columns = np.flatnonzero(union.head_of_label == h)
            labels = [[vocab[source][j] for j in np.flatnonzero(union.y[i, columns])]
                      for i in member]
            ids = [mbids[i] for i in member]
            write_groundtruth_parquet(make_groundtruth(ids, ids, labels),
                                      folder / f"{source}.parquet")
            parts = np.where(union.parts[member, h] == 1, "fit", "holdout")
            (folder / f"{source}.tsv").write_text("mbid\trelease_group\tpart\n" + "".join(
                f"{m}\t{m}\t{p}\n" for m, p in zip(ids, parts, strict=True)))
            write_json(folder / f"{source}.json", {"labels": vocab[source]})
            files["groundtruth"].append(str(folder / f"{source}.parquet"))
            files["split"].append(str(folder / f"{source}.tsv"))
            files["split-summary"].append(str(folder / f"{source}.json"))
        args[size] = ["--features", str(part), "--sources", *SHARES,
                      *(item for key, paths in files.items() for item in (f"--{key}", *paths))]
    return args


def step_memory(root, size: int, args: list[str], threads: int) -> dict[str, int]:
    """Baseline and peak resident bytes of one ``train_multitask`` epoch in a fresh process."""
    argv = [*args, "--out-dir", str(root / f"model-{size}"), "--max-epochs", "1",
            "--threads", str(threads), "--accelerator", "cpu", "--hidden", "256",
            "--batch-size", "1024"]  # batches are a fixed cost: the slope is the same, sooner
    done = subprocess.run([sys.executable, "-c", CHILD, str(root / "tiny.parquet"), *argv],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"train_multitask failed at {size} recordings:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=32000, help="union size for the epoch times")
    parser.add_argument("--repeats", type=int, default=2, help="A B pairs (0: memory only)")
    parser.add_argument("--memory-rows", type=int, default=64000,
                        help="larger union size for the memory figure (the other is half)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workdir", default=None, help="folder for the synthetic study")
    args = parser.parse_args()
    if args.repeats:
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
        m, s = statistics.median(multi), statistics.median(single)
        print(f"epoch (batches only), median of {args.repeats}: multitask {m:.2f} s, "
              f"four single-source networks together {s:.2f} s, ratio {m / s:.2f}")
        del union, x
    import shutil
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="abgd-bench-multitask-", dir=args.workdir))
    try:
        small, large = args.memory_rows // 2, args.memory_rows
        study = write_study(root, large, [small, large])
        grown = {}
        for size in (small, large):
            mem = step_memory(root, size, study[size], args.threads)
            matrix = size * N_FEATURES * 4
            grown[size] = mem["peak"] - mem["base"]
            print(f"memory, train_multitask on {size} recordings: feature matrix "
                  f"{matrix / 1e6:.0f} MB, peak above the imports' baseline "
                  f"{grown[size] / 1e6:.0f} MB = {grown[size] / matrix:.2f}x the matrix")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    slope = (grown[large] - grown[small]) / ((large - small) * N_FEATURES * 4)
    verdict = "target met" if slope <= TARGET else "TARGET MISSED"
    print(f"{verdict}: memory growth per byte of feature matrix (slope between the two sizes) "
          f"{slope:.2f}x (target <= {TARGET}x)")
    return 0 if slope <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
