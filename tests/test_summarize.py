"""Summary ordering, variant keys, CSV columns and the paper tables."""

from __future__ import annotations

import csv
import json
from pathlib import Path

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
    assert "| fusion | allmusic | paper (test) | 0.1340 | 0.4809 | 0.1880 |" in md
    assert "hidden **test** sets" in md
