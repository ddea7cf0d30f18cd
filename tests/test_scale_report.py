"""benchmarks/scale_report.py on two fake runs written with Snakemake's own benchmark writer."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from snakemake.benchmark import BenchmarkRecord, write_benchmark_records

from studies import load_benchmark

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "scale_report.py"
N_SMALL, N_LARGE, N_TARGET = 1_000, 10_000, 100_000
GIB = 1024.0


sr = load_benchmark("scale_report")


def record(wall: float, cpu: float | None = None, rss: float | None = None) -> BenchmarkRecord:
    """A record as Snakemake fills it; without cpu/rss it is a job that ended before a sample."""
    rec = BenchmarkRecord(running_time=wall, max_rss=rss, max_vms=rss, max_uss=rss, max_pss=rss,
                          io_in=0.0, io_out=0.0, cpu_time=cpu)
    if cpu is not None:
        rec.data_collected = True
        rec.cpu_usage = cpu
    else:
        rec.process_gone = True
    return rec


def write_job(results: Path, rule: str, name: str, *records: BenchmarkRecord) -> None:
    path = results / "benchmarks" / rule / "seed1" / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_benchmark_records(list(records), str(path), False)


def write_manifests(results: Path, train: int, validation: int) -> None:
    for split, rows in (("train", train), ("validation", validation)):
        path = results / "features" / f"{split}.manifest.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"unique_rows": rows, "total_rows": rows + 5}))


@pytest.fixture
def runs(tmp_path: Path) -> tuple[Path, Path]:
    """Two runs, 1,000 and 10,000 recordings, with rules of known growth."""
    small, large = tmp_path / "small", tmp_path / "large"
    for results, scale, (train, validation) in ((small, 1, (800, 200)),
                                                (large, 10, (8000, 2000))):
        write_manifests(results, train, validation)
        for job in ("a", "b"):  # linear time, two threads, flat memory
            write_job(results, "linear", job, record(5.0 * scale, 10.0 * scale, 500.0))
        # quadratic time and memory
        write_job(results, "quadratic", "x", record(2.0 * scale**2, 2.0 * scale**2,
                                                    100.0 * scale**2))
        # fixed start-up cost dominates: 10 s -> 12 s
        for job in "abcd":
            write_job(results, "startup", job, record(10.0 + 0.2 * (scale - 1), 10.0, 200.0))
        # too short to sample: NA everywhere except the wall time
        write_job(results, "tiny", "x", record(0.3 * scale))
        # flat 20 GiB per job: three of eight fit in 64 GiB at once
        for job in range(8):
            write_job(results, "memlimited", str(job), record(1.0 * scale, 1.0 * scale,
                                                              20 * GIB))
    return small, large


def test_parse_plain_file_written_by_snakemake(tmp_path: Path) -> None:
    path = tmp_path / "b.tsv"
    write_benchmark_records([record(12.5, 20.0, 300.25)], str(path), False)
    job = sr.parse_benchmark(path.read_text())
    assert job == sr.Job(wall_s=12.5, cpu_s=20.0, max_rss_mb=300.25)


def test_parse_na_and_dash_are_missing(tmp_path: Path) -> None:
    path = tmp_path / "b.tsv"
    write_benchmark_records([record(0.3)], str(path), False)
    assert "NA" in path.read_text()
    assert sr.parse_benchmark(path.read_text()) == sr.Job(0.3, None, None)
    dash = "s\th:m:s\tmax_rss\tcpu_time\n4.0\t0:00:04\t-\t-\n"
    assert sr.parse_benchmark(dash) == sr.Job(4.0, None, None)


def test_parse_repeats_average_time_and_keep_the_peak(tmp_path: Path) -> None:
    path = tmp_path / "b.tsv"
    write_benchmark_records([record(10.0, 8.0, 300.0), record(20.0, 12.0, 100.0), record(30.0)],
                            str(path), False)
    assert sr.parse_benchmark(path.read_text()) == sr.Job(20.0, 10.0, 300.0)


def test_parse_extended_format_by_column_name() -> None:
    text = ("s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time"
            "\tjobid\trule_name\twildcards\tparams\tthreads\tcpu_usage\tresources\tinput_size_mb\n"
            "7.00\t0:00:07\t64.00\t1.00\t1.00\t1.00\t0.00\t0.00\t1.00\t6.50"
            "\t3\tsplit\t{'source': 'x'}\t{}\t1\t7.0\t{}\t{}\n")
    assert sr.parse_benchmark(text) == sr.Job(7.0, 6.5, 64.0)


@pytest.mark.parametrize("text", ["", "s\tmax_rss\tcpu_time\n", "a\tb\n1\t2\n",
                                  "s\tmax_rss\tcpu_time\nNA\t1\t1\n"])
def test_parse_rejects_what_is_not_a_benchmark(text: str) -> None:
    with pytest.raises(ValueError):
        sr.parse_benchmark(text)


def test_aggregate_counts_wall_for_missing_cpu() -> None:
    run = sr.aggregate([sr.Job(2.0, 3.0, 50.0), sr.Job(0.5, None, None), sr.Job(4.0, 1.0, 70.0)])
    assert run == sr.RuleRun(jobs=3, wall_s=6.5, cpu_s=4.5, max_rss_mb=70.0, cpu_missing=1)


def test_read_run_groups_by_first_folder(runs: tuple[Path, Path]) -> None:
    small = sr.read_run(runs[0])
    assert sorted(small) == ["linear", "memlimited", "quadratic", "startup", "tiny"]
    assert small["linear"] == sr.RuleRun(2, 10.0, 20.0, 500.0, 0)
    assert small["tiny"] == sr.RuleRun(1, 0.3, 0.3, None, 1)


def test_run_size_from_manifests(runs: tuple[Path, Path]) -> None:
    assert sr.run_size(runs[0])[0] == 1_000
    assert sr.run_size(runs[1])[0] == 10_000


def test_run_size_from_groundtruth_union(tmp_path: Path) -> None:
    folder = tmp_path / "groundtruth"
    folder.mkdir()
    for name, mbids in (("a-train", ["m1", "m2", "m3"]), ("b-train", ["m2", "m4"]),
                        ("a-validation", ["m5"])):
        pq.write_table(pa.table({"mbid": mbids}), folder / f"{name}.parquet")
    assert sr.run_size(tmp_path)[0] == 5
    with pytest.raises(FileNotFoundError):
        sr.run_size(tmp_path / "nothing")


def test_exponents_of_known_growth() -> None:
    assert sr.exponent(5.0, 50.0, 1_000, 10_000) == pytest.approx(1.0)
    assert sr.exponent(2.0, 200.0, 1_000, 10_000) == pytest.approx(2.0)
    assert sr.exponent(3.0, 24.0, 100, 200) == pytest.approx(3.0)
    assert sr.exponent(None, 1.0, 1, 2) is None
    assert sr.exponent(0.0, 1.0, 1, 2) is None
    assert sr.time_exponent(0.3) == 1.0
    assert sr.time_exponent(1.7) == 1.7
    assert sr.time_exponent(None) == 1.0


def test_rss_takes_the_line_when_it_is_higher() -> None:
    # 1000 MiB -> 1900 MiB over 1k -> 10k: slope 0.1 MiB per recording, line gives 10,900 at 100k
    assert sr.rss_at_target(1000.0, 1900.0, 1_000, 10_000, 100_000) == pytest.approx(10_900.0)
    # quadratic: power law 10,000 * 10^2 beats the line
    assert sr.rss_at_target(100.0, 10_000.0, 1_000, 10_000, 100_000) == pytest.approx(1e6)
    # shrinking memory is never extrapolated below the large run
    assert sr.rss_at_target(800.0, 400.0, 1_000, 10_000, 100_000) == pytest.approx(400.0)


def test_projection_of_each_rule(runs: tuple[Path, Path]) -> None:
    small, large = sr.read_run(runs[0]), sr.read_run(runs[1])
    rows = {row.rule: row for row in sr.project_all(small, large, N_SMALL, N_LARGE, N_TARGET, 16,
                                                    64 * GIB)}
    linear = rows["linear"]
    assert (linear.b_wall, linear.b_cpu, linear.b_rss) == pytest.approx((1.0, 1.0, 0.0))
    # large: 2 jobs x 50 s wall, 100 s CPU; x10 to the target; 2 threads -> both jobs at once
    assert (linear.wall_s, linear.cpu_s, linear.rss_mb) == pytest.approx((1000.0, 2000.0, 500.0))
    assert (linear.concurrent, linear.elapsed_s, linear.flags) == (2, pytest.approx(500.0), [])

    quadratic = rows["quadratic"]
    assert quadratic.b_wall == pytest.approx(2.0) and quadratic.b_rss == pytest.approx(2.0)
    assert quadratic.cpu_s == pytest.approx(200.0 * 100)
    assert quadratic.rss_mb == pytest.approx(10_000.0 * 100)
    assert quadratic.flags == ["superlinear", "memory"]

    startup = rows["startup"]  # 40 s -> 47.2 s: b = log10(1.18), clipped to 1
    assert startup.b_wall == pytest.approx(math.log10(47.2 / 40.0))
    assert startup.wall_s == pytest.approx(472.0)
    assert startup.cpu_s == pytest.approx(400.0)
    assert (startup.concurrent, startup.elapsed_s) == (4, pytest.approx(118.0))

    tiny = rows["tiny"]
    assert tiny.b_cpu == pytest.approx(1.0) and tiny.b_rss is None and tiny.rss_mb is None
    assert tiny.cpu_s == pytest.approx(30.0)

    limited = rows["memlimited"]
    assert (limited.concurrent, limited.flags) == (3, [])
    assert limited.elapsed_s == pytest.approx(800.0 / 3)


def test_superlinear_threshold_and_one_run_rule() -> None:
    run_s = sr.RuleRun(1, 10.0, 10.0, 100.0)
    run_l = sr.RuleRun(1, 10.0 * 10**1.1, 10.0 * 10**1.1, 100.0)
    just_below = sr.project("r", run_s, run_l, 1, 10, 100, 16, 64 * GIB)
    assert just_below.flags == []
    run_l = sr.RuleRun(1, 10.0 * 10**1.2, 10.0 * 10**1.2, 100.0)
    assert sr.project("r", run_s, run_l, 1, 10, 100, 16, 64 * GIB).flags == ["superlinear"]
    only_large = sr.project("r", None, sr.RuleRun(2, 6.0, 6.0, 10.0), 1, 10, 50, 16, 64 * GIB)
    assert only_large.flags == ["one-run"]
    assert (only_large.wall_s, only_large.rss_mb) == pytest.approx((30.0, 50.0))


def test_study_total_by_hand(runs: tuple[Path, Path]) -> None:
    small, large = sr.read_run(runs[0]), sr.read_run(runs[1])
    rows = sr.project_all(small, large, N_SMALL, N_LARGE, N_TARGET, 16, 64 * GIB)
    cpu, elapsed = sr.study_total(rows)
    # CPU: linear 2000 + quadratic 20000 + startup 400 + tiny 30 + memlimited 800
    assert cpu == pytest.approx(23_230.0)
    # elapsed: 500 + 20000 + 118 + 30 + 800/3
    assert elapsed == pytest.approx(500 + 20_000 + 118 + 30 + 800 / 3)
    assert rows[0].rule == "quadratic"


def test_markdown_output_is_a_valid_table(runs: tuple[Path, Path], capsys) -> None:
    code = sr.main([str(runs[0]), str(runs[1]), "--target-recordings", str(N_TARGET),
                    "--markdown"])
    assert code == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 5
    cells = [line.strip("|").split("|") for line in table]
    assert all(len(row) == len(cells[0]) for row in cells)
    assert all(re.fullmatch(r" :?-{3,}:? ", cell) for cell in cells[1])
    assert {row[0].strip() for row in cells[2:]} == {"linear", "quadratic", "startup", "tiny",
                                                     "memlimited"}
    assert "N_S = 1,000" in out and "N_L = 10,000" in out
    assert "6.5 CPU hours" in out  # 23,230 s = 6.45 h


def test_fixed_width_output_and_sizes_override(runs: tuple[Path, Path], capsys) -> None:
    # swapped order and explicit sizes: the larger run is still the base
    code = sr.main([str(runs[1]), str(runs[0]), "--sizes", "10000", "1000",
                    "--target-recordings", str(N_TARGET)])
    assert code == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("rule"))
    assert header.split()[-1] == "flags" and "elapsed_h@T" in header
    assert "quadratic (superlinear,memory)" in out
    assert "6.5 CPU hours" in out
    assert "assumptions:" in out


def test_cli_errors_and_help(tmp_path: Path, capsys) -> None:
    assert sr.main([str(tmp_path), str(tmp_path), "--sizes", "1", "2"]) == 1
    with pytest.raises(SystemExit) as exit_info:
        sr.main(["--help"])
    assert exit_info.value.code == 0


def test_demo_mirror_is_left_out_by_default(runs: tuple[Path, Path], capsys) -> None:
    for results in runs:
        write_job(results, "demo_mirror", "demo_mirror", record(99.0, 99.0, 10.0))
    assert sr.main([str(runs[0]), str(runs[1]), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| demo_mirror |" not in out and "Rules left out: demo_mirror." in out
    assert sr.main([str(runs[0]), str(runs[1]), "--markdown", "--exclude"]) == 0
    assert "| demo_mirror |" in capsys.readouterr().out
