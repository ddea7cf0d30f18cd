"""Compare two result trees of the same study (SLURM vs local) file by file.

Why: "runs on a cluster" means the cluster run produces the same science, not only that it
finishes. Training is deterministic on CPU, so every result must be byte-identical except
files that record *how* the run went (wall-clock timings, log lines with times); those are
named below with the reason and are only checked for presence.

Usage: python tests/cluster/compare_outputs.py CLUSTER_RESULTS LOCAL_RESULTS
Exit status 0 when equal, 1 when a file differs or is missing on one side.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import sys
from pathlib import Path

# Pattern (relative to the results directory) -> why it may legitimately differ.
MAY_DIFFER: dict[str, str] = {
    "benchmarks/*": "Snakemake benchmark files hold wall-clock seconds and memory of each job",
    "logs/*": "job logs carry timestamps, durations and process ids",
    "models/*/*/epochs.csv": "per-epoch wall-clock columns (losses are equal)",
    "models/*/*/metrics.json": "samples_per_second and wall_seconds",
    "models/*/*/model.ckpt": "torch zip container bytes; state_dict tensors compared equal by hand",
    "scores/lgbm_*/chunks/*.parquet": "provenance metadata holds 'seconds'; tables are equal",
    "abgd-*.tar.gz": "the archive bundles the timing files above",
}

# These must exist and be identical: the study's numbers.
MUST_MATCH: tuple[str, ...] = ("evaluation/summary.json", "runs/*")


def digest(path: Path) -> str:
    """md5 of a file; enough to tell equal from unequal here."""
    md5 = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            md5.update(block)
    return md5.hexdigest()


def tree(root: Path) -> dict[str, Path]:
    """Relative POSIX path -> file, for every regular file under root."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def reason_to_differ(rel: str) -> str | None:
    """The documented reason a file may differ, or None when it must be identical."""
    for pattern, reason in MAY_DIFFER.items():
        if fnmatch.fnmatch(rel, pattern):
            return reason
    return None


def compare(cluster: Path, local: Path) -> list[str]:
    """Problems found (empty when the trees agree); prints what was tolerated and why."""
    a, b = tree(cluster), tree(local)
    problems = [f"only in {cluster}: {rel}" for rel in sorted(a.keys() - b.keys())]
    problems += [f"only in {local}: {rel}" for rel in sorted(b.keys() - a.keys())]
    for pattern in MUST_MATCH:
        if not any(fnmatch.fnmatch(rel, pattern) for rel in a.keys() & b.keys()):
            problems.append(f"no file matching {pattern} in both trees")
    identical = tolerated = 0
    for rel in sorted(a.keys() & b.keys()):
        if digest(a[rel]) == digest(b[rel]):
            identical += 1
            continue
        reason = reason_to_differ(rel)
        if reason is None:
            problems.append(f"differs: {rel}")
        else:
            tolerated += 1
            print(f"differs as expected: {rel} ({reason})", file=sys.stderr)
    print(f"{identical} files byte-identical, {tolerated} differ as expected, "
          f"{len(problems)} problems", file=sys.stderr)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cluster", type=Path, help="results/<dataset> of the SLURM run")
    parser.add_argument("local", type=Path, help="results/<dataset> of the local run")
    args = parser.parse_args(argv)
    for root in (args.cluster, args.local):
        if not root.is_dir():
            parser.error(f"not a directory: {root}")
    problems = compare(args.cluster, args.local)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
