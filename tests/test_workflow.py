"""End to end: the whole DAG on a tiny generated release, then what a config change reruns."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = ROOT / "tests" / "config" / "tiny.yaml"

pytestmark = pytest.mark.slow


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory",
         str(workdir), "--configfile", str(CONFIG), "--cores", "2", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=1800,
    )


def planned_jobs(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    stats = result.stdout.split("Job stats:", 1)[-1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)
            if rule != "total"}


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("study")
    result = snakemake(workdir)
    if result.returncode != 0:
        pytest.fail(f"workflow failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return workdir


def test_study_produces_every_final_output(study: Path) -> None:
    out = study / "results" / "tiny"
    summary = json.loads((out / "evaluation" / "summary.json").read_text())
    assert {"random", "popularity", "single", "fusion"} <= set(summary)
    for system in ("single", "fusion"):
        assert set(summary[system]) == {"allmusic", "discogs", "lastfm", "tagtraum"}
        for metrics in summary[system].values():
            assert 0.0 <= metrics["roc_auc"] <= 1.0
            assert 0.0 <= metrics["Ftrackall"] <= 1.0
    assert (out / "evaluation" / "tables.md").stat().st_size > 0
    assert (out / "stats" / "stats.md").stat().st_size > 0
    for figure in ("training_curves", "roc_curves", "label_f_vs_frequency",
                   "threshold_distribution"):
        assert (out / "figures" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
    assert list(out.glob("abgd-tiny-*.tar.gz"))
    runs = sorted((out / "runs").glob("*/*-validation.tsv"))
    # random, popularity + 4 trained systems x {per-label, global} x {plain, consistent}, 4 sources
    assert len(runs) == (2 + 4 * 2 * 2) * 4
    assert {"lgbm_single", "lgbm_fusion", "fusion-global-consistent"} <= set(summary)


def test_downloads_were_verified_from_the_mirror(study: Path) -> None:
    mirror = study / "resources" / "mirror" / "tiny"
    downloaded = study / "resources" / "tiny"
    for path in mirror.iterdir():
        assert (downloaded / path.name).read_bytes() == path.read_bytes()


def test_nothing_left_to_do_after_a_run(study: Path) -> None:
    result = snakemake(study, "-n")
    assert result.returncode == 0, result.stderr
    assert planned_jobs(result) == {}


def test_fusion_option_reruns_only_fusion_and_what_follows(study: Path) -> None:
    result = snakemake(study, "-n", "--config", "fusion={'dropout': 0.3}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_fusion") == 4
    untouched = {"demo_mirror", "download", "convert", "groundtruth", "split_groups", "split",
                 "train_single", "embed", "baseline", "stats"}
    assert untouched.isdisjoint(jobs), jobs
    # fusion's scores, thresholds, run files and evaluations follow; nothing of `single`.
    assert jobs["predict"] == 8 and jobs["threshold"] == 4


def test_single_option_reruns_embeddings_and_fusion_but_not_data(study: Path) -> None:
    result = snakemake(study, "-n", "--config", "single={'lr': 0.002}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_single") == 4 and jobs.get("embed") == 4
    assert {"convert", "download", "split_groups", "split", "groundtruth"}.isdisjoint(jobs), jobs


def test_snakemake_report_builds(study: Path) -> None:
    report = study / "results" / "tiny" / "report.zip"
    result = snakemake(study, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    import zipfile

    with zipfile.ZipFile(report) as bundle:
        names = bundle.namelist()
    assert any(name.endswith("report.html") for name in names)
    assert any(name.endswith("tables.md") for name in names)


def test_two_runs_give_byte_identical_results(study: Path,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    """Determinism (CPU): a second study from scratch reproduces the summary and every run file."""
    again = tmp_path_factory.mktemp("again")
    result = snakemake(again)
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = study / "results" / "tiny", again / "results" / "tiny"
    assert (first / "evaluation" / "summary.json").read_bytes() == (
        second / "evaluation" / "summary.json").read_bytes()
    runs = sorted(path.relative_to(first) for path in first.glob("runs/*/*.tsv"))
    assert runs
    for run in runs:
        assert (first / run).read_bytes() == (second / run).read_bytes(), run
