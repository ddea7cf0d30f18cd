"""Names of the release's files and of the workflow's inputs, as the rules spell them (library).

The workflow (``workflow/rules/common.smk``) names its jobs after the files they read: a feature
archive's part (``train-01``), a tag input by its file name, the study folder of a model. These
names and their checks live here, unit-tested; the Snakefile only calls them (the release's own
file names are in ``abgd.release``).
Standard library only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

_ARCHIVE = re.compile(
    r"^acousticbrainz-mediaeval-features-+(train|validation)-([0-9a-f]+)\.tar\.bz2$"
)
_TAG_SUFFIX = re.compile(r"(\.tar(\.(bz2|gz|zst))?|\.json)$")


def part_name(name: str) -> str:
    """`acousticbrainz-mediaeval-features--train-01.tar.bz2` -> `train-01`: the name of the
    feature part a conversion job writes (all the digits: unlike `release.archive_key`'s mirdata
    keys, it also names archives a config lists beyond the real release's ten)."""
    match = _ARCHIVE.match(name)
    if match is None:
        raise ValueError(f"{name}: not a feature archive name of the release")
    return f"{match.group(1)}-{match.group(2)}"


def archive_table(archives: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Part name -> archive file name, from ``features.archives`` (split -> names)."""
    table = {}
    for split, names in archives.items():
        for name in names:
            key = part_name(name)
            if not key.startswith(f"{split}-"):
                raise ValueError(
                    f"config features.archives.{split}: {name} is not a {split} archive"
                )
            table[key] = name
    return table


def tag_input_table(paths: Iterable[str]) -> dict[str, str]:
    """Input name (file name without its archive suffixes) -> path; names must be unique."""
    table: dict[str, str] = {}
    for path in paths:
        name = _TAG_SUFFIX.sub("", os.path.basename(path))
        if name in table:
            raise ValueError(f"config tag.inputs: two inputs named {name!r}")
        table[name] = path
    return table


def study_dir(model_file: str) -> str:
    """results/<dataset>, from a model file (results/<dataset>/models/<system>/<source>/x)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(model_file))))
