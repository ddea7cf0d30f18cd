"""End to end: the whole DAG on a tiny generated release, then what a config or code change reruns.

The study runs in a copy of the repository (so tests can edit its code) from a plain shell
(`env -i`, PATH=/usr/bin:/bin) with an interpreter that has the dependencies but not the `abgd`
package: the rules must find both the interpreter and the code themselves (docs/environments.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = Path("tests") / "config" / "tiny.yaml"
PLAIN_ENV = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin"}

pytestmark = pytest.mark.slow


def snakemake(checkout: Path, workdir: Path, *args: str, python: Path | None = None,
              ) -> subprocess.CompletedProcess[str]:
    """Snakemake of `checkout` on `workdir`, started from a plain shell (no venv on PATH)."""
    command = ([str(python), "-m", "snakemake"] if python else [str(BIN / "snakemake")])
    return subprocess.run(
        [*command, "--snakefile", str(checkout / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(checkout / CONFIG), "--cores", "2", *args],
        capture_output=True, text=True, env=PLAIN_ENV, cwd=workdir, check=False, timeout=3600,
    )


def planned_jobs(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    stats = result.stdout.split("Job stats:", 1)[-1]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", stats, re.M)
            if rule != "total"}


def copy_checkout(dest: Path) -> Path:
    """The repository's files (tracked and new, not ignored ones) copied to `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def deps_only_python(folder: Path) -> Path:
    """A venv that sees this venv's packages (one .pth line) but cannot import `abgd`.

    A path line in a .pth file adds the directory to sys.path without processing the .pth files
    inside it, so the editable install's own .pth (which makes `abgd` importable) stays inert.
    """
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(folder)],
                   check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def deps_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = deps_only_python(tmp_path_factory.mktemp("deps-venv"))
    probe = subprocess.run([str(python), "-c", "import snakemake, torch, lightgbm; import abgd"],
                           capture_output=True, text=True, env=PLAIN_ENV, cwd="/", check=False)
    assert "No module named 'abgd'" in probe.stderr, probe.stderr  # deps yes, package no
    return python


@pytest.fixture(scope="module")
def study(checkout: Path, deps_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("study")
    result = snakemake(checkout, workdir, python=deps_python)
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


def test_nothing_left_to_do_after_a_run(checkout: Path, study: Path) -> None:
    result = snakemake(checkout, study, "-n")
    assert result.returncode == 0, result.stderr
    assert planned_jobs(result) == {}


def test_fusion_option_reruns_only_fusion_and_what_follows(checkout: Path, study: Path) -> None:
    result = snakemake(checkout, study, "-n", "--config", "fusion={'dropout': 0.3}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_fusion") == 4
    untouched = {"demo_mirror", "download", "convert", "groundtruth", "split", "train_single",
                 "embed", "baseline", "stats"}
    assert untouched.isdisjoint(jobs), jobs
    # fusion's scores, thresholds, run files and evaluations follow; nothing of `single`.
    assert jobs["predict"] == 8 and jobs["threshold"] == 4


def test_single_option_reruns_embeddings_and_fusion_but_not_data(checkout: Path,
                                                                study: Path) -> None:
    result = snakemake(checkout, study, "-n", "--config", "single={'lr': 0.002}")
    assert result.returncode == 0, result.stderr
    jobs = planned_jobs(result)
    assert jobs.get("train_single") == 4 and jobs.get("embed") == 4
    assert {"convert", "download", "split", "groundtruth"}.isdisjoint(jobs), jobs


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
