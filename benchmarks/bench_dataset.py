"""Peak memory of ``abgd.dataset.load`` against ``pandas.read_parquet(...).to_numpy()``.

    .venv/bin/python benchmarks/bench_dataset.py [--rows 20000] [--pairs 2] [--workdir DIR]

One study folder is written with ``--rows`` recordings of feature rows in Parquet parts of
2048-row groups (as ``convert`` writes them). Each measurement runs in a fresh child process:
imports and one small Parquet read first (Arrow sets up its allocator and thread pool on
the first read, ~40 MB once per process whatever the data size), then the resident set size
is read (VmRSS), the load runs, and the peak (VmHWM) minus that baseline is the load's own
peak. Runs alternate A B A B; medians are printed as multiples of the feature matrix
(rows × 2669 × 4 bytes). Target: ``dataset.load`` ≤ 1.3×.
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from abgd.features import FEATURE_NAMES, N_FEATURES
from abgd.io import write_json
from abgd.labels import make_groundtruth, write_groundtruth_parquet

TARGET = 1.3
CHILD = r"""
import sys, json
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
mode, root, part = sys.argv[1:4]
import numpy as np, pandas as pd, pyarrow.parquet as pq
from abgd import dataset
pq.read_table(root + "/groundtruth/src-train.parquet")  # Arrow's one-off setup, see docstring
base = status("VmRSS")
if mode == "dataset":
    x = dataset.load(root, "src", "train").features
else:
    x = pd.read_parquet(part).drop(columns="mbid").to_numpy(dtype=np.float32)
print(json.dumps({"peak": status("VmHWM") - base, "nbytes": x.nbytes, "shape": x.shape}))
"""


def write_study(root: Path, rows: int, group: int = 2048) -> Path:
    """A one-part study folder; returns the part (which the pandas baseline reads)."""
    rng = np.random.default_rng(0)
    mbids = sorted(str(uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | i)) for i in range(rows))
    part = root / "features" / "train" / "train-01.parquet"
    part.parent.mkdir(parents=True)
    schema = pa.schema([pa.field("mbid", pa.string())]
                       + [pa.field(n, pa.float32()) for n in FEATURE_NAMES])
    with pq.ParquetWriter(part, schema, use_dictionary=False, write_statistics=["mbid"]) as out:
        for start in range(0, rows, group):
            block = rng.standard_normal((min(group, rows - start), N_FEATURES),
                                        dtype=np.float32)
            arrays = [pa.array(mbids[start:start + group])]
            arrays += [pa.array(block[:, j]) for j in range(N_FEATURES)]
            out.write_table(pa.Table.from_arrays(arrays, schema=schema))
        out.add_key_value_metadata({"abgd.feature_schema_version": "1"})
    write_json(root / "features" / "train.manifest.json", {
        "feature_schema_version": 1, "parts": [{"path": str(part),
                                                "bytes": part.stat().st_size}]})
    (root / "groundtruth").mkdir()
    write_groundtruth_parquet(make_groundtruth(mbids, mbids, [["rock"]] * rows),
                              root / "groundtruth" / "src-train.parquet")
    write_json(root / "groundtruth" / "src.json", {"vocabulary": ["rock"]})
    (root / "splits").mkdir()
    (root / "splits" / "src.tsv").write_text(
        "mbid\trelease_group\tpart\n" + "".join(f"{m}\t{m}\tfit\n" for m in mbids))
    return part


def measure(mode: str, root: Path, part: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", CHILD, mode, str(root), str(part)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(dir=args.workdir))
    try:
        part = write_study(work / "results" / "bench", args.rows)
        peaks: dict[str, list[float]] = {"dataset": [], "pandas": []}
        for _ in range(args.pairs):
            for mode in ("dataset", "pandas"):
                result = measure(mode, work / "results" / "bench", part)
                peaks[mode].append(result["peak"] / result["nbytes"])
        matrix_mb = args.rows * N_FEATURES * 4 / 1e6
        print(f"feature matrix: {args.rows} x {N_FEATURES} float32 = {matrix_mb:.0f} MB")
        for mode, label in (("dataset", "abgd.dataset.load"),
                            ("pandas", "pandas.read_parquet(...).to_numpy()")):
            values = ", ".join(f"{v:.2f}" for v in peaks[mode])
            print(f"{label:38s} peak = {statistics.median(peaks[mode]):.2f} x matrix "
                  f"(runs: {values})")
        ours = statistics.median(peaks["dataset"])
        print(f"pandas / dataset.load peak: {statistics.median(peaks['pandas']) / ours:.2f}; "
              f"target dataset.load <= {TARGET}x: {'met' if ours <= TARGET else 'MISSED'}")
        return 0 if ours <= TARGET else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
