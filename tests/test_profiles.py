"""The runtime profiles name only rules that exist and leave site settings to the user.

Why: Snakemake accepts a `groups:` or `set-resources:` entry for a rule that does not exist and
silently does nothing with it, so a renamed rule would quietly drop out of its group (more
SLURM jobs, never an error). The live cluster check runs in CI only; these checks run anywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULE = re.compile(r"^(?:rule|use rule \w+ as) (\w+)", re.MULTILINE)


def _rules() -> set[str]:
    names: set[str] = set()
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]:
        names.update(RULE.findall(path.read_text()))
    return names


def _profile(name: str) -> dict:
    return yaml.safe_load((ROOT / "profiles" / name / "config.yaml").read_text())


def test_rule_pattern_sees_the_workflow() -> None:
    # Guard for the checks below: an empty or partial rule list would make them pass vacuously.
    assert {"convert", "train_single", "embed_seed", "evaluate", "archive"} <= _rules()


def test_slurm_profile_groups_name_existing_rules() -> None:
    profile = _profile("slurm")
    assert profile["executor"] == "slurm"
    groups = profile["groups"]
    missing = sorted(set(groups) - _rules())
    assert not missing, f"profiles/slurm groups unknown rules: {missing}"
    assert set(profile["group-components"]) == set(groups.values())


def test_slurm_profile_keeps_long_steps_out_of_groups() -> None:
    # Conversion and training must stay separate SLURM jobs so they spread over nodes.
    groups = _profile("slurm")["groups"]
    for rule in ("convert", "train_single", "embed", "train_fusion", "train_lgbm"):
        assert rule not in groups


def test_slurm_profile_leaves_partition_and_account_to_the_site() -> None:
    resources = _profile("slurm").get("default-resources", {})
    assert "slurm_partition" not in resources and "slurm_account" not in resources


def test_set_resources_name_existing_rules() -> None:
    for name in ("default", "local", "slurm"):
        unknown = set(_profile(name).get("set-resources") or {}) - _rules()
        assert not unknown, f"profiles/{name}: set-resources for unknown rules {sorted(unknown)}"


def test_workflow_profile_leaves_cluster_settings_to_the_cluster_profile() -> None:
    """profiles/default wins key by key over --profile, so it must not set what SLURM needs."""
    default, slurm = _profile("default"), _profile("slurm")
    overridden = set(default) & set(slurm)
    assert overridden <= {"rerun-incomplete", "show-failed-logs"}, overridden
    assert slurm["latency-wait"] >= 30 and slurm["printshellcmds"] is True
