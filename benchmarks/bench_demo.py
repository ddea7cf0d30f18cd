"""The demo study's run time, as a user waits for it, optionally against an older commit.

    .venv/bin/python benchmarks/bench_demo.py [--cores 2] [--baseline REV [--target 0.75]]
                                              [--dry] [--keep]

Runs the default study (``config/config.yaml``: the demo release generated, served as a local
mirror, downloaded and studied end to end) with ``snakemake --cores N`` in a fresh copy of the
checkout (the files git tracks plus new, not ignored ones, as ``tests/studies.py`` copies them),
in a temporary directory, so nothing of an earlier run is reused. This is ``make run`` without
the install, and what the README's Quick start states. Printed:

- **wall**: seconds from start to end, what a user waits (depends on the machine and its load);
- **jobs**: the jobs Snakemake ran (its ``N of N steps`` line), and how many wrote a benchmark
  file (every rule but the local ones);
- **summed job time**: the sum of the ``s`` column of ``results/demo/benchmarks/**/*.tsv``, the
  time the jobs themselves took. Issue 22's target is about it: a job pays interpreter and
  library start-up, so cheap start-up shows here first;
- **CPU time** of the run (user + system of Snakemake and every job) and the load average at its
  start and end: on a shared machine other work stretches wall and job time, much less the CPU
  time, so these say how far the first two are the machine's and how far the study's.

``--baseline REV`` runs the same study a second time from a ``git worktree`` of commit REV and
prints summed(current) / summed(baseline), with ``--target`` (default 0.75) as the ratio to meet:
exit status 1 when it is missed. The current checkout runs first, so a cache warmed by the first
run helps the baseline, never the figure claimed. Both runs get the same environment: the venv's
``bin/`` first on PATH and the tree's own ``src/`` on PYTHONPATH, because rules of older commits
call a bare ``python`` (the current rules find both themselves). Without ``--baseline`` there is
no target (wall time belongs to the machine): ``make bench`` records the figures.

Cost: one demo study per run, about 6 minutes on 2 cores; with ``--baseline`` twice that.
``--dry`` does everything but the work (copies and worktree made, ``snakemake --dry-run``
lists the jobs) in seconds.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = "config/config.yaml"
DATASET = "demo"
STEPS = re.compile(r"(\d+) of (\d+) steps \(100%\) done")
PLANNED = re.compile(r"^total\s+(\d+)\s*$", re.M)


@dataclass(frozen=True)
class Run:
    """One study run: what it cost and how many jobs it ran."""

    label: str
    wall_s: float
    jobs: int
    benchmarked: int
    summed_s: float
    cpu_s: float = 0.0
    load: tuple[float, float] = (0.0, 0.0)

    def line(self) -> str:
        minutes, seconds = divmod(round(self.wall_s), 60)
        return (f"{self.label} wall {self.wall_s:.0f} s ({minutes} min {seconds} s), "
                f"{self.jobs} jobs, summed job time {self.summed_s:.1f} s over "
                f"{self.benchmarked} benchmarked jobs")

    def context(self) -> str:
        """What else the machine did: a shared machine's load inflates wall and job time."""
        return (f"{self.label} CPU time {self.cpu_s:.0f} s (user + system, all processes); "
                f"load average {self.load[0]:.1f} at its start, {self.load[1]:.1f} at its end")


def copy_tracked(source: Path, dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored ones) copied to `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        path = source / name
        if path.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / name)
    return dest


def summed_job_time(results: Path) -> tuple[float, int]:
    """Sum of the ``s`` column over every Snakemake benchmark file under `results`, and the
    number of files (one per benchmarked job)."""
    total, files = 0.0, 0
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        with tsv.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        if not rows or "s" not in rows[0]:
            raise ValueError(f"{tsv}: not a Snakemake benchmark file (no 's' column)")
        total += sum(float(row["s"]) for row in rows)
        files += 1
    return total, files


def jobs_done(log: str) -> int:
    """The job count of Snakemake's last ``N of N steps (100%) done`` line (0 if none)."""
    found = STEPS.findall(log)
    return int(found[-1][1]) if found else 0


def environment(tree: Path) -> dict[str, str]:
    """The same plain environment for every tree: venv first on PATH, the tree's src/ on
    PYTHONPATH (what a rule calling a bare `python` needs; current rules need neither)."""
    return {"HOME": os.environ.get("HOME", "/tmp"), "PATH": f"{BIN}:/usr/bin:/bin",
            "PYTHONPATH": str(tree / "src")}


def study(tree: Path, label: str, cores: int, dry: bool) -> Run:
    """The demo study in `tree`; with `dry`, only the jobs it would run."""
    command = [str(BIN / "snakemake"), "--cores", str(cores), "--configfile", CONFIG]
    if dry:
        command.append("--dry-run")
    load_start = os.getloadavg()[0]
    cpu_start = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=tree, env=environment(tree), capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - start
    cpu_end = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_end.ru_utime - cpu_start.ru_utime) + (cpu_end.ru_stime - cpu_start.ru_stime)
    load = (load_start, os.getloadavg()[0])
    log = done.stdout + done.stderr
    (tree / f"bench-demo-{label}.log").write_text(log)
    if done.returncode != 0:
        raise RuntimeError(f"{label}: snakemake exited with {done.returncode} in {tree}\n"
                           f"{log[-4000:]}")
    if dry:
        planned = PLANNED.findall(log)
        return Run(label, 0.0, int(planned[-1]) if planned else 0, 0, 0.0)
    summed, files = summed_job_time(tree / "results" / DATASET)
    return Run(label, wall, jobs_done(log), files, summed, cpu, load)


def verdict(current: Run, baseline: Run, target: float) -> tuple[str, bool]:
    """The ratio line and whether the target is met."""
    if baseline.summed_s <= 0:
        return "baseline summed job time is 0: no ratio", False
    ratio = current.summed_s / baseline.summed_s
    met = ratio <= target
    return (f"summed job time current / baseline: {ratio:.2f} "
            f"(target <= {target}: {'met' if met else 'MISSED'})"), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--baseline", metavar="REV", help="also run commit REV and compare")
    parser.add_argument("--target", type=float, default=0.75,
                        help="summed(current) / summed(baseline) to meet (with --baseline)")
    parser.add_argument("--dry", action="store_true", help="dry runs only, no timing")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="abgd-bench-demo-"))
    worktree: Path | None = None
    try:
        current_tree = copy_tracked(ROOT, work / "current")
        trees = [("current", current_tree)]
        if args.baseline:
            worktree = work / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(worktree),
                            args.baseline], cwd=ROOT, check=True)
            trees.append((f"baseline {args.baseline}", worktree))
        print(f"demo study, {CONFIG}, --cores {args.cores}, in {work}", flush=True)
        runs = []
        for label, tree in trees:
            run = study(tree, label.split()[0], args.cores, args.dry)
            runs.append(Run(label, run.wall_s, run.jobs, run.benchmarked, run.summed_s,
                            run.cpu_s, run.load))
            if args.dry:
                print(f"{label}: dry run, {run.jobs} jobs planned", flush=True)
            else:
                print(runs[-1].line() + ("" if args.baseline else
                                         " (no target without --baseline)"), flush=True)
                print(runs[-1].context(), flush=True)
        if args.dry or not args.baseline:
            return 0
        line, met = verdict(runs[0], runs[1], args.target)
        print(line)
        return 0 if met else 1
    finally:
        if worktree is not None:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT,
                           check=False, capture_output=True)
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
