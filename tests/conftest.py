"""Fixtures shared by several test modules: the tiny study, run once per session (helpers in
``studies.py``, a module of its own so that test modules can import them unambiguously: every
test folder's conftest is a module named ``conftest``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from studies import PLAIN_ENV, copy_checkout, deps_only_python, snakemake


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_checkout(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="session")
def deps_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = deps_only_python(tmp_path_factory.mktemp("deps-venv"))
    probe = subprocess.run([str(python), "-c", "import snakemake, torch, lightgbm; import abgd"],
                           capture_output=True, text=True, env=PLAIN_ENV, cwd="/", check=False)
    assert "No module named 'abgd'" in probe.stderr, probe.stderr  # deps yes, package no
    return python


@pytest.fixture(scope="session")
def study(checkout: Path, deps_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory in which the whole tiny study (tests/config/tiny.yaml) has run.

    ``ABGD_TINY_STUDY=DIR`` reuses a directory where that study already ran (brought up to
    date here, which costs a dry run when nothing changed) instead of a fresh one.
    """
    reuse = os.environ.get("ABGD_TINY_STUDY")
    workdir = Path(reuse).resolve() if reuse else tmp_path_factory.mktemp("study")
    result = snakemake(checkout, workdir, python=deps_python)
    if result.returncode != 0:
        pytest.fail(f"workflow failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return workdir
