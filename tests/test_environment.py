"""The conda environment of the rules and pyproject.toml pin the same versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_conda_env_pins_exactly_the_project_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pinned = {_name(req): req for req in project["dependencies"]}
    assert all("==" in req for req in pinned.values()), "every dependency is pinned"

    env = yaml.safe_load((ROOT / "envs" / "abgd.yaml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert not [req for req in pip_section if req.startswith("-") or "/" in req], (
        "third-party pins only: Snakemake copies the env file elsewhere, so paths break")
    conda_pins = {_name(req): req for req in pip_section}
    assert conda_pins == pinned


def test_torch_is_the_cpu_wheel_version_on_disk() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "torch==2.13.0" in project["dependencies"]


def test_every_rule_file_uses_the_pinned_environment() -> None:
    for rules in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = rules.read_text()
        rule_count = len(re.findall(r"^rule \w+:", text, flags=re.M))
        env_count = len(re.findall(r"^    conda:\n        ENV$", text, flags=re.M))
        assert rule_count == env_count, rules.name
