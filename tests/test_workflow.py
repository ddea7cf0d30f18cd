"""End to end: the whole DAG on a tiny generated release, then what a config or code change reruns.

The study runs in a copy of the repository (so tests can edit its code) from a plain shell
(`env -i`, PATH=/usr/bin:/bin) with an interpreter that has the dependencies but not the `abgd`
package: the rules must find both the interpreter and the code themselves (docs/environments.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from studies import PLAIN_ENV, ROOT, snakemake

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


def test_nothing_left_to_do_after_a_run(checkout: Path, study: Path) -> None:
    result = snakemake(checkout, study, "-n")
    assert result.returncode == 0, result.stderr
    assert planned_jobs(result) == {}


def test_fusion_option_reruns_only_fusion_and_what_follows(checkout: Path, study: Path) -> None:
    result = snakemake(checkout, study, "-n", "--config", "fusion={'dropout': 0.3}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_fusion") == 4
    untouched = {"demo_mirror", "download", "convert", "groundtruth", "split_groups", "split",
                 "train_single", "embed", "baseline", "stats"}
    assert untouched.isdisjoint(jobs), jobs
    # fusion's scores, thresholds, run files and evaluations follow; nothing of `single`.
    assert jobs["predict"] == 8 and jobs["threshold"] == 4


LOGREG = ("custom_systems=[{'name': 'logreg', 'module': 'examples/logreg_plugin.py', "
          "'inputs': 'features', 'params': {'C': 0.5, 'max_labels': 10, 'max_iter': 100}}]")


def test_plugin_parameter_reruns_only_the_plugin(checkout: Path, study: Path) -> None:
    result = snakemake(checkout, study, "-n", "--config", LOGREG)
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    # its 4 models, holdout + validation scores, thresholds, 4 decodings and their evaluations
    assert jobs.get("train_custom") == 4 and jobs.get("predict_custom") == 8
    assert jobs.get("threshold") == 4 and jobs.get("decode") == 16 and jobs.get("evaluate") == 16
    untouched = {"train_single", "train_fusion", "train_multitask", "train_lgbm", "embed",
                 "predict", "baseline", "split", "convert"}
    assert untouched.isdisjoint(jobs), jobs


def test_multitask_option_reruns_only_multitask(checkout: Path, study: Path) -> None:
    result = snakemake(checkout, study, "-n", "--config",
                       "multitask={'enabled': True, 'lr': 0.002}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_multitask") == 1 and jobs.get("predict") == 8
    assert {"train_single", "train_fusion", "train_custom", "embed"}.isdisjoint(jobs), jobs


def test_single_option_reruns_embeddings_and_fusion_but_not_data(checkout: Path,
                                                                study: Path) -> None:
    result = snakemake(checkout, study, "-n", "--config", "single={'lr': 0.002}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_single") == 4 and jobs.get("embed") == 4
    assert {"convert", "download", "split_groups", "split", "groundtruth"}.isdisjoint(jobs), jobs


def test_snakemake_report_builds(checkout: Path, study: Path) -> None:
    report = study / "results" / "tiny" / "report.zip"
    result = snakemake(checkout, study, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    import zipfile

    with zipfile.ZipFile(report) as bundle:
        names = bundle.namelist()
    assert any(name.endswith("report.html") for name in names)
    assert any(name.endswith("tables.md") for name in names)


def test_two_runs_give_byte_identical_results(checkout: Path, study: Path,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    """Determinism (CPU): a second study from scratch reproduces the summary and every run file."""
    again = tmp_path_factory.mktemp("again")
    result = snakemake(checkout, again)  # the project's venv, the package installed
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = study / "results" / "tiny", again / "results" / "tiny"
    assert (first / "evaluation" / "summary.json").read_bytes() == (
        second / "evaluation" / "summary.json").read_bytes()
    runs = sorted(path.relative_to(first) for path in first.glob("runs/*/*.tsv"))
    assert runs
    for run in runs:
        assert (first / run).read_bytes() == (second / run).read_bytes(), run


def _planned_after_edit(checkout: Path, study: Path, name: str, edit) -> dict[str, int]:
    """Jobs a dry run plans after `edit(text)` of `name` in the checkout (restored afterwards)."""
    path = checkout / name
    original = path.read_text()
    try:
        path.write_text(edit(original))
        result = snakemake(checkout, study, "-n")
    finally:
        path.write_text(original)
    assert result.returncode == 0, result.stderr[-3000:]
    return planned_jobs(result)


DATA_RULES = {"demo_mirror", "download", "convert", "features_manifest", "groundtruth", "split"}


def test_editing_training_code_reruns_training_and_what_follows(checkout: Path,
                                                                 study: Path) -> None:
    jobs = _planned_after_edit(checkout, study, "src/abgd/training.py",
                               lambda text: text + "\nEDITED = True\n")
    assert jobs.get("train_single") == 4 and jobs.get("train_fusion") == 4, jobs
    assert jobs.get("embed") == 4 and jobs.get("summarize") == 1, jobs
    assert DATA_RULES.isdisjoint(jobs), jobs
    # LightGBM on features is untouched; on embeddings (lgbm_fusion: 2 chunks x 4 sources) reruns.
    assert jobs.get("train_lgbm") == 8, jobs


def test_editing_conversion_code_reruns_conversion_and_downstream(checkout: Path,
                                                                  study: Path) -> None:
    jobs = _planned_after_edit(checkout, study, "src/abgd/convert.py",
                               lambda text: text.replace("batch_size: int = 2048",
                                                         "batch_size: int = 1024"))
    config = yaml.safe_load((checkout / "config" / "config.yaml").read_text())
    parts = sum(len(names) for names in config["features"]["archives"].values())
    assert jobs.get("convert") == parts, jobs  # every part, as tiny.yaml keeps the archives
    assert {"features_manifest", "groundtruth", "split", "train_single"} <= set(jobs), jobs
    assert {"demo_mirror", "download"}.isdisjoint(jobs), jobs


@pytest.mark.parametrize(("name", "edit"), [
    ("README.md", lambda text: text + "\nAn added sentence.\n"),
    # Comments, formatting and docstrings do not count (src/abgd/codehash.py).
    ("src/abgd/training.py", lambda text: text.replace('"""', '"""Edited docstring. ', 1)
     + "\n# an added comment\n"),
])
def test_edits_that_change_no_code_rerun_nothing(checkout: Path, study: Path, name: str,
                                                 edit) -> None:
    assert _planned_after_edit(checkout, study, name, edit) == {}


def test_the_studys_bundle_verifies(study: Path) -> None:
    """The real bundle lists every member with its md5, split membership included."""
    bundle = next((study / "results" / "tiny").glob("abgd-tiny-*.tar.gz"))
    result = subprocess.run([sys.executable, "-m", "abgd.archive", "--verify", str(bundle)],
                            capture_output=True, text=True, check=False,
                            env={**PLAIN_ENV, "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "dataset  tiny" in result.stdout
    import tarfile

    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    for source in ("allmusic", "discogs", "lastfm", "tagtraum"):
        assert f"abgd-tiny/splits/{source}.tsv" in names
