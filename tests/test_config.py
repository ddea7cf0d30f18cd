"""A bad configuration stops the workflow before any job, with a message naming the key."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("name", ["config/config.yaml", "config/acousticbrainz.yaml",
                                  "config/rehearsal.yaml", "tests/config/tiny.yaml",
                                  "tests/cluster/slurm.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    # The Snakefile loads config/config.yaml first and --configfile updates it key by key (nested
    # mappings merged), so a file that only overrides some keys is valid once merged.
    def merged(base: dict, top: dict) -> dict:
        out = dict(base)
        for key, value in top.items():
            both = isinstance(value, dict) and isinstance(base.get(key), dict)
            out[key] = merged(base[key], value) if both else value
        return out

    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    _validator().validate(merged(base, yaml.safe_load((ROOT / name).read_text())))


def _walk(schema: dict, where: str = "") -> list[str]:
    problems = []
    for key, sub in schema.get("properties", {}).items():
        here = f"{where}.{key}" if where else key
        if "description" not in sub:
            problems.append(f"{here}: no description")
        if "default" not in sub and key not in schema.get("required", []):
            problems.append(f"{here}: no default")
        if sub.get("type") == "object" or "object" in sub.get("type", []):
            if sub.get("properties") and sub.get("additionalProperties", True) is not False:
                problems.append(f"{here}: accepts unknown keys")
            problems.extend(_walk(sub, here))
    return problems


def test_every_key_is_described_defaulted_and_closed() -> None:
    assert SCHEMA["additionalProperties"] is False
    assert _walk(SCHEMA) == []


def test_real_release_config_names_the_zenodo_files_exactly() -> None:
    config = yaml.safe_load((ROOT / "config" / "acousticbrainz.yaml").read_text())
    train = config["features"]["archives"]["train"]
    assert train[0] == "acousticbrainz-mediaeval-features--train-01.tar.bz2"
    # md5s from the mirdata loader (dataset-spec §1.2)
    assert config["download"]["md5"][train[0]] == "db7157b5112022d609652dd21c632090"
    assert config["download"]["md5"][
        "acousticbrainz-mediaeval-features-validation-89abcdef.tar.bz2"
    ] == "34f47394ac6d8face4399f48e2b98ebe"
    assert "2553414" in config["download"]["url_template"]
    assert all("2554044" in url for name, url in config["download"]["urls"].items()
               if "allmusic" in name)


def _dry_run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SNAKEMAKE), "-n", "--quiet", "--snakefile", str(ROOT / "Snakefile"),
         "--directory", str(tmp_path), "--configfile", str(ROOT / "config" / "config.yaml"),
         *extra],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )


@pytest.mark.skipif(shutil.which(str(SNAKEMAKE)) is None, reason="snakemake not installed")
def test_unknown_key_stops_before_any_job(tmp_path: Path) -> None:
    result = _dry_run(tmp_path, "--config", "single={'hiden': 128}")
    assert result.returncode != 0
    assert "hiden" in result.stderr + result.stdout
    assert "Job stats" not in result.stdout


@pytest.mark.skipif(shutil.which(str(SNAKEMAKE)) is None, reason="snakemake not installed")
def test_wrong_type_stops_before_any_job(tmp_path: Path) -> None:
    result = _dry_run(tmp_path, "--config", "fusion={'dropout': 'high'}")
    assert result.returncode != 0
    output = result.stderr + result.stdout
    assert "dropout" in output and "high" in output
    assert "Job stats" not in result.stdout


@pytest.mark.skipif(shutil.which(str(SNAKEMAKE)) is None, reason="snakemake not installed")
def test_seeds_become_parallel_jobs(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "--snakefile", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(ROOT / "tests" / "config" / "tiny.yaml"),
         "--config", "seeds=[7,8]"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    stats = result.stdout.split("Job stats:", 1)[1]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", stats, re.M))
    # every trained system once per seed: 4 sources x 2 seeds
    assert jobs["train_single"] == "8" and jobs["train_fusion"] == "8"
    assert jobs["embed"] == "4" and jobs["embed_seed"] == "4"
    assert "results/tiny/models/single-seed8/allmusic/model.ckpt" in result.stdout
    # random baseline per seed, popularity once: (2 + 1) x 4 sources
    assert jobs["baseline"] == "12"


@pytest.mark.skipif(shutil.which(str(SNAKEMAKE)) is None, reason="snakemake not installed")
@pytest.mark.parametrize("scope", ["global", "per_source"])
def test_split_scope_plans_the_shared_draw_only_when_global(tmp_path: Path, scope: str) -> None:
    result = subprocess.run(
        [str(SNAKEMAKE), "-n", "-p", "--snakefile", str(ROOT / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(ROOT / "tests" / "config" / "tiny.yaml"),
         "--config", f"split={{'scope': '{scope}'}}"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout.split("Job stats:", 1)[1], re.M))
    assert jobs["split"] == "4"
    if scope == "global":
        assert jobs["split_groups"] == "1"
        assert "--assignment results/tiny/splits/release_groups.tsv" in result.stdout
    else:
        assert "split_groups" not in jobs
        assert "--assignment" not in result.stdout
