"""The tools for users of a finished study, checked against the tiny study's own outputs.

* ``abgd score`` on the released ground-truth TSV must give what the workflow's ``evaluate``
  step gave on its Parquet copy (same ``.results_summary`` bytes, same metrics);
* ``abgd tag`` (the tag stage on the demo's dump) must give the scores ``predict`` gave for the
  validation documents it contains, and report the dump's bad members without stopping;
* ``abgd.dataset.load`` must return the study's recordings, labels and features.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from abgd import check, dataset, score
from abgd.labels import read_groundtruth_parquet

pytestmark = pytest.mark.slow
SOURCES = ("allmusic", "discogs", "lastfm", "tagtraum")
DUMP = "acousticbrainz-lowlevel-json-demo"


@pytest.fixture(scope="module")
def out(study: Path) -> Path:
    return study / "results" / "tiny"


def gt_tsv(study: Path, source: str, split: str = "validation") -> Path:
    return study / "resources" / "tiny" / f"acousticbrainz-mediaeval-{source}-{split}.tsv.bz2"


@pytest.mark.parametrize("system", ["single", "fusion-global-consistent", "popularity"])
def test_score_equals_evaluate(study, out, tmp_path, system):
    for source in SOURCES:
        run = out / "runs" / system / f"{source}-validation.tsv"
        argv = ["--groundtruth", str(gt_tsv(study, source)), "--run", str(run),
                "--out", str(tmp_path / source)]
        trained = system.split("-")[0]
        if trained in ("single", "fusion"):  # the study evaluates these with scores + bootstrap
            argv += ["--scores", str(out / "scores" / trained / f"{source}-validation.parquet"),
                     "--bootstrap", "50", "--bootstrap-seed", "7"]
        assert score.main(argv) == 0
        reference = out / "evaluation" / system / f"{source}-validation"
        assert (tmp_path / f"{source}.results_summary").read_bytes() == \
            reference.with_suffix(".results_summary").read_bytes()
        ours = json.loads((tmp_path / f"{source}.json").read_text())["metrics"]
        assert ours == json.loads(reference.with_suffix(".json").read_text())["metrics"]
        tracks = pd.read_csv(tmp_path / f"{source}.recordings.tsv", sep="\t")
        labels = pd.read_csv(tmp_path / f"{source}.labels.tsv", sep="\t", keep_default_na=False,
                             na_values=[""])
        assert len(tracks) == ours["n_trackall"] and len(labels) == ours["n_labelall"]
        # eval.R's means are those of the 4-decimal rounded per-item values
        assert round(float(np.round(tracks["Fall"], 4).mean()), 4) == \
            round(ours["Ftrackall"], 4)
        assert round(float(np.round(labels["F"], 4).mean()), 4) == round(ours["Flabelall"], 4)


def test_check_accepts_study_runs_and_names_the_bad_line(study, out, tmp_path):
    source = "discogs"
    run = out / "runs" / "single" / f"{source}-validation.tsv"
    assert check.main(["--run", str(run), "--groundtruth", str(gt_tsv(study, source)),
                       "--train", str(gt_tsv(study, source, "train"))]) == 0
    lines = run.read_text().splitlines()
    bad = tmp_path / "bad.tsv"
    bad.write_text("\n".join([*lines[:3], lines[3] + "\tNo Such Genre", *lines[4:]]) + "\n")
    with pytest.raises(ValueError, match=r"line 4: unknown labels"):
        check.check_file(bad, gt_tsv(study, source), gt_tsv(study, source, "train"))
    bad.write_text("\n".join([*lines, lines[0]]) + "\n")
    with pytest.raises(ValueError, match=rf"line {len(lines) + 1}: duplicate RecordingID"):
        check.check_file(bad, gt_tsv(study, source), gt_tsv(study, source, "train"))


def test_tag_stage_reports_bad_members_and_tags_the_rest(out):
    folder = out / "tag" / DUMP
    errors = pd.read_csv(folder / "errors.tsv", sep="\t")
    # the demo dump's three bad documents (see abgd.demo.dump_members), wherever they sit
    assert len(errors) == 3
    reasons = " ".join(errors["reason"])
    assert "truncated member" in reasons and "invalid JSON" in reasons
    assert "missing descriptor" in reasons
    summary = json.loads((folder / "summary.json").read_text())["counts"]
    assert summary["errored"] == 3 and summary["skipped"] == 1  # the README
    assert summary["converted"] == summary["read"] - 3
    validation = set()
    for source in SOURCES:
        validation |= set(read_groundtruth_parquet(
            out / "groundtruth" / f"{source}-validation.parquet")["mbid"])
    table = pq.read_table(folder / "scores" / "single" / "allmusic.parquet").to_pandas()
    assert len(table) == summary["converted"]
    assert validation <= set(table["mbid"])  # every validation document, once or twice
    assert (table.groupby("mbid")["submission"].apply(sorted).apply(
        lambda s: s == list(range(len(s))))).all()


@pytest.mark.parametrize("system", ["single", "fusion"])
def test_tag_scores_equal_predict_on_validation_documents(out, system):
    """Float32 tolerance, not bitwise: the tagger scores its own batches of documents, and
    ``fusion`` reads embeddings computed on the fly instead of the study's embedding files,
    so matrix products run with other row blockings (see README, "Tag any recording")."""
    for source in SOURCES:
        tagged = pq.read_table(out / "tag" / DUMP / "scores" / system / f"{source}.parquet"
                               ).to_pandas()
        tagged = tagged[tagged["submission"] == 0].set_index("mbid")
        study = pq.read_table(out / "scores" / system / f"{source}-validation.parquet"
                              ).to_pandas().set_index("mbid")
        labels = list(study.columns)
        assert list(tagged.columns) == ["submission", *labels]
        ours = tagged.loc[study.index, labels].to_numpy()
        np.testing.assert_allclose(ours, study.to_numpy(), rtol=1e-5, atol=1e-6)


def test_tag_run_files_decode_like_the_study(out):
    """Same scores and thresholds: the run lines of the validation documents match decode's
    for every recording whose scores are not within rounding of a threshold."""
    for source in SOURCES:
        ours = dict(line.split("\t", 1) for line in (
            out / "tag" / DUMP / "runs" / "single" / f"{source}.tsv").read_text().splitlines())
        theirs = dict(line.split("\t", 1) for line in (
            out / "runs" / "single" / f"{source}-validation.tsv").read_text().splitlines())
        same = sum(ours[m] == labels for m, labels in theirs.items())
        assert same >= 0.98 * len(theirs)


def test_dataset_load_matches_the_study(out):
    for split in ("train", "validation"):
        data = dataset.load(out, "lastfm", split)
        truth = read_groundtruth_parquet(out / "groundtruth" / f"lastfm-{split}.parquet")
        assert data.mbids == sorted(truth["mbid"])
        assert data.features.shape == (len(truth), 2669)
        labels = dict(zip(truth["mbid"], truth["labels"], strict=True))
        for i in (0, len(data.mbids) - 1):
            row = {data.label_names[j] for j in np.flatnonzero(data.labels[i])}
            assert row == set(labels[data.mbids[i]]) - set(data.outside_labels)
        parts = pd.concat([pq.read_table(f).to_pandas() for f in
                           sorted((out / "features" / split).glob("*.parquet"))])
        rows = parts.set_index("mbid").loc[data.mbids].to_numpy(np.float32)
        np.testing.assert_array_equal(data.features, rows)
    train = dataset.load(out, "lastfm", "train")
    split = pd.read_csv(out / "splits" / "lastfm.tsv", sep="\t").set_index("mbid")["part"]
    assert sorted(train.mbids[i] for i in train.holdout) == sorted(
        split.index[split == "holdout"])
