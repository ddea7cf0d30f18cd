"""Summary ordering, variant keys, CSV columns and the paper tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from abgd import published
from abgd import summarize as S
from abgd.io import write_json

ALLSCORES = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval_outputs" / \
    "2018-allscores.csv"


def _evaluation(system, source, split="validation", value=0.5, **extra):
    metrics = {c: value for c in S.CSV_COLUMNS[2:]}
    return {"system": system, "source": source, "split": split, "metrics": metrics, **extra}


def test_order_variants_and_split_filter():
    evals = [
        ("e1", _evaluation("zeta", "discogs")),
        ("e2", _evaluation("fusion", "lastfm")),
        ("e3", _evaluation("single", "tagtraum", decoding="global")),
        ("e4", _evaluation("single", "allmusic", decoding="per_label")),
        ("e5", _evaluation("random", "allmusic", seed=1)),
        ("e6", _evaluation("popularity", "allmusic")),
        ("e7", _evaluation("alpha", "allmusic")),
        ("e8", _evaluation("single", "allmusic", split="test", decoding="per_label")),
        ("e9", _evaluation("single", "allmusic", decoding="global")),
    ]
    table = S.collect(evals, "validation")
    assert list(table) == ["random/seed1", "popularity", "single/global", "single/per_label",
                           "fusion", "alpha", "zeta"]
    assert list(table["single/global"]) == ["allmusic", "tagtraum"]


def test_duplicates_are_an_error():
    with pytest.raises(ValueError, match="already given by e1"):
        S.collect([("e1", _evaluation("single", "allmusic")),
                   ("e2", _evaluation("single", "allmusic"))], "validation")


def test_csv_columns_follow_the_official_file(tmp_path):
    if not ALLSCORES.exists():
        pytest.skip("shared eval_outputs not available")
    with ALLSCORES.open(newline="") as handle:
        official = next(csv.reader(handle))
    assert list(S.CSV_COLUMNS) == ["system", "source", *official[4:], "roc_auc"]


def test_published_numbers_match_official_csv():
    if not ALLSCORES.exists():
        pytest.skip("shared eval_outputs not available")
    names = {("baseline", "run1"): "random", ("baseline", "run2"): "popularity",
             ("fusionbaseline", "task1"): "single", ("fusionbaseline", "task2"): "fusion"}
    checked = 0
    with ALLSCORES.open(newline="") as handle:
        for row in csv.DictReader(handle):
            system = names.get((row["team"], row["run"])) or names.get((row["team"], row["task"]))
            if row["team"] == "baseline" and row["task"] != "task1":
                continue
            if system is None:
                continue
            for column in published.PRF_COLUMNS:
                assert published.TEST_PRF[system][row["dataset"]][column] == \
                    pytest.approx(float(row[column]), abs=1e-9), (system, row["dataset"], column)
            checked += 1
    assert checked == 16


def test_cli_outputs(tmp_path):
    paths = []
    for i, (system, source, extra) in enumerate([("single", "allmusic", {}),
                                                 ("fusion", "allmusic", {}),
                                                 ("random", "discogs", {"seed": 0})]):
        path = tmp_path / f"e{i}.json"
        write_json(path, _evaluation(system, source, value=0.123456, **extra))
        paths.append(str(path))
    out_json, out_csv, out_md = (tmp_path / n for n in ("s.json", "s.csv", "t.md"))
    assert S.main(["--evaluations", *paths, "--split", "validation", "--out-json", str(out_json),
                   "--out-csv", str(out_csv), "--out-md", str(out_md)]) == 0
    summary = json.loads(out_json.read_text())
    assert summary["single"]["allmusic"]["Ftrackall"] == 0.123456
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["system"] for r in rows] == ["random/seed0", "single", "fusion"]
    assert rows[0]["roc_auc"] == "0.1235"
    md = out_md.read_text()
    assert "| single (paper) | 0.6476 | 0.7592 | 0.8276 | 0.8017 |" in md
    # The paper's Table 5 is on the validation sets: fusion AllMusic P/R/F 0.142/0.475/0.195
    # per recording, 0.065/0.155/0.074 per label; the other columns are not published.
    assert "| fusion | allmusic | paper, validation | 0.142 | 0.475 | 0.195 | – |" in md
    assert "| 0.065 | 0.155 | 0.074 | – | – | – | – | – | – |" in md
    # The 2018 hidden-test table only under its own heading and label.
    head, tail = md.split("## 2018 challenge, hidden test sets (reference only)")
    assert "hidden test" not in head.split("## Table 5 shape")[1]
    assert "| fusion | allmusic | 2018 challenge, hidden test | 0.1340 | 0.4809 | 0.1880 |" \
        in tail
    assert "paper (test)" not in md


def test_paper_table5_is_the_validation_table():
    # Cells from the paper's Table 5 (validation sets): single Tagtraum per-recording
    # P/R/F and fusion Discogs per-label P/R/F.
    single_tt = published.VALIDATION_PRF["single"]["tagtraum"]
    assert (single_tt["Ptrackall"], single_tt["Rtrackall"], single_tt["Ftrackall"]) == \
        (0.124, 0.507, 0.194)
    fusion_dc = published.VALIDATION_PRF["fusion"]["discogs"]
    assert (fusion_dc["Plabelall"], fusion_dc["Rlabelall"], fusion_dc["Flabelall"]) == \
        (0.108, 0.210, 0.122)
    # It is not the 2018 hidden-test table: 42 of its 48 cells differ at 3 decimals.
    cells = [(round(published.TEST_PRF[sy][so][c], 3), v)
             for sy, by in published.VALIDATION_PRF.items() for so, m in by.items()
             for c, v in m.items()]
    assert len(cells) == 48 and sum(a != b for a, b in cells) == 42
    assert {c for by in published.VALIDATION_PRF.values() for m in by.values() for c in m} == \
        {"Ptrackall", "Rtrackall", "Ftrackall", "Plabelall", "Rlabelall", "Flabelall"}


def test_variant_suffixes_are_distinct_rows_in_family_order():
    names = ["alpha", "fusion-consistent", "single-global-consistent", "single", "fusion",
             "single-consistent", "popularity", "single-global", "random", "fusion-global"]
    table = S.collect([(n, _evaluation(n, "lastfm")) for n in names], "validation")
    assert list(table) == ["random", "popularity", "single", "single-consistent",
                           "single-global", "single-global-consistent", "fusion",
                           "fusion-consistent", "fusion-global", "alpha"]


def test_decoding_and_hierarchy_name_the_variant():
    assert S.system_key({"system": "single", "decoding": "global",
                         "hierarchy": "consistent"}) == "single/global/consistent"
    assert S.system_key({"system": "single", "decoding": "per_label",
                         "hierarchy": "none"}) == "single/per_label"
    assert S.system_key({"system": "single-global-consistent", "decoding": "global",
                         "hierarchy": "consistent"}) == "single-global-consistent"
    assert S.system_key({"system": "fusion-consistent", "decoding": "per_label",
                         "hierarchy": "consistent", "seed": 4}) == "fusion-consistent/seed4"
    with pytest.raises(ValueError, match="e1: system 'single-global' implies decoding"):
        S.collect([("e1", _evaluation("single-global", "lastfm", decoding="per_label"))],
                  "validation")
    with pytest.raises(ValueError, match="implies a consistent hierarchy"):
        S.system_key({"system": "single-consistent", "hierarchy": "none"})


def _seeded(system, source, seed, rng):
    metrics = {c: float(rng.random()) for c in S.CSV_COLUMNS[2:]}
    metrics.update({"n_trackall": 500, "Ftrackall_sd": float(rng.random()),
                    "roc_auc_ci95": sorted(rng.random(2).tolist()), "Fmicro": None})
    return {"system": system, "source": source, "split": "validation", "seed": seed,
            "metrics": metrics}


def test_seed_aggregation_against_numpy():
    rng = np.random.default_rng(7)
    runs = [_seeded("single", "lastfm", seed, rng) for seed in (3, 1, 2)]
    runs.append(_seeded("single", "discogs", 1, rng))   # one seed only for this source
    runs.append(_seeded("random", "lastfm", 9, rng))    # a single-seed system keeps its name
    table = S.collect([(f"e{i}", r) for i, r in enumerate(runs)], "validation")
    assert list(table) == ["random/seed9", "single"]
    cell = table["single"]["lastfm"]
    for column in ("Ftrackall", "roc_auc", "Plabelsub"):
        values = np.array([r["metrics"][column] for r in runs[:3]])
        assert cell[column] == pytest.approx(np.mean(values), abs=1e-12)
        assert cell[f"{column}_seed_sd"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    ci = np.array([r["metrics"]["roc_auc_ci95"] for r in runs[:3]])
    assert cell["roc_auc_ci95"] == pytest.approx(ci.mean(axis=0).tolist(), abs=1e-12)
    assert cell["n_seeds"] == 3 and cell["seeds"] == [1, 2, 3]
    assert cell["n_trackall"] == 500 and "n_trackall_seed_sd" not in cell
    assert cell["Ftrackall_sd"] == pytest.approx(np.mean([r["metrics"]["Ftrackall_sd"]
                                                          for r in runs[:3]]))
    assert cell["Fmicro"] is None
    lone = table["single"]["discogs"]
    assert lone["n_seeds"] == 1 and lone["Ftrackall_seed_sd"] is None
    assert lone["Ftrackall"] == runs[3]["metrics"]["Ftrackall"]


def test_seeded_and_unseeded_runs_are_not_mixed():
    rng = np.random.default_rng(0)
    runs = [_seeded("single", "lastfm", 1, rng), _seeded("single", "lastfm", 2, rng),
            _evaluation("single", "lastfm")]
    with pytest.raises(ValueError, match="with and without a seed"):
        S.collect([(f"e{i}", r) for i, r in enumerate(runs)], "validation")


def test_markdown_intervals_seeds_and_dataset_warning(tmp_path):
    paths = []
    for i, seed in enumerate((1, 2)):
        doc = _evaluation("fusion", "allmusic", value=0.5 + 0.1 * seed, seed=seed)
        doc["metrics"]["roc_auc_ci95"] = [0.4 + 0.1 * seed, 0.7 + 0.1 * seed]
        paths.append(tmp_path / f"s{i}.json")
        write_json(paths[-1], doc)
    single = _evaluation("single", "discogs", value=0.25)
    single["metrics"].update({"roc_auc_ci95": [0.2, 0.3], "Ftrackall_ci95": [0.21, 0.29]})
    paths.append(tmp_path / "single.json")
    write_json(paths[-1], single)
    outs = [str(tmp_path / n) for n in ("s.json", "s.csv", "t.md")]
    argv = ["--evaluations", *map(str, paths), "--out-json", outs[0], "--out-csv", outs[1],
            "--out-md", outs[2]]
    assert S.main([*argv, "--dataset", "demo"]) == 0
    md = Path(outs[2]).read_text()
    lines = md.splitlines()
    assert "DEMO DATA" in lines[0]
    assert "say nothing about the real data" in lines[2]
    assert lines.index(next(x for x in lines if x.startswith("## All systems"))) < \
        lines.index("## Table 4 shape: macro ROC AUC")
    # two seeds: mean 0.65, sd = |0.6 - 0.7| / sqrt(2); intervals averaged endpoint-wise
    sd = f"{0.1 / np.sqrt(2):.4f}"
    assert f"| fusion | 0.6500 ± {sd} [0.5500, 0.8500] | 0.6500 ± {sd} |" in md
    assert "| single | – | – | 0.2500 [0.2000, 0.3000] | 0.2500 [0.2100, 0.2900] |" in md
    assert f"| fusion (ours) | 0.6500 ± {sd} [0.5500, 0.8500] |" in md
    assert f"| fusion | allmusic | ours | 0.6500 ± {sd} |" in md
    rows = csv.DictReader(Path(outs[1]).read_text().splitlines())
    row = next(r for r in rows if r["system"] == "fusion")
    assert row["n_seeds"] == "2" and row["roc_auc_ci95_lo"] == "0.5500"
    assert S.main([*argv, "--dataset", "acousticbrainz"]) == 0
    md = Path(outs[2]).read_text()
    assert "real data" not in md and "DEMO" not in md


def test_appended_variant_does_not_move_the_plain_row():
    evals = [("e1", _evaluation("single-global", "lastfm", decoding="global")),
             ("e2", _evaluation("single", "lastfm", decoding="per_label")),
             ("e3", _evaluation("single-consistent", "lastfm", hierarchy="consistent"))]
    assert list(S.collect(evals, "validation")) == ["single/per_label", "single-consistent",
                                                    "single-global"]
