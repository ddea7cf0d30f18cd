"""Write a small local mirror of the AcousticBrainz Genre Dataset release (the demo dataset).

Our machines cannot reach Zenodo, yet the workflow must run end to end through the very code that
handles the real release. The mirror therefore copies the release's file names, archive layout,
TSV byte layout and JSON schema exactly (``dataset-spec.md`` §1–§3), while the content is drawn
from a small generative world built so that the study means something on it:

* a latent world of 12 genres with sub-styles; albums (release groups) draw one or two genres;
* four source taxonomies that map that world differently (merged, split, renamed labels), each
  with its own coverage and label noise, release-level sources labelling whole albums;
* one train/validation partition per release group shared by all sources;
* features = a latent genre vector plus an album offset plus track noise, projected onto every
  numeric descriptor, then shaped into realistic ranges.

``--taxonomy shaped`` swaps the small world for one with the real release's label shape per
source (genre vocabularies, 745/300/297/265 subgenres, labels per track; spec §1.5), so that a
scale rehearsal meets as many output units and as long a label tail as the real study.

The package's modules, one per part of the generator: ``documents`` (one low-level document),
``taxonomy`` and ``shaped`` (the two label worlds), ``world`` (everything drawn before writing),
``groundtruth``, ``archives`` (the mirror) and ``dump`` (a data dump for the tagger); the command
is ``cli`` (run by ``python -m abgd.demo``). The names other code uses are re-exported here.
"""

from __future__ import annotations

from abgd.demo.archives import build_mirror, md5sums_text, write_archive
from abgd.demo.cli import build_parser, main
from abgd.demo.documents import KEYS, N_SLOTS, SLOTS, DocInfo, dumps_document, make_document
from abgd.demo.dump import DUMP_ROOT, dump_members, write_dump
from abgd.demo.groundtruth import groundtruth_rows, tsv_bytes
from abgd.demo.shaped import shaped_model
from abgd.demo.taxonomy import LATENT, TAXONOMIES
from abgd.demo.world import (
    ALBUM_SD,
    LATENT_DIM,
    STYLE_WEIGHT,
    TAXONOMY_MODES,
    TRACK_SD,
    World,
    make_world,
    projection,
    signals_for,
)

__all__ = [
    "ALBUM_SD", "DUMP_ROOT", "KEYS", "LATENT", "LATENT_DIM", "N_SLOTS", "SLOTS", "STYLE_WEIGHT",
    "TAXONOMIES", "TAXONOMY_MODES", "TRACK_SD", "DocInfo", "World", "build_mirror", "build_parser",
    "dump_members", "dumps_document", "groundtruth_rows", "main", "make_document", "make_world",
    "md5sums_text", "projection", "shaped_model", "signals_for", "tsv_bytes", "write_archive",
    "write_dump",
]
