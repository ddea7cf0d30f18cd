"""End to end: the whole DAG on a tiny generated release, then what a config change reruns."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from conftest import snakemake

pytestmark = pytest.mark.slow


def planned_jobs(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    stats = result.stdout.split("Job stats:", 1)[-1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)
            if rule != "total"}


def test_study_produces_every_final_output(study: Path) -> None:
    out = study / "results" / "tiny"
    summary = json.loads((out / "evaluation" / "summary.json").read_text())
    assert {"random", "popularity", "single", "fusion", "multitask", "logreg"} <= set(summary)
    for system in ("single", "fusion", "multitask", "logreg"):
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
    # random, popularity + 6 trained systems (single, fusion, lgbm_single, lgbm_fusion, multitask,
    # the logreg plug-in) x {per-label, global} x {plain, consistent}, 4 sources
    assert len(runs) == (2 + 6 * 2 * 2) * 4
    tables = (out / "evaluation" / "tables.md").read_text()
    assert "multitask" in tables and "logreg" in tables
    assert (out / "models" / "multitask" / "union" / "model.ckpt").exists()
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
    untouched = {"demo_mirror", "download", "convert", "groundtruth", "split", "train_single",
                 "embed", "baseline", "stats"}
    assert untouched.isdisjoint(jobs), jobs
    # fusion's scores, thresholds, run files and evaluations follow; nothing of `single`.
    assert jobs["predict"] == 8 and jobs["threshold"] == 4


LOGREG = ("custom_systems=[{'name': 'logreg', 'module': 'examples/logreg_plugin.py', "
          "'inputs': 'features', 'params': {'C': 0.5, 'max_labels': 10, 'max_iter': 100}}]")


def test_plugin_parameter_reruns_only_the_plugin(study: Path) -> None:
    result = snakemake(study, "-n", "--config", LOGREG)
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    # its 4 models, holdout + validation scores, thresholds, 4 decodings and their evaluations
    assert jobs.get("train_custom") == 4 and jobs.get("predict_custom") == 8
    assert jobs.get("threshold") == 4 and jobs.get("decode") == 16 and jobs.get("evaluate") == 16
    untouched = {"train_single", "train_fusion", "train_multitask", "train_lgbm", "embed",
                 "predict", "baseline", "split", "convert"}
    assert untouched.isdisjoint(jobs), jobs


def test_multitask_option_reruns_only_multitask(study: Path) -> None:
    result = snakemake(study, "-n", "--config", "multitask={'enabled': True, 'lr': 0.002}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_multitask") == 1 and jobs.get("predict") == 8
    assert {"train_single", "train_fusion", "train_custom", "embed"}.isdisjoint(jobs), jobs


def test_single_option_reruns_embeddings_and_fusion_but_not_data(study: Path) -> None:
    result = snakemake(study, "-n", "--config", "single={'lr': 0.002}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_single") == 4 and jobs.get("embed") == 4
    assert {"convert", "download", "split", "groundtruth"}.isdisjoint(jobs), jobs


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
