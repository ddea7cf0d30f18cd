"""``abgd tag`` on audio files: extraction, the same path as a JSON document, printed labels.

The end-to-end test needs Essentia (the ``audio`` extra) and the tiny study; the missing-extra
test runs everywhere.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from abgd import progress, synth_audio
from abgd import tag as T
from abgd.features import N_FEATURES, parse_document
from abgd.runs import read_run

SOURCES = ("allmusic", "discogs", "lastfm", "tagtraum")


def short_wav(folder: Path, name: str = "song") -> Path:
    """Eight seconds of a C-major progression: long enough for every descriptor."""
    folder.mkdir(parents=True, exist_ok=True)
    return synth_audio.write_wav(folder / f"{name}.wav",
                                 synth_audio.progression(synth_audio.C_MAJOR, repeats=1))


def test_audio_without_the_extra_is_one_line(tmp_path, monkeypatch, caplog):
    short_wav(tmp_path / "in")  # a folder holding audio
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "essentia" else real(name, *a))
    monkeypatch.setattr(progress, "setup_logging", lambda verbose: None)  # keep caplog's handler
    code = T.main(["--study", str(tmp_path / "no-study"), "--out", str(tmp_path / "out"),
                   str(tmp_path / "in")])
    assert code == 2
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "pip install -e '.[audio]'" in errors[0]
    assert "\n" not in errors[0] and not (tmp_path / "out").exists()


def test_audio_input_is_tagged_in_four_taxonomies(study, tmp_path, capsys):
    pytest.importorskip("essentia", reason="needs the audio extra (pip install -e '.[audio]')")
    wav = short_wav(tmp_path / "music")
    out, kept = tmp_path / "out", tmp_path / "kept"
    code = T.main(["--study", str(study / "results" / "tiny"), "--out", str(out),
                   "--keep-json", str(kept), str(wav)])
    assert code == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "song"
    for system in T.SYSTEMS:
        for source in SOURCES:
            ids, labels = read_run(out / "runs" / system / f"{source}.tsv")
            assert ids == ["song"] and labels[0]  # the stem is the id; never an empty line
            line = next(x for x in printed if x.split()[:2] == [system, source])
            assert line.split(None, 2)[2].split(" | ") == labels[0]  # printed = written
            table = pq.read_table(out / "scores" / system / f"{source}.parquet")
            assert table.column("mbid").to_pylist() == ["song"]
    # the kept document is an ordinary release-layout JSON: it flattens to the 2669 features
    x, _ = parse_document((kept / "song.json").read_bytes())
    assert x.shape == (N_FEATURES,) and np.isfinite(x).all()
    assert (out / "errors.tsv").read_text().count("\n") == 1  # the header only
