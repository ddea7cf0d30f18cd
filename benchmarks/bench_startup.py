"""Start-up cost of every workflow step: ``python -m abgd.<step> --help``, warm (prints figures).

    .venv/bin/python benchmarks/bench_startup.py [--runs 5] [--src DIR]

Every Snakemake job pays its step's start-up once, and the demo study runs about 185 jobs, so a
step that imports scikit-learn or pandas at start costs seconds per job before doing any work.
For each step named in ``workflow/rules/*.smk`` this runs ``--help`` once to warm the file cache,
then ``--runs`` more times and reports the median wall time, plus the heavy libraries the import
pulled in (from ``-X importtime``). Target: ≤ 0.6 s for every step except those that train or
run a network (they import torch or LightGBM because they use them at once). The exit status is
1 when a step misses it. ``--src`` measures another checkout's ``src/`` (compare two commits
by running this once per checkout on the same machine).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.6
#: Steps that train or run a network: they need torch or LightGBM for their work itself.
EXEMPT = frozenset({"train_single", "train_fusion", "train_multitask", "train_lgbm", "predict",
                    "embed", "tag"})
HEAVY = ("torch", "lightning", "lightgbm", "sklearn", "scipy", "matplotlib", "pandas", "pyarrow")


def workflow_steps(rules: Path = ROOT / "workflow" / "rules") -> list[str]:
    found = set()
    for path in rules.glob("*.smk"):
        found.update(re.findall(r"-m abgd\.(\w+)", path.read_text()))
    return sorted(found)


def help_seconds(step: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", f"abgd.{step}", "--help"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def heavy_imports(step: str, env: dict[str, str]) -> list[str]:
    """Top-level heavy packages that ``import abgd.<step>`` loads, from ``-X importtime``."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import abgd.{step}"],
                          env=env, check=True, capture_output=True, text=True)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0]
             for line in done.stderr.splitlines() if line.startswith("import time:")}
    return [name for name in HEAVY if name in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per step (median)")
    parser.add_argument("--src", type=Path, default=ROOT / "src",
                        help="the src/ folder whose abgd package is measured")
    parser.add_argument("--steps", nargs="*", help="only these steps (default: every rule's)")
    args = parser.parse_args(argv)
    env = {**os.environ, "PYTHONPATH": str(args.src.resolve())}
    steps = args.steps or workflow_steps()
    missed = []
    print(f"{'step':14s} {'median s':>8s} {'min s':>6s}  target  heavy imports at start")
    for step in steps:
        help_seconds(step, env)  # warm the file cache
        times = [help_seconds(step, env) for _ in range(args.runs)]
        median = statistics.median(times)
        exempt = step in EXEMPT
        ok = exempt or median <= TARGET_S
        verdict = "exempt" if exempt else ("ok" if ok else "MISSED")
        print(f"{step:14s} {median:8.2f} {min(times):6.2f}  {verdict:6s}  "
              f"{','.join(heavy_imports(step, env)) or '-'}", flush=True)
        if not ok:
            missed.append(f"{step} --help {median:.2f} s > {TARGET_S} s")
    for line in missed:
        print(f"TARGET MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
