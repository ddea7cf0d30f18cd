"""Run every benchmark at the record's size and write ``benchmarks/RESULTS.md`` (``make bench``).

    .venv/bin/python benchmarks/run_all.py [--out benchmarks/RESULTS.md] [--only convert ...]

A figure is only worth what its reproduction is worth: each section of the record gives the
command that printed it, its exit status (each benchmark exits 1 when one of its own targets is
missed) and its full output, under a header naming the commit, the date and the machine (CPU
model, cores, memory). The sizes below take about ten minutes together on 2 quiet cores.
Compare two commits by running ``make bench`` in a checkout of each on the same machine and
diffing the two files. Not part of CI: CI stays a test run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ABGD_SHARED_DATA", ROOT.parent / "shared" / "data"))
#: name → arguments after the script; sizes chosen for ~10 minutes in all on 2 cores.
BENCHMARKS: dict[str, list[str]] = {
    "startup": ["benchmarks/bench_startup.py", "--runs", "3"],
    "convert": ["benchmarks/bench_convert.py", "--docs", "2000", "--repeats", "3",
                "--threads", "2", "--real", str(SHARED / "lowlevel_json")],
    "evaluate": ["benchmarks/bench_evaluate.py", "--recordings", "50000",
                 "--baseline-sample", "5000"],
    "lgbm": ["benchmarks/bench_lgbm.py", "--rows", "5000", "--holdout-rows", "1000",
             "--labels", "2", "--default-trees", "6", "--fast-trees", "16"],
    "train": ["benchmarks/bench_train.py", "--rows", "6000", "--labels", "100",
              "--threads", "2", "--memory-rows", "20000"],
    "multitask": ["benchmarks/bench_multitask.py", "--rows", "24000", "--repeats", "2"],
    "dataset": ["benchmarks/bench_dataset.py", "--rows", "20000", "--pairs", "2"],
    "tag": ["benchmarks/bench_tag.py", "--docs", "2000", "--pairs", "3",
            "--real", str(SHARED / "lowlevel_json")],
    "audio": ["benchmarks/bench_audio.py", "--rounds", "2"],
}


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    return done.stdout.strip()


def machine() -> str:
    model = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "unknown memory"
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(meminfo.read_text().split("MemTotal:")[1].split()[0])
        memory = f"{kib / 2**20:.1f} GiB memory"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = f", load average {os.getloadavg()[0]:.1f} at start" if hasattr(os, "getloadavg") else ""
    return (f"{model}, {cores} cores available ({os.cpu_count()} online), {memory}, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}{load}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="a subset")
    args = parser.parse_args(argv)
    commit = _run("git", "rev-parse", "HEAD") or "unknown"
    dirty = " (with uncommitted changes)" if _run("git", "status", "--porcelain") else ""
    started = datetime.datetime.now(datetime.UTC)
    host = machine()
    sections, summary = [], []
    for name in args.only or BENCHMARKS:
        command = [sys.executable, *BENCHMARKS[name]]
        shown = " ".join([".venv/bin/python", *BENCHMARKS[name]])
        print(f"== {name}: {shown}", flush=True)
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
        seconds = time.perf_counter() - start
        output = (done.stdout + ("\n" + done.stderr if done.returncode not in (0, 1) else ""))
        print(output, flush=True)
        verdict = {0: "all targets met", 1: "TARGET MISSED"}.get(done.returncode,
                                                                 f"failed (exit {done.returncode})")
        summary.append(f"| {name} | {verdict} | {seconds:.0f} s | `{shown}` |")
        targets = [line.strip() for line in done.stdout.splitlines()
                   if "target" in line.lower()]
        sections.append("\n".join([
            f"## {name}", "", f"Command: `{shown}`  ", f"Exit status: {done.returncode} "
            f"({verdict}), {seconds:.0f} s", "", "Figures with a target:", "",
            *(f"- `{line}`" for line in targets), "", "Full output:", "", "```",
            output.strip(), "```", ""]))
        write_record(args.out, commit, dirty, started, host, summary, sections)  # kept if cut short
    write_record(args.out, commit, dirty, started, host, summary, sections)
    print(f"wrote {args.out}")
    return 0 if all("all targets met" in line for line in summary) else 1


def write_record(out: Path, commit: str, dirty: str, started: datetime.datetime, host: str,
                 summary: list[str], sections: list[str]) -> None:
    header = [
        "# Benchmark record", "",
        "Written by `make bench` (`benchmarks/run_all.py`); do not edit by hand. Each benchmark",
        "prints its figures against a baseline measured in the same run and exits 1 when one of",
        "its own targets is missed.", "",
        f"- commit: `{commit}`{dirty}",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {host}", "",
        "| benchmark | result | wall time | command |", "|---|---|---|---|", *summary, "",
    ]
    out.write_text("\n".join(header + sections))


if __name__ == "__main__":
    raise SystemExit(main())
