"""Names of the release's files and of the workflow's inputs (abgd.layout)."""

from __future__ import annotations

import pytest

from abgd.layout import archive_table, part_name, study_dir, tag_input_table


@pytest.mark.parametrize(("name", "key"), [
    ("acousticbrainz-mediaeval-features--train-01.tar.bz2", "train-01"),  # the real double dash
    ("acousticbrainz-mediaeval-features-train-ef.tar.bz2", "train-ef"),
    ("acousticbrainz-mediaeval-features-validation-89abcdef.tar.bz2", "validation-89abcdef"),
])
def test_an_archive_is_named_by_its_split_and_digits(name, key):
    assert part_name(name) == key


@pytest.mark.parametrize("name", ["features-train-01.tar.bz2",
                                  "acousticbrainz-mediaeval-features-train-01.tar.gz",
                                  "acousticbrainz-mediaeval-features-test-01.tar.bz2"])
def test_other_names_are_refused_by_name(name):
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        part_name(name)


def test_the_archive_table_checks_each_archive_is_of_its_split():
    train = "acousticbrainz-mediaeval-features-train-01.tar.bz2"
    validation = "acousticbrainz-mediaeval-features-validation-0123.tar.bz2"
    assert archive_table({"train": [train], "validation": [validation]}) == {
        "train-01": train, "validation-0123": validation}
    with pytest.raises(ValueError, match=r"features\.archives\.train: .*validation-0123"):
        archive_table({"train": [validation]})


def test_tag_inputs_are_named_by_their_file_without_archive_suffixes():
    assert tag_input_table(["a/dump-1.tar.zst", "b/one.json", "c/x.tar", "d/y.tar.gz"]) == {
        "dump-1": "a/dump-1.tar.zst", "one": "b/one.json", "x": "c/x.tar", "y": "d/y.tar.gz"}
    with pytest.raises(ValueError, match="two inputs named 'part'"):
        tag_input_table(["a/part.tar.zst", "b/part.json"])


def test_the_study_folder_of_a_model_file():
    assert study_dir("results/demo/models/single/lastfm/metrics.json") == "results/demo"
