"""Facts of the real AcousticBrainz Genre Dataset release on Zenodo, in one place.

The demo generator, the download step and the config all need the same file names, md5s and
archive layout; a typo in any one of them would make the demo mirror diverge silently from the
real release. Everything here is stated in ``dataset-spec.md`` §1.2/§1.3 (mirdata ``REMOTES``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

SOURCES: tuple[str, ...] = ("allmusic", "discogs", "lastfm", "tagtraum")
SPLITS: tuple[str, ...] = ("train", "validation")

FEATURES_RECORD = "2553414"
ALLMUSIC_RECORD = "2554044"
URL_PATTERN = "https://zenodo.org/records/{record}/files/{name}?download=1"

HEX = "0123456789abcdef"


class Archive(NamedTuple):
    """One feature archive: its Zenodo name, mirdata key and the MBID first hex digits it holds."""

    key: str
    name: str
    split: str
    digits: str
    md5: str


# The first train archive really is named with a double dash on Zenodo (spec §1.2).
ARCHIVES: tuple[Archive, ...] = (
    Archive("train-01", "acousticbrainz-mediaeval-features--train-01.tar.bz2", "train", "01",
            "db7157b5112022d609652dd21c632090"),
    Archive("train-23", "acousticbrainz-mediaeval-features-train-23.tar.bz2", "train", "23",
            "79581967a1be5c52e83be21261d1ef6c"),
    Archive("train-45", "acousticbrainz-mediaeval-features-train-45.tar.bz2", "train", "45",
            "0e48fa319fa48e5cf95eea8118d2e882"),
    Archive("train-67", "acousticbrainz-mediaeval-features-train-67.tar.bz2", "train", "67",
            "22ca7f1fea8a86459b7fda4530f00070"),
    Archive("train-89", "acousticbrainz-mediaeval-features-train-89.tar.bz2", "train", "89",
            "c6e4a2ef1b0e8ed535197b868f8c7302"),
    Archive("train-ab", "acousticbrainz-mediaeval-features-train-ab.tar.bz2", "train", "ab",
            "513d5f306dd4f3799c137423ee444051"),
    Archive("train-cd", "acousticbrainz-mediaeval-features-train-cd.tar.bz2", "train", "cd",
            "422d75d70d583decec0b2761865092a7"),
    Archive("train-ef", "acousticbrainz-mediaeval-features-train-ef.tar.bz2", "train", "ef",
            "021ab25a5fd1b020521824e7fce9c775"),
    Archive("validation-01", "acousticbrainz-mediaeval-features-validation-01234567.tar.bz2",
            "validation", "01234567", "f21f9c5e398713139cca9790b656faf9"),
    Archive("validation-89", "acousticbrainz-mediaeval-features-validation-89abcdef.tar.bz2",
            "validation", "89abcdef", "34f47394ac6d8face4399f48e2b98ebe"),
)

_BY_NAME = {a.name: a for a in ARCHIVES}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def groundtruth_name(source: str, split: str) -> str:
    _check(source, split)
    return f"acousticbrainz-mediaeval-{source}-{split}.tsv.bz2"


def groundtruth_names() -> list[str]:
    return [groundtruth_name(s, p) for s in SOURCES for p in SPLITS]


def archives(split: str | None = None) -> list[Archive]:
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return [a for a in ARCHIVES if split is None or a.split == split]


def archive_names(split: str | None = None) -> list[str]:
    return [a.name for a in archives(split)]


def release_names() -> list[str]:
    """Every file of the release (ground truth + features), sorted as ``MD5SUMS`` lists them."""
    return sorted(groundtruth_names() + archive_names())


def archive(name: str) -> Archive:
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not a feature archive of the release") from None


def archive_key(name: str) -> str:
    """mirdata's short key (``train-01`` … ``validation-89``) for an archive file name."""
    return archive(name).key


def record_for(name: str) -> str:
    """Zenodo record holding ``name``: AllMusic ground truth lives in a separate record."""
    if name.startswith("acousticbrainz-mediaeval-allmusic-"):
        return ALLMUSIC_RECORD
    return FEATURES_RECORD


def url_for(name: str) -> str:
    return URL_PATTERN.format(record=record_for(name), name=name)


def md5_for(name: str) -> str | None:
    """Published md5 of a release file; None for the TSVs, whose md5s were never published."""
    return _BY_NAME[name].md5 if name in _BY_NAME else None


def is_mbid(text: str) -> bool:
    return bool(_UUID.match(text))


def archive_for_mbid(split: str, mbid: str) -> str:
    """The archive of ``split`` holding ``mbid``'s feature file (chosen by its first hex digit)."""
    _check(None, split)
    if not is_mbid(mbid):
        raise ValueError(f"not a lowercase MBID: {mbid!r}")
    for a in archives(split):
        if mbid[0] in a.digits:
            return a.name
    raise AssertionError(f"no {split} archive covers digit {mbid[0]!r}")  # pragma: no cover


def member_dir(split: str) -> str:
    _check(None, split)
    return f"acousticbrainz-mediaeval-{split}"


def member_path(split: str, mbid: str) -> str:
    """Path of an MBID's JSON inside its archive (two-character subfolder, spec §1.2)."""
    if not is_mbid(mbid):
        raise ValueError(f"not a lowercase MBID: {mbid!r}")
    return f"{member_dir(split)}/{mbid[:2]}/{mbid}.json"


def _check(source: str | None, split: str) -> None:
    if source is not None and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {SOURCES}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
