"""The 2.1b6 pool → release-layout mapping, on synthetic pools (no Essentia needed).

The synthetic pools are built from the packaged feature names (derived once from a real release
document, independently of the mapping's hand-written layout) with the 2.1b6 differences put in
by hand: the Temperley key under ``key_temperley``, flats, single-number BPM peaks with the spread
stored as the weight (Essentia #1543), and the extras a 2.1b6 pool carries. Expected feature
values are read from the pool by name, not from the mapping's output.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from abgd import audio_mapping as M
from abgd.features import FEATURE_NAMES, N_FEATURES, flatten_document

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_FILES = sorted((SHARED / "data" / "lowlevel_json").glob("*.json"))
needs_real = pytest.mark.skipif(not REAL_FILES, reason="../shared/data/lowlevel_json absent")
STATS9 = ["mean", "var", "median", "min", "max", "dmean", "dmean2", "dvar", "dvar2"]
ONEHOT = re.compile(r"^tonal\.(key_key|key_scale|chords_key|chords_scale)_")
PEAKS = {"first_peak_bpm": 121.0, "first_peak_weight": 0.7, "first_peak_spread": 0.2,
         "second_peak_bpm": 60.0, "second_peak_weight": 0.1, "second_peak_spread": 0.05}


def synthetic_pool(seed: int = 0, beats: int = 5) -> dict:
    """A 2.1b6-style pool ({dotted name: value}) holding every release feature and extras."""
    rng = np.random.default_rng(seed)
    cells: dict[str, dict[tuple[int, ...], float]] = {}
    for name in FEATURE_NAMES:
        if ONEHOT.match(name) or ".bpm_histogram_" in name:
            continue
        parts = name.split(".")
        split = next((i for i, p in enumerate(parts) if p.isdigit()), len(parts))
        index = tuple(int(p) for p in parts[split:])
        cells.setdefault(".".join(parts[:split]), {})[index] = float(rng.normal())
    pool: dict = {}
    for key, values in cells.items():
        if list(values) == [()]:
            pool[key] = values[()]
            continue
        shape = tuple(max(i[d] for i in values) + 1 for d in range(len(next(iter(values)))))
        array = np.zeros(shape, dtype=np.float32)
        for index, value in values.items():
            array[index] = value
        pool[key] = array
    pool["rhythm.beats_count"] = float(beats)
    pool["rhythm.beats_position"] = np.arange(beats, dtype=np.float32) * 0.5
    pool["rhythm.beats_loudness_band_ratio.median"] = rng.random(6).astype(np.float32)
    pool.pop("tonal.key_strength")
    pool.update({
        "tonal.key_temperley.key": "Bb", "tonal.key_temperley.scale": "minor",
        "tonal.key_temperley.strength": 0.61, "tonal.key_edma.key": "C",
        "tonal.key_edma.scale": "major", "tonal.key_edma.strength": 0.5,
        "tonal.chords_key": "Eb", "tonal.chords_scale": "major",
        "tonal.hpcp_crest.mean": 3.0, "tonal.hpcp.stdev": np.ones(36, dtype=np.float32),
        "lowlevel.loudness_ebu128.integrated": -14.0, "lowlevel.melbands128.mean": np.ones(128),
        "rhythm.bpm_histogram": np.zeros(250), "rhythm.bpm_histogram_first_peak_bpm": 121.0,
        "rhythm.bpm_histogram_first_peak_weight": 0.2,  # the spread, stored as the weight
        "metadata.version.essentia": "2.1-beta6-dev", "metadata.version.extractor": "music 2.0",
        "metadata.audio_properties.length": 30.0, "metadata.audio_properties.lossless": 1.0,
        "metadata.audio_properties.analysis.sample_rate": 44100.0,
        "metadata.tags.file_name": "song.wav", "metadata.tags.artist": ["Someone"],
    })
    return pool


def column(name: str) -> int:
    return FEATURE_NAMES.index(name)


def test_mapped_pool_flattens_to_every_feature_with_pool_values():
    pool = synthetic_pool()
    vector, imputed = flatten_document(M.map_pool(pool, PEAKS))
    assert vector.shape == (N_FEATURES,) and not imputed and np.isfinite(vector).all()
    for name in FEATURE_NAMES:
        if ONEHOT.match(name) or ".bpm_histogram_" in name or name == "tonal.key_strength":
            continue
        parts = name.split(".")
        split = next((i for i, p in enumerate(parts) if p.isdigit()), len(parts))
        value = pool[".".join(parts[:split])]
        for p in parts[split:]:
            value = value[int(p)]
        assert vector[column(name)] == pytest.approx(float(value), rel=1e-6), name
    assert vector[column("tonal.key_strength")] == pytest.approx(0.61)


def test_temperley_key_is_renamed_and_written_with_sharps():
    document = M.map_pool(synthetic_pool(), PEAKS)
    assert (document["tonal"]["key_key"], document["tonal"]["key_scale"]) == ("A#", "minor")
    assert document["tonal"]["chords_key"] == "D#"
    vector, _ = flatten_document(document)
    assert vector[column("tonal.key_key_A#")] == 1.0
    assert vector[column("tonal.chords_key_D#")] == 1.0
    keys = [n for n in FEATURE_NAMES if n.startswith("tonal.key_key_")]
    assert sum(vector[column(n)] for n in keys) == 1.0


def test_bpm_peaks_come_from_the_caller_as_nine_statistic_blocks():
    rhythm = M.map_pool(synthetic_pool(), PEAKS)["rhythm"]
    weight = rhythm["bpm_histogram_first_peak_weight"]
    # the caller's weight, not the pool's number (which is really the spread)
    assert weight == {"mean": 0.7, "median": 0.7, "min": 0.7, "max": 0.7, "var": 0.0,
                      "dmean": 0.0, "dmean2": 0.0, "dvar": 0.0, "dvar2": 0.0}
    assert rhythm["bpm_histogram_first_peak_spread"]["median"] == 0.2
    assert rhythm["bpm_histogram_second_peak_bpm"]["max"] == 60.0


def test_extras_are_dropped_and_listed():
    document = M.map_pool(synthetic_pool(), PEAKS)
    assert "key_edma" not in document["tonal"] and "hpcp_crest" not in document["tonal"]
    assert "stdev" not in document["tonal"]["hpcp"]
    assert "loudness_ebu128" not in document["lowlevel"]
    assert "bpm_histogram" not in document["rhythm"]
    dropped = set(document["metadata"]["abgd"]["dropped"])
    assert {"tonal.key_edma.key", "tonal.hpcp.stdev", "lowlevel.melbands128.mean",
            "rhythm.bpm_histogram", "rhythm.bpm_histogram_first_peak_weight"} <= dropped
    assert not any(name.startswith("metadata.") for name in dropped)
    assert "tonal.key_temperley.key" not in dropped and "lowlevel.hfc.mean" not in dropped


def test_metadata_is_release_shaped():
    meta = M.map_pool(synthetic_pool(), PEAKS, source="song.wav")["metadata"]
    assert meta["audio_properties"]["lossless"] is True
    assert meta["audio_properties"]["analysis_sample_rate"] == 44100
    assert meta["tags"] == {"file_name": "song.wav", "artist": ["Someone"]}
    assert meta["version"]["extractor"] == "music 2.0"  # what really made it, not "music 1.0"
    assert meta["abgd"]["layout"] == "music 1.0"


def test_overrides_replace_pool_values_by_release_name():
    overrides = {"tonal.key_key": "Ab", "tonal.key_scale": "major", "tonal.key_strength": 0.9,
                 "tonal.hpcp.mean": np.full(36, 0.25, dtype=np.float32)}
    document = M.map_pool(synthetic_pool(), PEAKS, overrides, tonal="release")
    assert document["tonal"]["key_key"] == "G#" and document["tonal"]["key_strength"] == 0.9
    assert document["tonal"]["hpcp"]["mean"] == [0.25] * 36
    assert document["metadata"]["abgd"]["tonal"] == "release"


def test_a_track_without_beats_gets_zero_beat_loudness():
    pool = synthetic_pool(beats=0)
    for name in list(pool):
        if name.startswith("rhythm.beats_loudness"):
            del pool[name]
    document = M.map_pool(pool, dict.fromkeys(PEAKS, 0.0))
    assert document["rhythm"]["beats_position"] == []
    assert document["rhythm"]["beats_loudness"]["median"] == 0.0
    vector, _ = flatten_document(document)
    assert vector[column("rhythm.beats_loudness.mean")] == 0.0


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: p.pop("lowlevel.hfc.dvar2"), "song.wav: missing descriptor lowlevel.hfc.dvar2"),
    (lambda p: p.pop("tonal.key_temperley.key"), "missing descriptor tonal.key_key"),
    (lambda p: p.update({"tonal.hpcp.mean": np.zeros(12)}), "tonal.hpcp.mean has 12 values"),
    (lambda p: p.update({"tonal.key_temperley.key": "H"}), "unknown key name 'H'"),
    (lambda p: p.update({"tonal.chords_scale": "dorian"}), "expected major or minor"),
    (lambda p: p.update({"lowlevel.mfcc.cov": np.zeros((13, 12))}), "lowlevel.mfcc.cov.0 has 12"),
    (lambda p: p.update({"rhythm.bpm": "fast"}), "rhythm.bpm is str"),
])
def test_bad_pools_name_the_file_and_descriptor(change, message):
    pool = synthetic_pool()
    change(pool)
    with pytest.raises(M.MappingError, match=re.escape(message)) as info:
        M.map_pool(pool, PEAKS, source="song.wav")
    assert str(info.value).startswith("song.wav: ")


def test_missing_bpm_peaks_are_refused():
    with pytest.raises(M.MappingError, match="first_peak_spread"):
        M.map_pool(synthetic_pool(), {k: v for k, v in PEAKS.items() if "spread" not in k})


@given(st.sampled_from(["A", "A#", "Bb", "B", "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#",
                        "Gb", "G", "G#", "Ab"]))
def test_sharp_names_the_same_pitch_class(key):
    letters = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
    def pitch(name: str) -> int:
        return (letters[name[0]] + {"": 0, "#": 1, "b": -1}[name[1:]]) % 12
    assert M.sharp(key) in M.KEYS and pitch(M.sharp(key)) == pitch(key)


@given(st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_peak_block_is_a_single_value_aggregate(value):
    block = M.peak_block(value)
    assert list(block) == STATS9
    assert {block[s] for s in ("mean", "median", "min", "max")} == {float(value)}
    assert all(block[s] == 0.0 for s in ("var", "dmean", "dmean2", "dvar", "dvar2"))


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(node, list) and node and isinstance(node[0], list):
        for i, value in enumerate(node):
            yield from _leaves(value, f"{prefix}.{i}")
    else:
        yield prefix, len(node) if isinstance(node, list) else None


@needs_real
@pytest.mark.realdata
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name[:8])
def test_layout_matches_real_release_documents(path):
    """Same descriptors, statistics and vector lengths as a real release file (beats aside)."""
    real = json.loads(path.read_text())
    mapped = M.map_pool(synthetic_pool(), PEAKS)
    got = {k: v for k, v in _leaves(mapped) if not k.startswith("metadata.")}
    want = {k: v for k, v in _leaves(real) if not k.startswith("metadata.")}
    got.pop("rhythm.beats_position"), want.pop("rhythm.beats_position")
    assert got == want
