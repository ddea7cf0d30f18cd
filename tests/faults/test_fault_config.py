"""A typo in a config file stops ``snakemake -n`` before any job, naming the key.

Run through the real Snakefile with ``--configfile`` of a temporary YAML (the way a user passes
their own config), into an empty working directory so that no output of another run matters.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SNAKEMAKE = Path(sys.executable).with_name("snakemake")
pytestmark = pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")


def dry_run(tmp_path: Path, yaml_text: str) -> tuple[int, str, str]:
    config = tmp_path / "mine.yaml"
    config.write_text(yaml_text, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "--quiet", "--snakefile", str(ROOT / "Snakefile"),
         "--directory", str(work), "--configfile", str(config)],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )
    return result.returncode, result.stdout + result.stderr, result.stdout


def test_unknown_key_is_named(tmp_path):
    rc, output, stdout = dry_run(tmp_path, "single:\n  hiden: 128\n")
    assert rc != 0
    assert "invalid configuration:" in output
    assert "config key 'single': Additional properties are not allowed ('hiden' was " \
        "unexpected)" in output
    assert "Job stats" not in stdout


def test_unknown_top_level_key_is_named(tmp_path):
    rc, output, _ = dry_run(tmp_path, "sigle:\n  hidden: 128\n")
    assert rc != 0
    assert "'sigle' was unexpected" in output


def test_wrong_type_is_named(tmp_path):
    rc, output, stdout = dry_run(tmp_path, "fusion:\n  dropout: high\nsplit:\n  seed: 1.5\n")
    assert rc != 0
    assert "config key 'fusion.dropout': 'high' is not of type 'number'" in output
    assert "config key 'split.seed': 1.5 is not of type 'integer'" in output
    assert "Job stats" not in stdout
