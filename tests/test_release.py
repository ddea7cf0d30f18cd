"""Release facts checked against dataset-spec.md §1.2/§1.3 and mirdata's fixture archives."""

from __future__ import annotations

import tarfile
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abgd import release

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_archive_names_and_md5s_as_published():
    names = release.archive_names()
    assert len(names) == 10
    assert names[0] == "acousticbrainz-mediaeval-features--train-01.tar.bz2"  # double dash
    assert "acousticbrainz-mediaeval-features-train-ef.tar.bz2" in names
    assert release.archive_names("validation") == [
        "acousticbrainz-mediaeval-features-validation-01234567.tar.bz2",
        "acousticbrainz-mediaeval-features-validation-89abcdef.tar.bz2",
    ]
    assert release.md5_for(names[0]) == "db7157b5112022d609652dd21c632090"
    assert release.md5_for(release.archive_names("validation")[1]) == \
        "34f47394ac6d8face4399f48e2b98ebe"
    assert release.md5_for("acousticbrainz-mediaeval-lastfm-train.tsv.bz2") is None
    assert len({a.md5 for a in release.ARCHIVES}) == 10


def test_digits_partition_hex_per_split():
    for split in release.SPLITS:
        digits = "".join(a.digits for a in release.archives(split))
        assert sorted(digits) == sorted("0123456789abcdef")


def test_archive_keys():
    assert release.archive_key("acousticbrainz-mediaeval-features--train-01.tar.bz2") == "train-01"
    assert release.archive_key(
        "acousticbrainz-mediaeval-features-validation-89abcdef.tar.bz2") == "validation-89"
    with pytest.raises(ValueError, match="not a feature archive"):
        release.archive_key("acousticbrainz-mediaeval-features-train-01.tar.bz2")  # single dash


def test_groundtruth_names_and_urls():
    assert release.groundtruth_name("discogs", "validation") == \
        "acousticbrainz-mediaeval-discogs-validation.tsv.bz2"
    assert len(release.groundtruth_names()) == 8
    assert release.url_for("acousticbrainz-mediaeval-allmusic-train.tsv.bz2") == (
        "https://zenodo.org/records/2554044/files/"
        "acousticbrainz-mediaeval-allmusic-train.tsv.bz2?download=1")
    assert release.url_for("acousticbrainz-mediaeval-features--train-01.tar.bz2") == (
        "https://zenodo.org/records/2553414/files/"
        "acousticbrainz-mediaeval-features--train-01.tar.bz2?download=1")
    assert len(release.release_names()) == 18
    with pytest.raises(ValueError):
        release.groundtruth_name("spotify", "train")


def test_archive_for_mbid_examples():
    # spec §1.2: 54551aad… lives under train 45; validation 01a1a77a… in validation-01234567.
    assert release.archive_for_mbid("train", "54551aad-fb76-4e22-8725-fd495c32b155") == \
        "acousticbrainz-mediaeval-features-train-45.tar.bz2"
    assert release.archive_for_mbid("validation", "01a1a77a-f81e-49a5-9fea-7060394409ec") == \
        "acousticbrainz-mediaeval-features-validation-01234567.tar.bz2"
    assert release.archive_for_mbid("train", "f0000000-0000-4000-8000-000000000000") == \
        "acousticbrainz-mediaeval-features-train-ef.tar.bz2"
    with pytest.raises(ValueError):
        release.archive_for_mbid("train", "F0000000-0000-4000-8000-000000000000")


@given(st.uuids())
def test_every_mbid_has_one_archive_per_split(u: uuid.UUID):
    mbid = str(u)
    for split in release.SPLITS:
        name = release.archive_for_mbid(split, mbid)
        holders = [a for a in release.archives(split) if mbid[0] in a.digits]
        assert [a.name for a in holders] == [name]
        assert release.member_path(split, mbid) == \
            f"acousticbrainz-mediaeval-{split}/{mbid[:2]}/{mbid}.json"


def test_member_path_matches_mirdata_fixture():
    folder = SHARED / "archives"
    if not folder.is_dir():
        pytest.skip("shared sample archives absent")
    found = {}
    for path, split in (("acousticbrainz-mediaeval-features-train-01.tar.bz2", "train"),
                        ("acousticbrainz-mediaeval-features-validation-01.tar.bz2", "validation")):
        with tarfile.open(folder / path) as tar:
            for name in tar.getnames():
                stem = name.rsplit("/", 1)[-1]
                if name.endswith(".json") and not stem.startswith("._"):
                    found[name] = (split, stem[:-5])
    assert found, "no JSON members in the fixtures"
    for name, (split, mbid) in found.items():
        assert release.member_path(split, mbid) == name
