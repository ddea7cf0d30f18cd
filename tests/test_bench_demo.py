"""benchmarks/bench_demo.py: what it sums and counts, its verdict, and a dry run of the demo.

The benchmark itself (a demo study, minutes) runs in `make bench`, not here; the files it reads
are written with Snakemake's own benchmark writer, so the sum is checked against the format
Snakemake really writes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from snakemake.benchmark import BenchmarkRecord, write_benchmark_records

from studies import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_demo.py"


bd = load_benchmark("bench_demo")


def write_job(results: Path, rule: str, name: str, *seconds: float) -> None:
    path = results / "benchmarks" / rule / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    records = []
    for wall in seconds:
        record = BenchmarkRecord(running_time=wall)
        record.process_gone = True  # a job too short to sample: only its wall time
        records.append(record)
    write_benchmark_records(records, str(path), False)


def test_summed_job_time_adds_every_row_of_every_file(tmp_path: Path) -> None:
    write_job(tmp_path, "convert", "a", 2.5)
    write_job(tmp_path, "convert", "b", 1.25)
    write_job(tmp_path, "evaluate/single", "allmusic", 0.5, 0.25)  # two repeats: both count
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "x.tsv").write_text("not\ta benchmark\n")  # outside benchmarks/
    total, files = bd.summed_job_time(tmp_path)
    assert files == 3
    assert total == pytest.approx(4.5, abs=1e-3)


def test_summed_job_time_rejects_a_file_without_seconds(tmp_path: Path) -> None:
    bad = tmp_path / "benchmarks" / "rule" / "x.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("wall\n3\n")
    with pytest.raises(ValueError, match=r"x\.tsv"):
        bd.summed_job_time(tmp_path)


def test_job_count_is_the_last_complete_progress_line() -> None:
    log = ("1 of 186 steps (1%) done\n...\n185 of 186 steps (99%) done\n"
           "186 of 186 steps (100%) done\n")
    assert bd.jobs_done(log) == 186
    assert bd.jobs_done("nothing to be done") == 0


def test_verdict_compares_summed_job_time_with_the_target() -> None:
    now = bd.Run("current", 300.0, 186, 180, 300.0)
    before = bd.Run("baseline", 380.0, 186, 180, 458.0)
    line, met = bd.verdict(now, before, 0.75)
    assert met and "0.66" in line and "met" in line
    line, met = bd.verdict(bd.Run("current", 1, 1, 1, 400.0), before, 0.75)
    assert not met and "MISSED" in line
    assert now.line() == ("current wall 300 s (5 min 0 s), 186 jobs, summed job time 300.0 s "
                          "over 180 benchmarked jobs")


def test_dry_run_plans_the_demo_from_a_fresh_copy() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry"], capture_output=True,
                          text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    planned = int(done.stdout.split("current: dry run, ")[1].split()[0])
    assert planned > 100, done.stdout  # every stage of the four-source demo
