"""The README's examples for users of a finished study run as written, on the tiny study.

The blocks of the sections "Use the data in your own code", "Score your own predictions" and
"Tag any AcousticBrainz recording" assume ``make run`` made ``results/demo``; here they run in
the tiny study's folder with ``demo`` read as ``tiny`` and ``.venv/bin/abgd`` as this Python's
``abgd`` console entry point.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("Use the data in your own code", "Score your own predictions",
            "Tag any AcousticBrainz recording")

pytestmark = pytest.mark.slow


def blocks(section: str) -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(python|sh)\n(.*?)```", body, re.S)


def test_sections_have_examples():
    for section in SECTIONS:
        assert blocks(section), section


@pytest.mark.parametrize("section", SECTIONS)
def test_examples_run(study: Path, section: str):
    for language, code in blocks(section):
        code = code.replace("results/demo", "results/tiny").replace("resources/demo",
                                                                    "resources/tiny")
        if language == "python":
            command = [sys.executable, "-c", code]
        else:
            code = code.replace(".venv/bin/abgd", f"{sys.executable} -m abgd.cli")
            command = ["bash", "-euo", "pipefail", "-c", code]
        result = subprocess.run(command, cwd=study, capture_output=True, text=True,
                                timeout=900, check=False)
        assert result.returncode == 0, f"{code}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    try:
        if section == "Score your own predictions":
            summary = (study / "my-run.results_summary").read_bytes()
            assert summary == (study / "results" / "tiny" / "evaluation" / "single" /
                               "discogs-validation.results_summary").read_bytes()
        if section == "Tag any AcousticBrainz recording":
            assert (study / "tagged" / "runs" / "fusion" / "discogs.tsv").stat().st_size > 0
    finally:  # the examples write into the study's folder (ABGD_TINY_STUDY may be a checkout)
        for path in study.glob("my-run.*"):
            path.unlink()
        shutil.rmtree(study / "tagged", ignore_errors=True)
