"""Fixtures shared by several test modules: the tiny study, run once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CONFIG = ROOT / "tests" / "config" / "tiny.yaml"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory",
         str(workdir), "--configfile", str(CONFIG), "--cores", "2", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False, timeout=1800,
    )


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory in which the whole tiny study (tests/config/tiny.yaml) has run.

    ``ABGD_TINY_STUDY=DIR`` reuses a directory where that study already ran (brought up to
    date here, which costs a dry run when nothing changed) instead of a fresh one.
    """
    reuse = os.environ.get("ABGD_TINY_STUDY")
    workdir = Path(reuse).resolve() if reuse else tmp_path_factory.mktemp("study")
    result = snakemake(workdir)
    if result.returncode != 0:
        pytest.fail(f"workflow failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return workdir
