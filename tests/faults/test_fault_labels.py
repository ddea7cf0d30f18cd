"""Faults in the ground truth and in the join of labels with features.

A ground-truth file with a duplicate MBID or an empty row stops the ``groundtruth`` step with a
message naming the file, the line and the MBID; labels the training vocabulary lacks are counted
in the summary; a labelled recording without features stops training and prediction with the
count and the MBIDs (``abgd.inputs.require_found``), while feature rows without labels are
simply not requested.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from abgd import groundtruth, predict, train_single
from abgd.inputs import require_found
from abgd.io import read_json
from abgd.lit_module import GenreClassifier
from abgd.training import save_checkpoint
from conftest import mbid, tiny_study, train_args, tsv


def run_groundtruth(tmp_path: Path, train_text: str, validation_text: str) -> dict[str, Path]:
    paths = {"train": tmp_path / "train.tsv", "validation": tmp_path / "validation.tsv"}
    paths["train"].write_text(train_text, encoding="utf-8")
    paths["validation"].write_text(validation_text, encoding="utf-8")
    out = tmp_path / "out"
    outputs = {"out_train": out / "gt-train.parquet", "out_validation": out / "gt-val.parquet",
               "summary": out / "gt.json"}
    code = groundtruth.main([
        "--source", "discogs", "--train", str(paths["train"]),
        "--validation", str(paths["validation"]),
        "--out-train", str(outputs["out_train"]),
        "--out-validation", str(outputs["out_validation"]),
        "--summary", str(outputs["summary"]),
    ])
    assert code == 0
    return outputs


GOOD = tsv([(mbid(1), mbid(101), "rock"), (mbid(2), mbid(102), "jazz", "jazz---bebop")])


def test_tsv_with_a_duplicate_mbid_names_both_lines(tmp_path):
    bad = tsv([(mbid(1), mbid(101), "rock"), (mbid(2), mbid(102), "pop"),
               (mbid(1), mbid(103), "jazz")])
    with pytest.raises(ValueError) as error:
        run_groundtruth(tmp_path, bad, GOOD)
    message = str(error.value)
    assert str(tmp_path / "train.tsv") in message
    assert f"1 duplicate recording MBID(s): {mbid(1)} (lines 2 and 4)" in message
    assert not (tmp_path / "out").exists()


def test_tsv_row_without_labels_names_the_line(tmp_path):
    bad = tsv([(mbid(1), mbid(101), "rock"), (mbid(2), mbid(102)), (mbid(3), mbid(103), "pop")])
    with pytest.raises(ValueError) as error:
        run_groundtruth(tmp_path, GOOD, bad)
    message = str(error.value)
    assert str(tmp_path / "validation.tsv") in message
    assert f"1 row(s) without any label: line 3 {mbid(2)}" in message
    assert not (tmp_path / "out").exists()


def test_validation_label_outside_the_training_vocabulary_is_reported(tmp_path):
    validation = tsv([(mbid(3), mbid(103), "rock"), (mbid(4), mbid(104), "folk, world, & country"),
                      (mbid(5), mbid(105), "jazz", "jazz---cool"),
                      (mbid(6), mbid(106), "folk, world, & country")])
    outputs = run_groundtruth(tmp_path, GOOD, validation)
    summary = read_json(outputs["summary"])
    assert summary["vocabulary"] == ["jazz", "jazz---bebop", "rock"]
    assert summary["validation_labels_outside_vocabulary"] == {
        "folk, world, & country": 2, "jazz---cool": 1}
    # Nothing is dropped from the validation table: the labels stay for evaluation.
    table = pq.read_table(outputs["out_validation"]).to_pylist()
    assert [row["mbid"] for row in table] == [mbid(3), mbid(4), mbid(5), mbid(6)]
    assert table[1]["labels"] == ["folk, world, & country"]


def test_require_found_names_the_count_and_the_mbids():
    names = [mbid(i) for i in range(8)]
    found = np.array([True, False, True, True, False, True, True, True])
    with pytest.raises(ValueError) as error:
        require_found(found, names, "features")
    assert str(error.value).startswith("2 of 8 recordings have no features")
    assert f"['{mbid(1)}', '{mbid(4)}']" in str(error.value)
    require_found(np.ones(8, dtype=bool), names, "features")  # all present: silent


def test_labels_without_features_stop_training(tmp_path):
    study = tiny_study(tmp_path, n=20, without_features=[3, 11])
    out = tmp_path / "model"
    with pytest.raises(ValueError) as error:
        train_single.main(train_args(study, out, "--max-epochs", "1"))
    message = str(error.value)
    assert message.startswith("2 of 20 recordings have no features")
    ids = study["mbids"]
    assert ids[3] in message and ids[11] in message
    assert not out.exists()


def test_labels_without_features_stop_prediction(tmp_path):
    study = tiny_study(tmp_path, n=12, without_features=[5])
    model_dir = tmp_path / "model"
    module = GenreClassifier(n_inputs=2669, labels=["jazz", "rock"], hidden=4)
    save_checkpoint(module, model_dir / "model.ckpt")
    out = tmp_path / "scores.parquet"
    with pytest.raises(ValueError) as error:
        predict.main(["--model-dir", str(model_dir), "--kind", "single",
                      "--features", str(study["features"]),
                      "--groundtruth", str(study["groundtruth"]), "--out", str(out)])
    assert str(error.value).startswith("1 of 12 recordings have no features")
    assert study["mbids"][5] in str(error.value)
    assert not out.exists()


def test_features_without_labels_are_not_scored(tmp_path):
    study = tiny_study(tmp_path, n=12, extra_features=3)
    model_dir = tmp_path / "model"
    save_checkpoint(GenreClassifier(n_inputs=2669, labels=["jazz", "rock"], hidden=4),
                    model_dir / "model.ckpt")
    out = tmp_path / "scores.parquet"
    assert predict.main(["--model-dir", str(model_dir), "--kind", "single",
                         "--features", str(study["features"]),
                         "--groundtruth", str(study["groundtruth"]), "--out", str(out)]) == 0
    scored = pq.read_table(out, columns=["mbid"]).column("mbid").to_pylist()
    # Exactly the labelled recordings: none missing, none of the unlabelled rows invented.
    assert scored == sorted(study["mbids"])
    assert not set(scored) & set(study["unlabelled"])
