"""Extrapolate two benchmarked runs of the workflow to the real release's size.

    python benchmarks/scale_report.py results/rehearsal100 results/rehearsal [--markdown]

Every rule with a ``benchmark:`` directive leaves one TSV per job under
``results/<dataset>/benchmarks/<rule>/...``. Two runs of different sizes give, per rule, a growth
exponent ``b = log(T_large / T_small) / log(N_large / N_small)`` for wall time, CPU time and peak
RSS, and from it an estimate for ``--target-recordings`` (the real union, about 1.5 million).

Size of a run: the recordings that the run converted, i.e. ``unique_rows`` summed over
``features/<split>.manifest.json``. The feature archives hold one document per recording for
all sources together and the train and validation sets share no recording, so the sum is the
union of all sources' recordings; it counts only those with features, which are the only ones
any later rule touches. Without manifests the union of MBIDs in ``groundtruth/*.parquet`` is
used; ``--sizes`` overrides both.

Assumptions (also printed with the table):

* A job's numbers are the mean over its rows (``repeat()`` rows measure the same job again), its
  peak RSS the largest row. Snakemake writes ``NA`` (or ``-``) when a job ended before its first
  sample; such a job's CPU time is taken as its wall time and its RSS is left out.
* Time grows as a power law; an exponent below 1 is read as fixed start-up cost (imports, model
  set-up) dominating the small run, since every rule reads each of its recordings at least once,
  so time is extrapolated with ``max(b, 1)``. A rule seen in one run only grows linearly.
* Peak RSS at the target is the larger of the power law (unclipped ``b``: streaming rules keep
  flat memory) and a straight line through the two runs (a fixed base plus a per-recording cost,
  which the power law underestimates far from the measured range).
* Rules the real study does not run are left out (``--exclude``, by default the demo's
  generated mirror, which the release replaces by downloads).
* "superlinear": wall or CPU exponent above 1.15. Two timings on a shared machine differ by
  5-10 % from noise alone, and n log n work (sorting, grouping) over a tenfold size range shows
  an apparent exponent near 1.1; 1.15 separates those from n^1.5 or quadratic work.
* "memory": one job's peak RSS at the target exceeds one node (``--node-memory-gb``, 64 GiB,
  in the MiB Snakemake reports), so that job cannot run as it is.
* One node with ``--target-cores`` cores: a rule's jobs spread over the cores, at most
  ``cores // threads`` at once (threads = the job's measured mean load, CPU / wall, rounded) and
  at most as many as fit in the node's memory; so a rule takes its total job wall time divided by
  that concurrency, the wall-time form of CPU / min(cores, jobs * threads). Rules run one after
  another (an upper bound: independent rules overlap in a real run); I/O contention, GPUs,
  queueing and Snakemake's own overhead are not modelled.
* Snakemake samples every 30 s after the first seconds, so CPU time misses up to one interval
  per job and short memory peaks between samples are missed.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from abgd.io import read_json

MISSING = frozenset({"NA", "-", ""})
SUPERLINEAR = 1.15
DEFAULT_TARGET = 1_500_000
DEFAULT_CORES = 16
DEFAULT_NODE_GB = 64.0
DEFAULT_EXCLUDE = ("demo_mirror",)
MIB_PER_GIB = 1024.0


@dataclass(frozen=True)
class Job:
    """One benchmark file: one Snakemake job, possibly measured several times."""

    wall_s: float
    cpu_s: float | None
    max_rss_mb: float | None


@dataclass(frozen=True)
class RuleRun:
    """All jobs of one rule in one run."""

    jobs: int
    wall_s: float
    cpu_s: float
    max_rss_mb: float | None
    cpu_missing: int = 0


@dataclass(frozen=True)
class Projection:
    """One rule measured twice and carried to the target size."""

    rule: str
    small: RuleRun | None
    large: RuleRun | None
    b_wall: float | None
    b_cpu: float | None
    b_rss: float | None
    wall_s: float
    cpu_s: float
    rss_mb: float | None
    concurrent: int
    elapsed_s: float
    flags: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading


def parse_benchmark(text: str) -> Job:
    """Read one Snakemake benchmark TSV (plain or extended format) into one job."""
    try:
        table = pd.read_csv(io.StringIO(text), sep="\t", na_values=sorted(MISSING),
                            keep_default_na=False)
    except pd.errors.EmptyDataError as error:
        raise ValueError("a benchmark file needs a header and at least one row") from error
    for name in ("s", "max_rss", "cpu_time"):
        if name not in table.columns:
            raise ValueError(f"not a Snakemake benchmark file: no column {name!r}")
    if table.empty:
        raise ValueError("a benchmark file needs a header and at least one row")
    if table["s"].isna().any():
        raise ValueError("a row without wall time")
    cpu = pd.to_numeric(table["cpu_time"]).dropna()
    rss = pd.to_numeric(table["max_rss"]).dropna()
    return Job(
        wall_s=float(pd.to_numeric(table["s"]).mean()),
        cpu_s=float(cpu.mean()) if len(cpu) else None,
        max_rss_mb=float(rss.max()) if len(rss) else None,
    )


def aggregate(jobs: Sequence[Job]) -> RuleRun:
    """Sum a rule's jobs; a job without CPU time counts its wall time (it ran under a second)."""
    if not jobs:
        raise ValueError("no jobs to aggregate")
    peaks = [job.max_rss_mb for job in jobs if job.max_rss_mb is not None]
    return RuleRun(
        jobs=len(jobs),
        wall_s=sum(job.wall_s for job in jobs),
        cpu_s=sum(job.wall_s if job.cpu_s is None else job.cpu_s for job in jobs),
        max_rss_mb=max(peaks) if peaks else None,
        cpu_missing=sum(job.cpu_s is None for job in jobs),
    )


def benchmark_dir(results: Path) -> Path:
    """Accept a results folder or its benchmarks/ folder."""
    inner = results / "benchmarks"
    if inner.is_dir():
        return inner
    if results.name == "benchmarks" and results.is_dir():
        return results
    raise FileNotFoundError(f"{results}: no benchmarks/ folder")


def read_run(results: Path) -> dict[str, RuleRun]:
    """Every rule's jobs under one run's benchmarks/, keyed by the first folder (the rule)."""
    root = benchmark_dir(results)
    by_rule: dict[str, list[Job]] = {}
    for path in sorted(root.rglob("*.tsv")):
        rule = path.relative_to(root).parts[0].removesuffix(".tsv")
        try:
            job = parse_benchmark(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
        by_rule.setdefault(rule, []).append(job)
    return {rule: aggregate(jobs) for rule, jobs in sorted(by_rule.items())}


def drop(runs: Mapping[str, RuleRun], rules: Iterable[str]) -> dict[str, RuleRun]:
    """Leave out rules that the target study does not run (the demo's generated mirror)."""
    skip = set(rules)
    return {rule: run for rule, run in runs.items() if rule not in skip}


def run_size(results: Path) -> tuple[int, str]:
    """Recordings in a run's union and where the number came from (see the module docstring)."""
    manifests = sorted((results / "features").glob("*.manifest.json"))
    if manifests:
        total = sum(int(read_json(path)["unique_rows"]) for path in manifests)
        return total, f"{len(manifests)} feature manifests"
    tables = sorted((results / "groundtruth").glob("*.parquet"))
    if tables:
        import pyarrow.parquet as pq

        mbids: set[str] = set()
        for path in tables:
            mbids.update(pq.read_table(path, columns=["mbid"]).column("mbid").to_pylist())
        return len(mbids), f"MBID union of {len(tables)} ground-truth tables"
    raise FileNotFoundError(f"{results}: no features/*.manifest.json or groundtruth/*.parquet;"
                            " give --sizes")


# ---------------------------------------------------------------- modelling


def exponent(small: float | None, large: float | None, n_small: int, n_large: int
             ) -> float | None:
    """Power-law exponent through two points; None where a value is missing or not positive."""
    if small is None or large is None or small <= 0 or large <= 0 or n_small == n_large:
        return None
    return math.log(large / small) / math.log(n_large / n_small)


def time_exponent(b: float | None) -> float:
    """The exponent time is extrapolated with: clipped below at 1, linear when unknown."""
    return 1.0 if b is None else max(b, 1.0)


def extrapolate(value: float, n_from: int, n_to: int, b: float) -> float:
    return value * (n_to / n_from) ** b


def rss_at_target(small: float | None, large: float | None, n_small: int, n_large: int,
                  n_target: int) -> float | None:
    """Peak RSS at the target: the larger of the power law and the line through both runs."""
    if large is None:
        return None
    b = exponent(small, large, n_small, n_large)
    if small is None or b is None:
        return extrapolate(large, n_large, n_target, 1.0)
    power = extrapolate(large, n_large, n_target, b)
    slope = max(0.0, (large - small) / (n_large - n_small))
    return max(power, large + slope * (n_target - n_large))


def concurrency(jobs: int, threads: int, rss_mb: float | None, cores: int, node_mb: float) -> int:
    """Jobs of one rule that run at once on one node: bounded by jobs, cores and memory."""
    slots = min(jobs, max(1, cores // max(1, threads)))
    if rss_mb is not None and rss_mb > 0:
        slots = min(slots, max(1, int(node_mb // rss_mb)))
    return max(1, slots)


def threads_of(run: RuleRun) -> int:
    """A job's cores, as its measured mean load (CPU / wall), rounded, at least one."""
    return max(1, round(run.cpu_s / run.wall_s)) if run.wall_s > 0 else 1


def project(rule: str, small: RuleRun | None, large: RuleRun | None, n_small: int,
            n_large: int, n_target: int, cores: int, node_mb: float) -> Projection:
    """Carry one rule from its two measurements to the target size on one node."""
    base, n_base = (large, n_large) if large is not None else (small, n_small)
    if base is None:
        raise ValueError(f"{rule}: measured in neither run")
    both = small is not None and large is not None
    b_wall = exponent(small.wall_s, large.wall_s, n_small, n_large) if both else None
    b_cpu = exponent(small.cpu_s, large.cpu_s, n_small, n_large) if both else None
    b_rss = exponent(small.max_rss_mb, large.max_rss_mb, n_small, n_large) if both else None
    wall = extrapolate(base.wall_s, n_base, n_target, time_exponent(b_wall))
    cpu = extrapolate(base.cpu_s, n_base, n_target, time_exponent(b_cpu))
    if both:
        rss = rss_at_target(small.max_rss_mb, large.max_rss_mb, n_small, n_large, n_target)
    else:
        rss = rss_at_target(None, base.max_rss_mb, n_base, n_base, n_target)
    concurrent = concurrency(base.jobs, min(threads_of(base), cores), rss, cores, node_mb)
    flags = []
    if not both:
        flags.append("one-run")
    if any(b is not None and b > SUPERLINEAR for b in (b_wall, b_cpu)):
        flags.append("superlinear")
    if rss is not None and rss > node_mb:
        flags.append("memory")
    return Projection(rule, small, large, b_wall, b_cpu, b_rss, wall, cpu, rss, concurrent,
                      wall / concurrent, flags)


def project_all(small: Mapping[str, RuleRun], large: Mapping[str, RuleRun], n_small: int,
                n_large: int, n_target: int, cores: int, node_mb: float) -> list[Projection]:
    """Every rule of either run, the longest at the target first."""
    rules = sorted(set(small) | set(large))
    rows = [project(rule, small.get(rule), large.get(rule), n_small, n_large, n_target, cores,
                    node_mb) for rule in rules]
    return sorted(rows, key=lambda row: (-row.elapsed_s, row.rule))


def study_total(rows: Iterable[Projection]) -> tuple[float, float]:
    """(CPU seconds, elapsed seconds) of the whole study: rules one after another."""
    rows = list(rows)
    return sum(row.cpu_s for row in rows), sum(row.elapsed_s for row in rows)


# ---------------------------------------------------------------- output

COLUMNS = ("rule", "jobs", "wall_s S", "wall_s L", "cpu_s S", "cpu_s L", "rss_MiB S", "rss_MiB L",
           "b_wall", "b_cpu", "b_rss", "cpu_h@T", "rss_GiB@T", "par", "elapsed_h@T", "flags")


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table_rows(rows: Sequence[Projection]) -> list[list[str]]:
    """The table's cells as text, one list per rule (missing values as '-')."""
    cells = []
    for row in rows:
        small, large = row.small, row.large
        cells.append([
            row.rule,
            f"{small.jobs if small else '-'}/{large.jobs if large else '-'}",
            _fmt(small.wall_s if small else None), _fmt(large.wall_s if large else None),
            _fmt(small.cpu_s if small else None), _fmt(large.cpu_s if large else None),
            _fmt(small.max_rss_mb if small else None, 0),
            _fmt(large.max_rss_mb if large else None, 0),
            _fmt(row.b_wall, 2), _fmt(row.b_cpu, 2), _fmt(row.b_rss, 2),
            _fmt(row.cpu_s / 3600, 2),
            _fmt(None if row.rss_mb is None else row.rss_mb / MIB_PER_GIB, 2),
            str(row.concurrent), _fmt(row.elapsed_s / 3600, 2),
            ",".join(row.flags) or "-",
        ])
    return cells


def fixed_width(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [c.ljust(w) if i in (0, len(cells) - 1) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, body)])


def markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    align = [":---" if i in (0, len(header) - 1) else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, align, *body])


def assumptions(n_target: int, cores: int, node_gb: float) -> list[str]:
    return [
        f"S = small run, L = large run, T = target: {n_target:,} recordings on one node with "
        f"{cores} cores and {node_gb:g} GiB.",
        "b = log(X_L / X_S) / log(N_L / N_S); time at T = X_L * (N_T / N_L)^max(b, 1) "
        "(b < 1 read as fixed start-up cost in the small run; linear for a rule seen once).",
        "rss@T = max(power law with b_rss, straight line through S and L); 'memory' when one "
        "job's rss@T exceeds the node.",
        f"'superlinear' when b_wall or b_cpu > {SUPERLINEAR} (noise and n log n stay below).",
        "par = jobs of the rule at once: min(jobs, cores // threads, node memory // rss@T), "
        "threads = measured CPU / wall; elapsed = total job wall time at T / par.",
        "Rules run one after another (an upper bound); I/O contention, GPUs and queueing are "
        "not modelled; NA CPU time counts as wall time, NA RSS is left out.",
    ]


def report(rows: Sequence[Projection], sizes: tuple[int, int], sources: tuple[str, str],
           n_target: int, cores: int, node_gb: float, as_markdown: bool) -> str:
    header = list(COLUMNS)
    body = table_rows(rows)
    cpu, elapsed = study_total(rows)
    total = (f"study at {n_target:,} recordings: {cpu / 3600:,.1f} CPU hours, about "
             f"{elapsed / 3600:,.1f} hours ({elapsed / 86400:,.2f} days) elapsed on {cores} cores")
    flagged = [f"{row.rule} ({','.join(row.flags)})" for row in rows if row.flags]
    notes = assumptions(n_target, cores, node_gb)
    sizes_line = (f"N_S = {sizes[0]:,} ({sources[0]}), N_L = {sizes[1]:,} ({sources[1]})")
    if as_markdown:
        lines = [sizes_line, "", markdown(header, body), "", f"**{total}**"]
        lines += ["", "Flagged: " + ("; ".join(flagged) or "none"), ""]
        lines += [f"* {note}" for note in notes]
    else:
        lines = [sizes_line, "", fixed_width(header, body), "", total]
        lines += ["flagged: " + ("; ".join(flagged) or "none"), "", "assumptions:"]
        lines += [f"  - {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Growth exponents per rule from two benchmarked runs, extrapolated to the "
        "real release; see the module docstring for the model.",
    )
    parser.add_argument("small", type=Path, help="results folder of the smaller run")
    parser.add_argument("large", type=Path, help="results folder of the larger run")
    parser.add_argument("--sizes", type=int, nargs=2, metavar=("N_SMALL", "N_LARGE"),
                        help="recordings in each run (default: read from the runs' outputs)")
    parser.add_argument("--target-recordings", type=int, default=DEFAULT_TARGET,
                        help="size to extrapolate to (default: %(default)s, the real union)")
    parser.add_argument("--target-cores", type=int, default=DEFAULT_CORES,
                        help="cores of the node (default: %(default)s)")
    parser.add_argument("--node-memory-gb", type=float, default=DEFAULT_NODE_GB,
                        help="memory of the node in GiB (default: %(default)s)")
    parser.add_argument("--exclude", nargs="*", default=list(DEFAULT_EXCLUDE), metavar="RULE",
                        help="rules left out (default: %(default)s, which the real release "
                        "replaces by downloads)")
    parser.add_argument("--markdown", action="store_true",
                        help="print a GitHub markdown table instead of the fixed-width one")
    args = parser.parse_args(argv)
    try:
        if args.sizes:
            sizes, sources = tuple(args.sizes), ("--sizes", "--sizes")
        else:
            (n_small, src_small), (n_large, src_large) = map(run_size, (args.small, args.large))
            sizes, sources = (n_small, n_large), (src_small, src_large)
        small, large = (drop(read_run(path), args.exclude) for path in (args.small, args.large))
    except (OSError, ValueError, KeyError) as error:
        print(f"scale_report: {error}", file=sys.stderr)
        return 1
    if min(sizes) <= 0 or sizes[0] == sizes[1]:
        print(f"scale_report: sizes {sizes} must be positive and differ", file=sys.stderr)
        return 1
    if sizes[0] > sizes[1]:  # the larger run is the base of every extrapolation
        small, large, sizes, sources = large, small, sizes[::-1], sources[::-1]
    rows = project_all(small, large, *sizes, args.target_recordings, args.target_cores,
                       args.node_memory_gb * MIB_PER_GIB)
    text = report(rows, sizes, sources, args.target_recordings, args.target_cores,
                  args.node_memory_gb, args.markdown)
    excluded = ", ".join(args.exclude) or "none"
    print(text + ("* " if args.markdown else "  - ") + f"Rules left out: {excluded}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
