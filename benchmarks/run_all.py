"""Run every benchmark at the record's size and write ``benchmarks/RESULTS.md`` (``make bench``).

    .venv/bin/python benchmarks/run_all.py [--out benchmarks/RESULTS.md] [--only convert ...]

A figure is only worth what its reproduction is worth: each section of the record gives the
command that printed it, the run it comes from (commit, date, machine: CPU model, cores,
memory, load), its exit status (each benchmark exits 1 when one of its own targets is missed)
and its full output. The sizes below take about ten minutes together on 2 quiet cores, plus
about six for the demo study (``bench_demo.py``: one whole ``make run``, without its baseline
run, which would double that). ``--only NAME ...`` reruns those benchmarks and keeps the other
sections of an existing record as they were, each still naming its own run. Compare two commits
by running ``make bench`` in a checkout of each on the same machine and diffing the two files.
Not part of CI: CI stays a test run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
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
    "multitask": ["benchmarks/bench_multitask.py", "--rows", "24000", "--repeats", "1",
                  "--memory-rows", "64000"],
    "dataset": ["benchmarks/bench_dataset.py", "--rows", "20000", "--pairs", "2"],
    "tag": ["benchmarks/bench_tag.py", "--docs", "10000", "--pairs", "5",
            "--real", str(SHARED / "lowlevel_json")],
    "audio": ["benchmarks/bench_audio.py", "--rounds", "2"],
    # The README's demo run time; the baseline comparison (--baseline REV) is left to whoever
    # asks it, since it runs the study a second time.
    "demo": ["benchmarks/bench_demo.py", "--cores", "2"],
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


def read_record(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Summary rows and sections, by benchmark name, of an existing record (empty if none).

    A section written before sections named their run gets a ``Run:`` line from the record's
    header, so that it keeps saying where it comes from once the header describes a later run.
    """
    if not path.is_file():
        return {}, {}
    text = path.read_text()
    head, *bodies = re.split(r"^## ", text, flags=re.M)
    fields = dict(re.findall(r"^- (commit|date|machine): (.*)$", head, flags=re.M))
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| (\w+) \| .*\|$", head, flags=re.M)
            if m.group(1) != "benchmark"}
    sections = {}
    for body in bodies:
        name = body.split("\n", 1)[0].strip()
        section = "## " + body.rstrip("\n") + "\n"
        if "\nRun: " not in section and fields:
            run = run_line(fields.get("commit", "unknown"), fields.get("date", "unknown"),
                           fields.get("machine", "unknown"))
            section = re.sub(r"^(Command: .*)$", lambda m, r=run: f"{m.group(1)}\n{r}",
                             section, count=1, flags=re.M)
        sections[name] = section
    return rows, sections


def run_line(commit: str, date: str, machine: str) -> str:
    """The line that says which run a section comes from (two trailing spaces: a line break)."""
    date = date if date.endswith("UTC") else f"{date} UTC"
    return f"Run: commit {commit}, {date}, {machine}  "


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS),
                        help="run these only; the record's other sections are kept")
    args = parser.parse_args(argv)
    commit = _run("git", "rev-parse", "HEAD") or "unknown"
    # The record itself does not count: `--only` runs start from a record it rewrites.
    record = os.path.relpath(args.out.resolve(), ROOT)
    changed = _run("git", "status", "--porcelain", "--", ".", f":(exclude){record}")
    dirty = " (with uncommitted changes)" if changed else ""
    started = datetime.datetime.now(datetime.UTC)
    host = machine()
    kept_rows, kept_sections = read_record(args.out) if args.only else ({}, {})
    rows: dict[str, str] = {}
    sections: dict[str, str] = {}
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
        rows[name] = f"| {name} | {verdict} | {seconds:.0f} s | `{shown}` |"
        targets = [line.strip() for line in done.stdout.splitlines()
                   if "target" in line.lower()]
        sections[name] = "\n".join([
            f"## {name}", "", f"Command: `{shown}`  ",
            run_line(f"`{commit}`{dirty}", f"{started:%Y-%m-%d %H:%M}", host),
            f"Exit status: {done.returncode} ({verdict}), {seconds:.0f} s", "",
            "Figures with a target:", "", *(f"- `{line}`" for line in targets), "",
            "Full output:", "", "```", output.strip(), "```", ""])
        write_record(args.out, commit, dirty, started, host, {**kept_rows, **rows},
                     {**kept_sections, **sections})  # kept if cut short
    write_record(args.out, commit, dirty, started, host, {**kept_rows, **rows},
                 {**kept_sections, **sections})
    print(f"wrote {args.out}")
    return 0 if all("all targets met" in line for line in rows.values()) else 1


def write_record(out: Path, commit: str, dirty: str, started: datetime.datetime, host: str,
                 rows: dict[str, str], sections: dict[str, str]) -> None:
    """The record: header, one summary row and one section per benchmark, in BENCHMARKS order
    (names no longer in BENCHMARKS last)."""
    order = [n for n in BENCHMARKS if n in rows] + [n for n in rows if n not in BENCHMARKS]
    earlier = [n for n in order if f"commit `{commit}`" not in sections.get(n, "")]
    header = [
        "# Benchmark record", "",
        "Written by `make bench` (`benchmarks/run_all.py`); do not edit by hand. Each benchmark",
        "prints its figures against a baseline measured in the same run and exits 1 when one of",
        "its own targets is missed. Each section names the run it comes from.", "",
        f"- commit: `{commit}`{dirty}",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {host}",
        *([f"- kept from earlier runs (`--only`): {', '.join(earlier)}"] if earlier else []),
        "",
        "| benchmark | result | wall time | command |", "|---|---|---|---|",
        *(rows[n] for n in order), "",
    ]
    out.write_text("\n".join(header + [sections[n] for n in order if n in sections]))


if __name__ == "__main__":
    raise SystemExit(main())
