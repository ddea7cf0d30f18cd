"""The benchmark record covers what it claims to: every benchmark, every step's start-up.

Neither is visible from a record that looks fine: a benchmark missing from ``make bench`` or a
start-up table with no rows both print "all targets met".
"""

from __future__ import annotations

import re
from pathlib import Path

from studies import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"




def test_make_bench_runs_every_benchmark() -> None:
    run_all = load_benchmark("run_all")
    scripts = {args[0] for args in run_all.BENCHMARKS.values()}
    present = {f"benchmarks/{p.name}" for p in BENCHMARKS.glob("bench_*.py")}
    assert present <= scripts, f"not in make bench: {sorted(present - scripts)}"


def test_readme_lists_every_benchmark() -> None:
    """The README's benchmark table names each script that `make bench` runs."""
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `(benchmarks/bench_\w+\.py)` \|", readme, flags=re.M))
    present = {f"benchmarks/{p.name}" for p in BENCHMARKS.glob("bench_*.py")}
    assert present <= listed, f"README.md, benchmark table: missing {sorted(present - listed)}"


def test_startup_benchmark_times_every_step_a_rule_runs() -> None:
    startup = load_benchmark("bench_startup")
    steps = set(startup.workflow_steps())
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    called = set(re.findall(r"\$ABGD_PYTHON -m abgd\.(\w+)", rules))
    assert called, "no rule runs a step through $ABGD_PYTHON: the pattern is stale"
    assert called <= steps
    assert {"convert", "evaluate", "train_single"} <= steps
