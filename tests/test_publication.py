"""What a publication needs besides results: the licence, the citation, formatted workflow files."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# md5 of https://www.gnu.org/licenses/agpl-3.0.txt, the licence pyproject.toml names.
AGPL_3_MD5 = "eb1e647870add0502f8f010b19de32af"


def _tool(name: str) -> str:
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (make install installs it)")
    return found


def test_licence_is_the_official_agpl_text() -> None:
    assert hashlib.md5((ROOT / "LICENSE").read_bytes()).hexdigest() == AGPL_3_MD5
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # an SPDX expression (PEP 639): the table form is deprecated and refused by setuptools
    # from 2027-02-18 on
    assert project["license"] == "AGPL-3.0-or-later"
    assert project["license-files"] == ["LICENSE"]


def test_citation_file_is_valid_cff() -> None:
    result = subprocess.run([_tool("cffconvert"), "--validate", "-i", str(ROOT / "CITATION.cff")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_citation_file_and_readme_cite_the_same_paper() -> None:
    import yaml

    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    paper = cff["preferred-citation"]
    readme = (ROOT / "README.md").read_text()
    citing = readme.split("## Citing", 1)[1]
    assert "@inproceedings{bogdanov2019acousticbrainz" in citing
    for author in paper["authors"]:
        assert author["family-names"] in citing
    assert "AllMusic" in citing and "https://www.allmusic.com" in citing
    assert cff["license"] == "AGPL-3.0-or-later"


def test_snakemake_files_are_snakefmt_clean() -> None:
    result = subprocess.run([_tool("snakefmt"), "--check", "Snakefile", "workflow"],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def test_every_config_file_is_described() -> None:
    described = (ROOT / "config" / "README.md").read_text()
    for path in sorted((ROOT / "config").glob("*.yaml")):
        assert f"`{path.name}`" in described, path.name
