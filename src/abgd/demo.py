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
"""

from __future__ import annotations

import argparse
import bz2
import io
import logging
import math
import tarfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from abgd import release
from abgd.io import atomic_path, md5_file
from abgd.labels import parent
from abgd.progress import add_verbose, progress, setup_logging

log = logging.getLogger("abgd.demo")

STATS = ("mean", "var", "median", "min", "max", "dmean", "dmean2", "dvar", "dvar2")
MTIME = 1493683200  # 2017-05-02, the date on the real archive members
KEYS = ("A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#")
LATENT_DIM = 24

# ----------------------------------------------------------------------------------------------
# Descriptor layout (spec §3.3). kind: scalar (lo, hi) | pos (level, rel_sd) | signed (loc, scale,
# sd) | coef (mfcc/gfcc) | const (bpm histogram peaks) | vec | special; n = vector length.
# ----------------------------------------------------------------------------------------------
LAYOUT: dict[str, list[tuple[str, str, int, tuple[float, ...]]]] = {
    "lowlevel": [
        ("average_loudness", "scalar", 1, (0.05, 0.95)),
        ("barkbands", "pos", 27, (2e-3, 1.8)),
        ("barkbands_crest", "pos", 1, (11.0, 0.4)),
        ("barkbands_flatness_db", "pos", 1, (0.2, 0.5)),
        ("barkbands_kurtosis", "signed", 1, (15.0, 8.0, 40.0)),
        ("barkbands_skewness", "signed", 1, (1.5, 1.5, 3.0)),
        ("barkbands_spread", "pos", 1, (15.0, 0.9)),
        ("dissonance", "pos", 1, (0.42, 0.15)),
        ("dynamic_complexity", "scalar", 1, (1.0, 15.0)),
        ("erbbands", "pos", 40, (15.0, 2.2)),
        ("erbbands_crest", "pos", 1, (11.0, 0.5)),
        ("erbbands_flatness_db", "pos", 1, (0.2, 0.5)),
        ("erbbands_kurtosis", "signed", 1, (3.0, 2.0, 8.0)),
        ("erbbands_skewness", "signed", 1, (0.2, 0.6, 1.2)),
        ("erbbands_spread", "pos", 1, (30.0, 0.8)),
        ("gfcc", "coef", 13, ()),
        ("hfc", "pos", 1, (15.0, 1.2)),
        ("melbands", "pos", 40, (4e-4, 2.0)),
        ("melbands_crest", "pos", 1, (16.0, 0.4)),
        ("melbands_flatness_db", "pos", 1, (0.28, 0.5)),
        ("melbands_kurtosis", "signed", 1, (20.0, 12.0, 50.0)),
        ("melbands_skewness", "signed", 1, (2.5, 1.2, 2.5)),
        ("melbands_spread", "pos", 1, (30.0, 1.0)),
        ("mfcc", "coef", 13, ()),
        ("pitch_salience", "pos", 1, (0.5, 0.3)),
        ("silence_rate_20dB", "special", 1, ()),
        ("silence_rate_30dB", "special", 1, ()),
        ("silence_rate_60dB", "special", 1, ()),
        ("spectral_centroid", "pos", 1, (1500.0, 0.7)),
        ("spectral_complexity", "pos", 1, (11.0, 0.6)),
        ("spectral_contrast_coeffs", "signed", 6, (-0.72, 0.05, 0.12)),
        ("spectral_contrast_valleys", "signed", 6, (-10.0, 2.0, 3.0)),
        ("spectral_decrease", "signed", 1, (-6e-9, 2e-9, 5e-9)),
        ("spectral_energy", "pos", 1, (0.025, 1.0)),
        ("spectral_energyband_high", "pos", 1, (5e-4, 1.5)),
        ("spectral_energyband_low", "pos", 1, (0.015, 1.2)),
        ("spectral_energyband_middle_high", "pos", 1, (0.003, 1.2)),
        ("spectral_energyband_middle_low", "pos", 1, (0.01, 1.3)),
        ("spectral_entropy", "pos", 1, (7.0, 0.12)),
        ("spectral_flux", "pos", 1, (0.06, 0.8)),
        ("spectral_kurtosis", "signed", 1, (15.0, 10.0, 30.0)),
        ("spectral_rms", "pos", 1, (0.004, 0.6)),
        ("spectral_rolloff", "pos", 1, (2500.0, 1.0)),
        ("spectral_skewness", "signed", 1, (2.5, 1.2, 1.5)),
        ("spectral_spread", "pos", 1, (4.5e6, 0.6)),
        ("spectral_strongpeak", "pos", 1, (0.8, 1.5)),
        ("zerocrossingrate", "pos", 1, (0.08, 0.8)),
    ],
    "rhythm": [
        ("beats_count", "special", 1, ()),
        ("beats_loudness", "pos", 1, (0.03, 0.8)),
        ("beats_loudness_band_ratio", "pos", 6, (0.18, 0.8)),
        ("beats_position", "special", 0, ()),
        ("bpm", "scalar", 1, (60.0, 180.0)),
        ("bpm_histogram_first_peak_bpm", "const", 1, ()),
        ("bpm_histogram_first_peak_spread", "const", 1, (0.1, 0.6)),
        ("bpm_histogram_first_peak_weight", "const", 1, (0.1, 0.9)),
        ("bpm_histogram_second_peak_bpm", "const", 1, ()),
        ("bpm_histogram_second_peak_spread", "const", 1, (0.0, 0.7)),
        ("bpm_histogram_second_peak_weight", "const", 1, (0.0, 0.15)),
        ("danceability", "scalar", 1, (0.5, 1.8)),
        ("onset_rate", "scalar", 1, (0.5, 6.5)),
    ],
    "tonal": [
        ("chords_changes_rate", "scalar", 1, (0.02, 0.15)),
        ("chords_histogram", "special", 24, ()),
        ("chords_key", "special", 0, ()),
        ("chords_number_rate", "scalar", 1, (0.0005, 0.05)),
        ("chords_scale", "special", 0, ()),
        ("chords_strength", "signed", 1, (0.48, 0.05, 0.12)),
        ("hpcp", "pos", 36, (0.1, 1.2)),
        ("hpcp_entropy", "pos", 1, (1.6, 0.45)),
        ("key_key", "special", 0, ()),
        ("key_scale", "special", 0, ()),
        ("key_strength", "scalar", 1, (0.4, 0.9)),
        ("thpcp", "special", 36, ()),
        ("tuning_diatonic_strength", "scalar", 1, (0.35, 0.7)),
        ("tuning_equal_tempered_deviation", "scalar", 1, (0.02, 0.45)),
        ("tuning_frequency", "scalar", 1, (432.0, 446.0)),
        ("tuning_nontempered_energy_ratio", "scalar", 1, (0.6, 0.99)),
    ],
}

_STAT_KINDS = ("pos", "signed", "const")
_STAT_SPECIAL = ("silence_rate_20dB", "silence_rate_30dB", "silence_rate_60dB")


def _slot_count(name: str, kind: str, n: int) -> int:
    if kind == "coef":
        return 13 + 2 * 169
    if kind in _STAT_KINDS or name in _STAT_SPECIAL:
        return 9 * n
    return n


def _slots() -> dict[tuple[str, str], slice]:
    """Where each descriptor's numbers sit in the flat signal vector (one slot per number)."""
    out: dict[tuple[str, str], slice] = {}
    pos = 0
    for group, rows in LAYOUT.items():
        for name, kind, n, _ in rows:
            width = _slot_count(name, kind, n)
            out[(group, name)] = slice(pos, pos + width)
            pos += width
    return out


SLOTS = _slots()
N_SLOTS = max(s.stop for s in SLOTS.values())  # 2647, the numeric values of spec §3.3

_MFCC_MEAN = np.array([-650, 120, 10, 20, 5, 10, 3, 6, 2, 4, 1, 3, 1], dtype=np.float64)
_MFCC_SD = np.array([60, 25, 18, 14, 12, 10, 9, 8, 7, 6, 6, 5, 5], dtype=np.float64)
_GFCC_MEAN = np.array([-50, 100, -70, 30, -40, 15, -20, 5, -12, 2, -9, -2, -7], dtype=np.float64)
_GFCC_SD = np.array([15, 14, 12, 10, 9, 8, 7, 6, 5, 5, 4, 4, 4], dtype=np.float64)

_VERSIONS = (
    {"essentia": "2.1-beta2", "essentia_build_sha": "70f2e5ece6736b2c40cc944ad0e695b16b925413",
     "essentia_git_sha": "v2.1_beta2", "extractor": "music 1.0"},
    {"essentia": "2.1-beta2", "essentia_build_sha": "2d9f1f26377add8aeb1075a9c2973f962c4f09fd",
     "essentia_git_sha": "v2.1_beta2-1-ge3940c0", "extractor": "music 1.0"},
    {"essentia": "2.1-beta2", "essentia_build_sha": "cead25079874084f62182a551b7393616cd33d87",
     "essentia_git_sha": "v2.1_beta2-1-ge3940c0", "extractor": "music 1.0"},
)
_CODECS = (("mp3", False, (128000, 192000, 256000, 320000)), ("flac", True, (0,)),
           ("aac", False, (128000, 256000)))
_WORDS = ("blue", "night", "river", "light", "echo", "paper", "stone", "summer", "glass", "dream",
          "fire", "north", "garden", "silver", "city", "ocean", "morning", "shadow", "gold")


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


# ----------------------------------------------------------------------------------------------
# Documents
# ----------------------------------------------------------------------------------------------
def _stat_block(kind: str, params: tuple[float, ...], x: np.ndarray, n: int) -> dict[str, Any]:
    """Nine statistics of a descriptor for a batch, consistent with each other (min ≤ mean ≤ max).

    ``x`` has shape (docs, 9 * n): one standard-normal signal per stored number, stat-major.
    """
    xs = {s: x[:, i * n:(i + 1) * n] for i, s in enumerate(STATS)}
    if kind == "pos":
        level, rel = params
        profile = np.exp(-0.08 * np.arange(n)) if n > 6 else np.ones(n)
        mean = level * profile * np.exp(0.35 * xs["mean"])
        sd = mean * rel * np.exp(0.25 * xs["var"])
        median = mean * np.exp(-0.15 * rel * (1.0 + _sig(xs["median"])))
        low = mean * np.power(10.0, -1.0 - 3.0 * _sig(xs["min"]))
    else:
        loc, scale, sd0 = params
        mean = loc + scale * xs["mean"] * np.ones(n)
        sd = sd0 * np.exp(0.25 * xs["var"])
        median = mean + 0.2 * sd * np.tanh(xs["median"])
        low = np.minimum(mean, median) - sd * (1.0 + _sig(xs["min"]))
    high = np.maximum(mean, median) + sd * (2.0 + 2.0 * _sig(xs["max"]))
    dmean = sd * (0.4 + 0.3 * _sig(xs["dmean"]))
    dvar = sd * sd * (0.3 + 0.3 * _sig(xs["dvar"]))
    return {
        "mean": mean, "var": sd * sd, "median": median, "min": low, "max": high,
        "dmean": dmean, "dmean2": dmean * (1.4 + 0.3 * _sig(xs["dmean2"])),
        "dvar": dvar, "dvar2": dvar * (1.8 + 0.4 * _sig(xs["dvar2"])),
    }


def _coef_block(mean0: np.ndarray, sd0: np.ndarray, x: np.ndarray) -> dict[str, np.ndarray]:
    """mean/cov/icov of cepstral coefficients; cov = B Bᵀ keeps it symmetric positive definite."""
    docs = x.shape[0]
    mean = mean0 + sd0 * x[:, :13]
    raw = x[:, 13:182].reshape(docs, 13, 13)
    lower = np.tril(raw, -1) * 0.3 + np.eye(13) * np.exp(0.2 * raw)
    chol = lower * sd0[None, :, None]
    cov = chol @ np.transpose(chol, (0, 2, 1))
    return {"cov": cov, "icov": np.linalg.inv(cov), "mean": mean}


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _num(v: float) -> float | int:
    """A float32-rounded number, or an int where the extractor writes a whole number."""
    f = float(np.float32(v))
    return int(f) if f.is_integer() and abs(f) < 1e9 else f


@dataclass(frozen=True)
class DocInfo:
    """Per-recording facts the document needs besides its signal."""

    mbid: str
    release_group: str
    beats: int = 2  # 0: no beat, 1: one beat, 2: normal (extractor layout exceptions, §3.4)
    genre_tag: str | None = None
    track: int = 1


def make_documents(rng: np.random.Generator, signals: np.ndarray,
                   infos: Sequence[DocInfo]) -> list[dict[str, Any]]:
    """Complete low-level documents for a batch (vectorised over documents for speed)."""
    signals = np.asarray(signals, dtype=np.float64)
    if signals.ndim != 2 or signals.shape[1] != N_SLOTS or len(infos) != signals.shape[0]:
        raise ValueError(f"signals must be (len(infos), {N_SLOTS}); got {signals.shape}")
    docs_n = signals.shape[0]
    blocks: dict[tuple[str, str], Any] = {}
    for group, rows in LAYOUT.items():
        for name, kind, n, params in rows:
            x = signals[:, SLOTS[(group, name)]]
            if kind == "scalar":
                lo, hi = params
                blocks[(group, name)] = lo + (hi - lo) * _sig(x[:, 0])
            elif kind in ("pos", "signed"):
                blocks[(group, name)] = {k: _f32(v) for k, v in
                                         _stat_block(kind, params, x, n).items()}
            elif kind == "coef":
                m0, s0 = (_MFCC_MEAN, _MFCC_SD) if name == "mfcc" else (_GFCC_MEAN, _GFCC_SD)
                blocks[(group, name)] = {k: _f32(v) for k, v in _coef_block(m0, s0, x).items()}
            elif kind == "const" and params:
                lo, hi = params
                blocks[(group, name)] = lo + (hi - lo) * _sig(x[:, 0])
    hpcp_max = blocks[("tonal", "hpcp")]["max"]
    np.minimum(hpcp_max, 1.0, out=hpcp_max)
    return [_assemble(rng, signals[i], blocks, i, infos[i]) for i in range(docs_n)]


def _stats_dict(block: dict[str, np.ndarray], i: int, scalar: bool) -> dict[str, Any]:
    if scalar:
        return {s: _num(block[s][i, 0]) for s in STATS}
    return {s: block[s][i] for s in STATS}


def _assemble(rng: np.random.Generator, x: np.ndarray, blocks: dict[tuple[str, str], Any],
              i: int, info: DocInfo) -> dict[str, Any]:
    doc: dict[str, Any] = {"lowlevel": {}, "rhythm": {}, "tonal": {}}
    for group, rows in LAYOUT.items():
        target = doc[group]
        for name, kind, n, _ in rows:
            block = blocks.get((group, name))
            if kind == "scalar":
                target[name] = _num(block[i])
            elif kind in ("pos", "signed"):
                target[name] = _stats_dict(block, i, n == 1)
            elif kind == "coef":
                target[name] = {"cov": block["cov"][i], "icov": block["icov"][i],
                                "mean": block["mean"][i]}
    _lowlevel_specials(rng, x, doc["lowlevel"])
    length = _rhythm_specials(rng, x, doc["rhythm"], blocks, i, info.beats)
    _tonal_specials(rng, x, doc["tonal"])
    doc["metadata"] = _metadata(rng, info, length)
    return doc


def _constant_stats(value: float | int) -> dict[str, Any]:
    """Stats of a value that is constant over frames (the extractor writes zero spread as 0)."""
    v = _num(value)
    return {"mean": v, "var": 0, "median": v, "min": v, "max": v,
            "dmean": 0, "dmean2": 0, "dvar": 0, "dvar2": 0}


def _lowlevel_specials(rng: np.random.Generator, x: np.ndarray, low: dict[str, Any]) -> None:
    # Music is rarely below -20 dB for a whole frame: the 20 dB rate is nearly always exactly 1.
    if rng.random() < 0.9:
        low["silence_rate_20dB"] = _constant_stats(1)
    else:
        rate = 1.0 - 0.01 * rng.random()
        low["silence_rate_20dB"] = {"mean": _num(rate), "var": _num(rate * (1 - rate)),
                                    "median": 1, "min": 0, "max": 1,
                                    "dmean": _num(2 * (1 - rate)), "dmean2": _num(4 * (1 - rate)),
                                    "dvar": _num(2 * (1 - rate)), "dvar2": _num(6 * (1 - rate))}
    for name, base in (("silence_rate_30dB", 0.97), ("silence_rate_60dB", 0.15)):
        sl = SLOTS[("lowlevel", name)]
        rate = float(np.clip(base + (0.02 if base > 0.5 else 0.12) * x[sl.start], 0.001, 0.999))
        flip = rate * (1 - rate)
        low[name] = {"mean": _num(rate), "var": _num(flip), "median": 1 if rate > 0.5 else 0,
                     "min": 0, "max": 1, "dmean": _num(flip * 0.6), "dmean2": _num(flip * 1.2),
                     "dvar": _num(flip * 0.5), "dvar2": _num(flip * 1.1)}
    comp = low["spectral_complexity"]
    comp["median"] = round(comp["median"])
    comp["min"] = 0
    comp["max"] = max(round(comp["max"]), comp["median"] + 1)


def _rhythm_specials(rng: np.random.Generator, x: np.ndarray, rhy: dict[str, Any],
                     blocks: dict[tuple[str, str], Any], i: int, beats: int) -> float:
    bpm = float(rhy["bpm"])
    rhy["bpm_histogram_first_peak_bpm"] = _constant_stats(round(bpm))
    second = 0 if x[SLOTS[("rhythm", "bpm_histogram_second_peak_bpm")].start] < -1.0 \
        else round(bpm * (0.5 if rng.random() < 0.5 else 1.5))
    rhy["bpm_histogram_second_peak_bpm"] = _constant_stats(second)
    for name in ("first_peak_spread", "first_peak_weight", "second_peak_spread",
                 "second_peak_weight"):
        key = f"bpm_histogram_{name}"
        value = 0 if second == 0 and name.startswith("second") else blocks[("rhythm", key)][i]
        rhy[key] = _constant_stats(value)
    if beats >= 2:
        length = float(np.clip(rng.lognormal(math.log(230.0), 0.35), 30.0, 900.0))
        period = 60.0 / bpm
        count = max(2, int(length / period * 0.97))
        steps = period * (1.0 + 0.01 * rng.standard_normal(count))
        start = 0.2 + 0.6 * rng.random()
        rhy["beats_position"] = _f32(start + np.concatenate(([0.0], np.cumsum(steps[1:]))))
        rhy["beats_count"] = count
        return length
    length = float(1.0 + 4.0 * rng.random())
    rhy["beats_count"] = beats
    rhy["beats_position"] = _f32(np.array([0.5 + rng.random()] if beats == 1 else []))
    ratio = rhy["beats_loudness_band_ratio"]
    if beats == 0:
        # Extractor fallback (spec §3.4a): 8 stats without median, all zero.
        rhy["beats_loudness"] = {s: 0 for s in STATS if s != "median"}
        rhy["beats_loudness_band_ratio"] = {s: [0] * 6 for s in STATS if s != "median"}
    else:
        frame = ratio["mean"]
        zero = np.zeros(6, dtype=np.float32)
        rhy["beats_loudness_band_ratio"] = {s: (zero if s in ("var", "dvar", "dvar2") else frame)
                                            for s in STATS if s != "median"}
        level = rhy["beats_loudness"]["mean"]
        rhy["beats_loudness"] = {s: (0 if s in ("var", "dmean", "dmean2", "dvar", "dvar2")
                                     else level) for s in STATS}
    return length


def _tonal_specials(rng: np.random.Generator, x: np.ndarray, ton: dict[str, Any]) -> None:
    hist_x = x[SLOTS[("tonal", "chords_histogram")]]
    weights = np.exp(1.5 * hist_x)
    weights[weights < np.quantile(weights, 0.4)] = 0.0
    hist = 100.0 * weights / weights.sum()
    ton["chords_histogram"] = [_num(v) for v in hist]
    th = _sig(x[SLOTS[("tonal", "thpcp")]][1:] - 0.5)
    ton["thpcp"] = [1, *(_num(v) for v in th)]
    minor = x[SLOTS[("tonal", "key_strength")].start] + 0.8 * rng.standard_normal() < 0
    key = KEYS[int(rng.integers(12))]
    ton["key_key"] = key
    ton["key_scale"] = "minor" if minor else "major"
    ton["chords_key"] = key if rng.random() < 0.7 else KEYS[int(rng.integers(12))]
    ton["chords_scale"] = ton["key_scale"] if rng.random() < 0.8 else \
        ("major" if minor else "minor")
    if rng.random() < 0.5:
        ton["chords_strength"]["min"] = -1
    ton["hpcp_entropy"]["min"] = 0


def _uuid(rng: np.random.Generator) -> str:
    raw = bytearray(rng.bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _words(rng: np.random.Generator, k: int) -> str:
    return " ".join(_WORDS[int(j)] for j in rng.integers(len(_WORDS), size=k)).title()


def _metadata(rng: np.random.Generator, info: DocInfo, length: float) -> dict[str, Any]:
    codec, lossless, rates = _CODECS[int(rng.choice(3, p=(0.75, 0.2, 0.05)))]
    # About 1 % of files carry a redirected (stale) MBID in their tags, as in the real data.
    tag_mbid = info.mbid if rng.random() >= 0.01 else _uuid(rng)
    title = _words(rng, 2)
    tags: dict[str, Any] = {
        "album": [_words(rng, 2)],
        "artist": [_words(rng, 1)],
        "date": [str(1960 + int(rng.integers(55)))],
        "file_name": f"{info.track:02d} {title}.{'flac' if lossless else codec}",
        "musicbrainz_recordingid": [tag_mbid],
        "musicbrainz_releasegroupid": [info.release_group],
        "title": [title],
        "tracknumber": [str(info.track)],
    }
    if info.genre_tag is not None:
        tags["genre"] = [info.genre_tag]
    return {
        "audio_properties": {
            "analysis_sample_rate": 44100,
            "bit_rate": int(rates[int(rng.integers(len(rates)))]),
            "codec": codec,
            "downmix": "mix",
            "equal_loudness": 0,
            "length": _num(length),
            "lossless": lossless,
            "md5_encoded": rng.bytes(16).hex(),
            "replay_gain": _num(-14.0 + 5.0 * rng.standard_normal()),
            "sample_rate": 44100,
        },
        "tags": tags,
        "version": dict(_VERSIONS[int(rng.integers(len(_VERSIONS)))]),
    }


def make_document(rng: np.random.Generator, signal: np.ndarray | None = None,
                  info: DocInfo | None = None) -> dict[str, Any]:
    """One complete low-level document; random signal and identifiers unless given.

    Other modules' tests use this to build realistic documents without the shared sample files.
    """
    if signal is None:
        signal = rng.standard_normal(N_SLOTS)
    if info is None:
        info = DocInfo(mbid=_uuid(rng), release_group=_uuid(rng))
    return make_documents(rng, np.asarray(signal)[None, :], [info])[0]


def dumps_document(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


# ----------------------------------------------------------------------------------------------
# The latent world and the four taxonomies
# ----------------------------------------------------------------------------------------------
# Latent genres: (display name used in file tags, popularity weight, number of sub-styles).
LATENT: tuple[tuple[str, float, int], ...] = (
    ("Rock", 0.18, 4), ("Electronic", 0.14, 4), ("Pop", 0.11, 2), ("Jazz", 0.09, 2),
    ("Classical", 0.085, 2), ("Hip-Hop", 0.08, 2), ("Country", 0.075, 2), ("Soul", 0.07, 2),
    ("Soundtrack", 0.07, 2), ("Reggae", 0.065, 1), ("Blues", 0.065, 1), ("Holiday", 0.05, 0),
)

# Per source: latent genre -> (genre label, labels per sub-style or None where the source lacks
# it). A sub-style label may be a subgenre of another genre or a genre of its own; parents of
# subgenres are always added. Real label names from the sources' vocabularies (spec §1.5).
_S = tuple[str, tuple[str | tuple[str, ...] | None, ...]]
TAXONOMIES: dict[str, tuple[_S, ...]] = {
    "allmusic": (
        ("pop/rock", ("pop/rock---alternative/indie rock", "pop/rock---hard rock",
                      "pop/rock---punk/new wave", "pop/rock---heavy metal")),
        ("electronic", ("electronic---ambient techno", "electronic---techno", "electronic---house",
                        "electronic---downtempo")),
        ("pop/rock", ("pop/rock---dance-pop", "pop/rock---adult contemporary")),
        ("jazz", ("jazz---big band/swing", "vocal---vocal jazz")),
        ("classical", ("classical---chamber music", "classical---orchestral")),
        ("rap", ("rap---gangsta rap", "rap---alternative rap")),
        ("country", ("country---traditional country", "folk")),
        ("r&b", ("r&b---soul", "r&b---funk")),
        ("stage & screen", ("stage & screen---film music", "stage & screen---soundtracks")),
        ("reggae", ("reggae---roots reggae",)),
        ("blues", ("blues---electric blues",)),
        ("children's", ()),
    ),
    "discogs": (
        ("rock", ("rock---alternative rock", "rock---hard rock", "rock---punk",
                  "rock---heavy metal")),
        ("electronic", ("electronic---ambient", "electronic---techno", "electronic---house",
                        "electronic---downtempo")),
        ("pop", ("pop---europop", "pop---ballad")),
        ("jazz", ("jazz---swing", None)),
        ("classical", ("classical---baroque", "classical---romantic")),
        ("hip hop", ("hip hop---gangsta", "hip hop---conscious")),
        ("folk, world, & country", ("folk, world, & country---country",
                                    "folk, world, & country---folk")),
        ("funk / soul", ("funk / soul---soul", "funk / soul---funk")),
        ("stage & screen", ("stage & screen---score", "stage & screen---soundtrack")),
        ("reggae", ("reggae---roots reggae",)),
        ("blues", (None,)),
        ("children's", ()),
    ),
    "lastfm": (
        ("rock", ("rock---alternative", "rock---hardrock", "rock---punk", "metal---heavymetal")),
        ("electronic", (("electronic---ambient", "chillout"), "electronic---techno",
                        "dance---club", ("electronic---downtempo", "chillout"))),
        ("pop", ("pop---dancepop", "pop---ballad")),
        ("jazz", ("jazz---swing", "jazz---vocaljazz")),
        ("classical", (None, None)),
        ("hiphop", ("hiphop---rap", "hiphop---undergroundhiphop")),
        ("country", ("country---classiccountry", "folk")),
        ("soul", ("soul---rnb", "soul---funk")),
        ("soundtrack", ("soundtrack---score", None)),
        ("reggae", ("reggae---rootsreggae",)),
        ("blues", (None,)),
        ("christmas/holiday", ()),
    ),
    "tagtraum": (
        ("rock/pop", ("rock/pop---alternative", "rock/pop---hardrock", "rock/pop---punk",
                      "rock/pop---metal")),
        ("electronic", ("electronic---ambient", "techno", "dance---house",
                        "electronic---downtempo")),
        ("rock/pop", ("rock/pop---dancepop", "rock/pop---pop")),
        ("jazz", ("jazz---swing", "jazz---vocaljazz")),
        ("classical", (None, None)),
        ("hiphop", ("hiphop---raphiphop", None)),
        ("country", ("country---contemporarycountry", "folk")),
        ("rnb", ("rnb---soul", "funk")),
        ("soundtrack", ("soundtrack---score", "soundtrack---filmsoundtrack")),
        ("reggae", ("reggae---rootsreggae",)),
        ("blues", ("blues---electricblues",)),
        ("christmas/holiday", ()),
    ),
}

# Release-level sources label albums (every track gets the album's labels); tag sources label
# tracks. Noise: p_drop (lose a genre), p_confuse (add a wrong genre), p_sub (keep a sub-style).
RELEASE_LEVEL = {"allmusic": True, "discogs": True, "lastfm": False, "tagtraum": False}
NOISE = {
    "allmusic": (0.06, 0.05, 0.9),
    "discogs": (0.08, 0.06, 0.9),
    "lastfm": (0.12, 0.08, 0.85),
    "tagtraum": (0.12, 0.1, 0.85),
}
VALIDATION_FRACTION = 0.18


@dataclass
class World:
    """Everything drawn before writing: recordings, albums, partitions, labels, latent vectors."""

    mbids: list[str]
    rg_of: np.ndarray                 # recording -> release group index
    rg_mbids: list[str]
    rg_genres: list[list[int]]        # latent genres per release group
    rg_styles: list[list[tuple[int, int]]]
    split_of_rg: np.ndarray           # 0 train, 1 validation
    labels: dict[str, dict[int, list[str]]]  # source -> recording index -> sorted labels
    latent: np.ndarray                # (recordings, LATENT_DIM), standardised
    beats: np.ndarray                 # 0, 1 or 2 per recording
    track: np.ndarray
    # Latent genre names for the files' genre tags (index = latent genre).
    genre_names: tuple[str, ...] = tuple(name for name, _, _ in LATENT)


def _album_sizes(rng: np.random.Generator, n: int) -> list[int]:
    sizes: list[int] = []
    total = 0
    while total < n:
        size = int(min(15, 2 + rng.geometric(0.28) - 1))
        size = min(size, n - total)
        sizes.append(size)
        total += size
    if len(sizes) > 1 and sizes[-1] == 1:
        sizes.pop()
        sizes[-1] += 1
    return sizes


def _source_labels(source: str, genres: list[int], styles: list[tuple[int, int]],
                   rng: np.random.Generator) -> list[str]:
    """One noisy view of the latent truth through a source's taxonomy."""
    p_drop, p_confuse, p_sub = NOISE[source]
    tax = TAXONOMIES[source]
    kept = [g for g in genres if rng.random() >= p_drop] or [genres[0]]
    if rng.random() < p_confuse:
        weights = np.array([w for _, w, _ in LATENT])
        kept.append(int(rng.choice(len(LATENT), p=weights / weights.sum())))
    labels = {tax[g][0] for g in kept}
    for g, s in styles:
        if g not in kept or rng.random() >= p_sub:
            continue
        mapped = tax[g][1][s]
        for label in (mapped,) if isinstance(mapped, str) else (mapped or ()):
            labels.add(label)
    for label in list(labels):
        if (genre := parent(label)) is not None:
            labels.add(genre)
    return sorted(labels)


def _demo_truth(rng: np.random.Generator,
                n_rg: int) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Latent genres and sub-styles of each album in the small demo world."""
    weights = np.array([w for _, w, _ in LATENT])
    weights = weights / weights.sum()
    rg_genres: list[list[int]] = []
    rg_styles: list[list[tuple[int, int]]] = []
    for _ in range(n_rg):
        genres = [int(rng.choice(len(LATENT), p=weights))]
        if rng.random() < 0.2:
            rest = weights.copy()
            rest[genres[0]] = 0
            genres.append(int(rng.choice(len(LATENT), p=rest / rest.sum())))
        # Each sub-style independently; fewer sub-styles -> each more likely (keeps counts up).
        styles = [(g, s) for g in genres for s in range(LATENT[g][2])
                  if rng.random() < 1.6 / (LATENT[g][2] + 1)]
        rg_genres.append(genres)
        rg_styles.append(styles)
    return rg_genres, rg_styles


def _demo_labels(seed: int, rg_of: np.ndarray, rg_genres: list[list[int]],
                 rg_styles: list[list[tuple[int, int]]],
                 cover: dict[str, np.ndarray]) -> dict[str, dict[int, list[str]]]:
    labels: dict[str, dict[int, list[str]]] = {}
    n_rg = len(rg_genres)
    for source in release.SOURCES:
        src_rng = np.random.default_rng([seed, 2, release.SOURCES.index(source)])
        per_rg = ([_source_labels(source, rg_genres[r], rg_styles[r], src_rng)
                   for r in range(n_rg)] if RELEASE_LEVEL[source] else None)
        out: dict[int, list[str]] = {}
        for i in np.flatnonzero(cover[source]):
            r = int(rg_of[i])
            out[int(i)] = per_rg[r] if per_rg is not None else \
                _source_labels(source, rg_genres[r], rg_styles[r], src_rng)
        labels[source] = out
    return labels


def _split_and_cover(rng: np.random.Generator, sizes: list[int], rg_of: np.ndarray,
                     n_recordings: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One partition per release group (~18 % of recordings in validation) and source coverage."""
    n_rg = len(sizes)
    order = rng.permutation(n_rg)
    split_of_rg = np.zeros(n_rg, dtype=np.int8)
    cum = np.cumsum(np.asarray(sizes)[order])
    split_of_rg[order[: int(np.searchsorted(cum, VALIDATION_FRACTION * n_recordings)) + 1]] = 1

    # Coverage: release-level sources per album (correlated), tag sources per track (correlated).
    am = rng.random(n_rg) < 0.72
    dc = np.where(am, rng.random(n_rg) < 0.8, rng.random(n_rg) < 0.3)
    lf = rng.random(n_recordings) < 0.58
    tt = np.where(lf, rng.random(n_recordings) < 0.72, rng.random(n_recordings) < 0.3)
    covered = am[rg_of] | dc[rg_of] | lf | tt
    lf = lf | ~covered
    return split_of_rg, {"allmusic": am[rg_of], "discogs": dc[rg_of], "lastfm": lf, "tagtraum": tt}


# ----------------------------------------------------------------------------------------------
# The shaped world: the real release's label shape per source (spec §1.5), for scale rehearsals
# ----------------------------------------------------------------------------------------------
TAXONOMY_MODES = ("demo", "shaped")

# Latent genres in popularity order -> (tag name, allmusic, discogs, lastfm, tagtraum genre).
# Each source column uses exactly that source's real genre vocabulary (spec §1.5); latent genres
# a source does not tell apart share one of its genres, which lowers its genres per track.
SHAPED_GENRES: tuple[tuple[str, str, str, str, str], ...] = (
    ("Rock", "pop/rock", "rock", "rock", "rock/pop"),
    ("Electronic", "electronic", "electronic", "electronic", "electronic"),
    ("Pop", "pop/rock", "pop", "pop", "rock/pop"),
    ("Metal", "pop/rock", "rock", "metal", "rock/pop"),
    ("Jazz", "jazz", "jazz", "jazz", "jazz"),
    ("Classical", "classical", "classical", "classical", "classical"),
    ("Hip-Hop", "rap", "hip hop", "hiphop", "hiphop"),
    ("Soul", "r&b", "funk / soul", "soul", "rnb"),
    ("Country", "country", "folk, world, & country", "country", "country"),
    ("Soundtrack", "stage & screen", "stage & screen", "soundtrack", "soundtrack"),
    ("Dance", "electronic", "electronic", "dance", "dance"),
    ("Folk", "folk", "folk, world, & country", "folk", "folk"),
    ("World", "international", "folk, world, & country", "world", "world"),
    ("Blues", "blues", "blues", "blues", "blues"),
    ("Reggae", "reggae", "reggae", "reggae", "reggae"),
    ("Latin", "latin", "latin", "latin", "latin"),
    ("Funk", "r&b", "funk / soul", "soul", "funk"),
    ("Techno", "electronic", "electronic", "electronic", "techno"),
    ("Trance", "electronic", "electronic", "dance", "trance"),
    ("Industrial", "pop/rock", "electronic", "electronic", "industrial"),
    ("Oldies", "vocal", "pop", "oldie", "easylistening"),
    ("Easy Listening", "easy listening", "pop", "instrumental", "easylistening"),
    ("New Age", "new age", "electronic", "newage", "newage"),
    ("Chillout", "electronic", "electronic", "chillout", "electronic"),
    ("Experimental", "avant-garde", "electronic", "experimental", "electronic"),
    ("Post-Rock", "pop/rock", "rock", "postrock", "rock/pop"),
    ("Post-Hardcore", "pop/rock", "rock", "posthardcore", "rock/pop"),
    ("Gothic", "pop/rock", "rock", "gothic", "rock/pop"),
    ("J-Pop", "international", "pop", "jpop/jrock", "anime"),
    ("Brazilian", "latin", "latin", "brazilian", "latin"),
    ("Neofolk", "folk", "folk, world, & country", "neofolk", "folk"),
    ("Drum & Bass", "electronic", "electronic", "electronic", "drumnbass"),
    ("Dubstep", "electronic", "electronic", "electronic", "dubstep"),
    ("Gospel", "religious", "funk / soul", "gospel", "gospel"),
    ("Christian", "religious", "rock", "christian", "rock/pop"),
    ("Holiday", "holiday", "pop", "christmas/holiday", "christmas/holiday"),
    ("Celtic", "international", "folk, world, & country", "folk", "celtic"),
    ("Reggaeton", "latin", "latin", "latin", "reggaeton"),
    ("Children's", "children's", "children's", "pop", "childrens"),
    ("Comedy", "comedy/spoken", "non-music", "experimental", "comedy"),
    ("Spoken Word", "comedy/spoken", "non-music", "experimental", "spoken"),
    ("Video Game", "stage & screen", "stage & screen", "soundtrack", "game"),
    ("Military", "easy listening", "brass & military", "instrumental", "classical"),
)

# The real shape per source (spec §1.5): subgenres, genres / track, subgenres / track.
SHAPED_TARGETS: dict[str, tuple[int, float, float]] = {
    "allmusic": (745, 1.33, 3.15),
    "discogs": (300, 1.37, 1.69),
    "lastfm": (297, 1.14, 1.28),
    "tagtraum": (265, 1.13, 1.72),
}
SHAPED_STYLES = 800      # latent styles in all, shared out over genres by popularity
GENRE_ZIPF = 1.1         # genre popularity ∝ rank^-1.1: the top genre gets ~27 % of albums
STYLE_ZIPF = 1.4         # style popularity within a genre ∝ rank^-1.4: the long label tail
SECOND_GENRE = 0.45      # albums with a second latent genre (sources see only some of them)
STYLES_PER_GENRE = 3.2   # expected styles an album draws per genre, before the cap
STYLE_CAP = 0.8          # no style is on more than 80 % of its genre's albums

# Style names: prefix x noun gives 800 distinct names, joined with a space for allmusic/discogs
# and without for the tag sources (whose real labels have no spaces).
_PREFIXES = ("acid", "alt", "avant", "baroque", "brit", "chamber", "cosmic", "dark", "deep",
             "dream", "dub", "early", "free", "garage", "glitch", "hard", "heavy", "indie",
             "jangle", "lounge", "math", "minimal", "modern", "neo", "noise", "nu", "post",
             "power", "proto", "retro", "soft", "space")
_NOUNS = ("beat", "bop", "blues", "core", "dance", "disco", "drone", "folk", "funk", "fusion",
          "gaze", "groove", "house", "jazz", "metal", "pop", "punk", "rock", "soul", "step",
          "swing", "trance", "twang", "wave", "tronica")


@dataclass(frozen=True)
class SourceShape:
    """How one source sees the shaped world: its labels and calibrated noise."""

    labels: tuple[str, ...]    # sorted: a label id is its rank, so sorted ids give sorted names
    genre_label: np.ndarray    # latent genre -> label id of the source's genre
    style_label: np.ndarray    # latent style -> label id, -1 where the source lacks the style
    keep_second: float         # P(the source sees an album's second genre)
    keep_style: float          # P(the source names a style of a genre it kept)


@dataclass(frozen=True)
class ShapedModel:
    """The shaped latent world and the four sources' views of it (built once, never drawn)."""

    weights: np.ndarray        # latent genre popularity (sums to 1)
    counts: np.ndarray         # styles per latent genre
    style_genre: np.ndarray    # latent style -> its genre
    style_rank: np.ndarray     # latent style -> its index within the genre
    style_p: np.ndarray        # P(an album of the style's genre has the style)
    sources: dict[str, SourceShape]


def _zipf(n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def _share_out(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainders), each ≥ 1."""
    raw = total * weights
    out = np.maximum(1, np.floor(raw).astype(np.int64))
    missing = total - int(out.sum())
    if missing < 0:
        raise ValueError(f"cannot give each of {weights.size} genres a style out of {total}")
    out[np.argsort(-(raw - np.floor(raw)), kind="stable")[:missing]] += 1
    return out


def _pair_matrix(weights: np.ndarray) -> np.ndarray:
    """P(first genre h, second genre g) for two-genre albums: g drawn again without h."""
    m = np.outer(weights, weights) / (1.0 - weights)[:, None]
    np.fill_diagonal(m, 0.0)
    return m


def _style_names(sep: str) -> list[str]:
    """One name per latent style; distinct, so every source's subgenre labels are distinct."""
    if len(_PREFIXES) * len(_NOUNS) < SHAPED_STYLES:
        raise ValueError(f"{SHAPED_STYLES} styles need more than {len(_PREFIXES)} x "
                         f"{len(_NOUNS)} names")
    names = [f"{_PREFIXES[i % len(_PREFIXES)]}{sep}{_NOUNS[i // len(_PREFIXES)]}"
             for i in range(SHAPED_STYLES)]
    if len(set(names)) != len(names):
        raise ValueError(f"style names collide when joined with {sep!r}")
    return names


def _keep_second(weights: np.ndarray, genre_of: np.ndarray, source: str) -> float:
    """P(source sees a second genre) that gives its genres / track (spec §1.5), in expectation.

    A one-genre view has one genre plus a confusion that lands on another of the source's genres;
    a seen second genre adds one where both survive dropping and the source tells them apart.
    (Confusions on two-genre views are counted as on one-genre views: under 1 % off.)
    """
    p_drop, p_confuse, _ = NOISE[source]
    differ = genre_of[:, None] != genre_of[None, :]
    base = 1.0 + p_confuse * float(weights @ differ @ weights)
    gain = SECOND_GENRE * (1.0 - p_drop) ** 2 * float((_pair_matrix(weights) * differ).sum())
    return (SHAPED_TARGETS[source][1] - base) / gain


def _keep_style(weights: np.ndarray, style_mass: np.ndarray, keep_second: float,
                source: str) -> float:
    """P(source names a style) that gives its subgenres / track (spec §1.5), in expectation.

    ``style_mass[g]`` is the expected number of the source's styles on an album of genre g; a
    genre contributes when the source keeps it (a first genre is dropped only if the second
    one survives).
    """
    p_drop = NOISE[source][0]
    seen = SECOND_GENRE * keep_second
    first_kept = weights * (1.0 - seen * p_drop * (1.0 - p_drop))
    second_kept = seen * (1.0 - p_drop) * _pair_matrix(weights).sum(axis=0)
    return SHAPED_TARGETS[source][2] / float((first_kept + second_kept) @ style_mass)


def _source_shape(source: str, column: int, weights: np.ndarray, style_genre: np.ndarray,
                  style_p: np.ndarray, popular: np.ndarray) -> SourceShape:
    genres = [row[column] for row in SHAPED_GENRES]
    names = _style_names(" " if RELEASE_LEVEL[source] else "")
    kept = np.sort(popular[: SHAPED_TARGETS[source][0]])
    subgenres = [f"{genres[style_genre[k]]}---{names[k]}" for k in kept]
    labels = tuple(sorted({*genres, *subgenres}))
    rank = {label: i for i, label in enumerate(labels)}
    genre_label = np.array([rank[g] for g in genres], dtype=np.int64)
    style_label = np.full(len(style_genre), -1, dtype=np.int64)
    style_label[kept] = [rank[label] for label in subgenres]
    # Equal label ids <=> the source does not tell the two latent genres apart.
    keep_second = _keep_second(weights, genre_label, source)
    mass = np.bincount(style_genre[kept], weights=style_p[kept], minlength=len(weights))
    keep_style = _keep_style(weights, mass, keep_second, source)
    if not (0.0 <= keep_second <= 1.0 and 0.0 < keep_style <= 1.0):
        raise ValueError(f"shaped {source}: cannot reach spec §1.5 shape "
                         f"(keep_second {keep_second:.3f}, keep_style {keep_style:.3f})")
    return SourceShape(labels, genre_label, style_label, keep_second, keep_style)


@lru_cache(maxsize=1)
def shaped_model() -> ShapedModel:
    """The shaped world's parameters, derived (not drawn) from the constants above.

    Each source keeps its number of subgenres as the most frequent latent styles overall, so
    sources with fewer subgenres also name fewer per track; two probabilities per source are then
    solved for so that genres / track and subgenres / track match spec §1.5 in expectation.
    """
    weights = _zipf(len(SHAPED_GENRES), GENRE_ZIPF)
    counts = _share_out(SHAPED_STYLES, weights)
    style_genre = np.repeat(np.arange(len(counts)), counts)
    style_rank = np.concatenate([np.arange(n) for n in counts])
    style_p = np.concatenate([np.minimum(STYLE_CAP, STYLES_PER_GENRE * _zipf(n, STYLE_ZIPF))
                              for n in counts])
    # How often each style occurs over all albums (first or second genre).
    genre_freq = weights + SECOND_GENRE * _pair_matrix(weights).sum(axis=0)
    popular = np.argsort(-(genre_freq[style_genre] * style_p), kind="stable")
    sources = {source: _source_shape(source, 1 + k, weights, style_genre, style_p, popular)
               for k, source in enumerate(release.SOURCES)}
    return ShapedModel(weights, counts, style_genre, style_rank, style_p, sources)


@dataclass(frozen=True)
class ShapedTruth:
    """Latent truth per album: genres (second -1 if none) and styles grouped by album."""

    first: np.ndarray
    second: np.ndarray
    style_ptr: np.ndarray      # album r's styles are styles[style_ptr[r]:style_ptr[r + 1]]
    styles: np.ndarray         # latent style ids: first genre's, then second's, by rank


def _shaped_truth(rng: np.random.Generator, model: ShapedModel, n_rg: int) -> ShapedTruth:
    n_genres = len(model.weights)
    first = rng.choice(n_genres, size=n_rg, p=model.weights)
    second = np.full(n_rg, -1, dtype=np.int64)
    todo = np.flatnonzero(rng.random(n_rg) < SECOND_GENRE)
    while todo.size:  # redraw clashes: the second genre follows the weights without the first
        draw = rng.choice(n_genres, size=todo.size, p=model.weights)
        ok = draw != first[todo]
        second[todo[ok]] = draw[ok]
        todo = todo[~ok]
    offset = np.concatenate(([0], np.cumsum(model.counts)))
    albums, slots, styles = [], [], []
    for g in range(n_genres):  # each style independently: a Poisson-like count per genre
        rows = np.flatnonzero((first == g) | (second == g))
        p = model.style_p[offset[g]:offset[g + 1]]
        row, k = np.nonzero(rng.random((rows.size, p.size)) < p)
        albums.append(rows[row])
        slots.append((second[rows[row]] == g).astype(np.int8))
        styles.append(offset[g] + k)
    album, slot, style = (np.concatenate(x) for x in (albums, slots, styles))
    order = np.lexsort((style, slot, album))
    ptr = np.concatenate(([0], np.cumsum(np.bincount(album, minlength=n_rg))))
    return ShapedTruth(first, second, ptr, style[order])


def _truth_lists(model: ShapedModel,
                 truth: ShapedTruth) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """The truth in World's list form (genre, style-within-genre)."""
    pairs = list(zip(model.style_genre[truth.styles].tolist(),
                     model.style_rank[truth.styles].tolist(), strict=True))
    ptr = truth.style_ptr.tolist()
    genres = [[f] if s < 0 else [f, s]
              for f, s in zip(truth.first.tolist(), truth.second.tolist(), strict=True)]
    return genres, [pairs[a:b] for a, b in pairwise(ptr)]


def _unit_styles(truth: ShapedTruth, unit_rg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit, latent style) for every style of every unit's album, without a Python loop."""
    start = truth.style_ptr[unit_rg]
    count = truth.style_ptr[unit_rg + 1] - start
    unit = np.repeat(np.arange(unit_rg.size), count)
    within = np.arange(unit.size) - np.repeat(np.cumsum(count) - count, count)
    return unit, truth.styles[start[unit] + within]


def _view_labels(source: str, model: ShapedModel, truth: ShapedTruth, unit_rg: np.ndarray,
                 rng: np.random.Generator) -> list[list[str]]:
    """One noisy view per unit (album or track) through the source's taxonomy: sorted labels.

    Same noise as the demo world (NOISE's drop a genre but keep one, confuse), drawn for all
    units at once; the style keep rate is the source's calibrated one, not NOISE's, as it also
    carries the source's lower subgenres per track.
    """
    src = model.sources[source]
    p_drop, p_confuse, _ = NOISE[source]
    n = unit_rg.size
    first, second = truth.first[unit_rg], truth.second[unit_rg]
    drop_first = rng.random(n) < p_drop
    drop_second = rng.random(n) < p_drop
    keep_second = (second >= 0) & (rng.random(n) < src.keep_second) & ~drop_second
    keep_first = ~drop_first | ~keep_second
    confused = rng.random(n) < p_confuse
    wrong = rng.choice(len(model.weights), size=n, p=model.weights)
    unit, style = _unit_styles(truth, unit_rg)
    genre = model.style_genre[style]
    label = src.style_label[style]
    named = (((genre == first[unit]) & keep_first[unit])
             | ((genre == second[unit]) & keep_second[unit]))
    named &= (label >= 0) & (rng.random(style.size) < src.keep_style)
    ids = np.arange(n)
    # A style is named only under a kept genre, whose label is its parent: parents are present.
    pairs_unit = np.concatenate((ids[keep_first], ids[keep_second], ids[confused], unit[named]))
    pairs_label = np.concatenate((src.genre_label[first[keep_first]],
                                  src.genre_label[second[keep_second]],
                                  src.genre_label[wrong[confused]], label[named]))
    key = np.unique(pairs_unit * len(src.labels) + pairs_label)
    names = np.asarray(src.labels, dtype=object)[key % len(src.labels)].tolist()
    bounds = np.searchsorted(key // len(src.labels), np.arange(n + 1)).tolist()
    return [names[a:b] for a, b in pairwise(bounds)]


def _shaped_labels(seed: int, model: ShapedModel, truth: ShapedTruth, rg_of: np.ndarray,
                   cover: dict[str, np.ndarray]) -> dict[str, dict[int, list[str]]]:
    labels: dict[str, dict[int, list[str]]] = {}
    for source in release.SOURCES:
        src_rng = np.random.default_rng([seed, 2, release.SOURCES.index(source)])
        covered = np.flatnonzero(cover[source])
        if RELEASE_LEVEL[source]:
            per_rg = _view_labels(source, model, truth, np.arange(truth.first.size), src_rng)
            views = [per_rg[r] for r in rg_of[covered].tolist()]
        else:
            views = _view_labels(source, model, truth, rg_of[covered], src_rng)
        labels[source] = dict(zip(covered.tolist(), views, strict=True))
    return labels


def make_world(n_recordings: int, seed: int, odd_beats: float = 0.01,
               taxonomy: str = "demo") -> World:
    """Draw the demo world; pure and deterministic in its arguments.

    ``taxonomy`` "demo" is the small 12-genre world; "shaped" has the real release's label shape
    per source (see ``shaped_model``). Only the labels and the latent vectors differ between them.
    """
    if n_recordings < 20:
        raise ValueError("--recordings must be at least 20")
    if taxonomy not in TAXONOMY_MODES:
        raise ValueError(f"taxonomy must be one of {TAXONOMY_MODES}, not {taxonomy!r}")
    rng = np.random.default_rng([seed, 1])
    sizes = _album_sizes(rng, n_recordings)
    n_rg = len(sizes)
    rg_of = np.repeat(np.arange(n_rg), sizes)
    track = np.concatenate([np.arange(1, s + 1) for s in sizes])
    if taxonomy == "demo":
        rg_genres, rg_styles = _demo_truth(rng, n_rg)
        split_of_rg, cover = _split_and_cover(rng, sizes, rg_of, n_recordings)
        labels = _demo_labels(seed, rg_of, rg_genres, rg_styles, cover)
        counts = [n for _, _, n in LATENT]
        genre_names = tuple(name for name, _, _ in LATENT)
    else:
        model = shaped_model()
        truth = _shaped_truth(rng, model, n_rg)
        split_of_rg, cover = _split_and_cover(rng, sizes, rg_of, n_recordings)
        labels = _shaped_labels(seed, model, truth, rg_of, cover)
        rg_genres, rg_styles = _truth_lists(model, truth)
        counts = model.counts.tolist()
        genre_names = tuple(row[0] for row in SHAPED_GENRES)

    latent = _latent_vectors(np.random.default_rng([seed, 3]), rg_of, rg_genres, rg_styles,
                             counts)
    mbid_rng = np.random.default_rng([seed, 4])
    mbids = [_uuid(mbid_rng) for _ in range(n_recordings)]
    rg_mbids = [_uuid(mbid_rng) for _ in range(n_rg)]
    beat_rng = np.random.default_rng([seed, 5])
    odd = beat_rng.random(n_recordings) < odd_beats
    beats = np.where(odd, beat_rng.integers(0, 2, n_recordings), 2).astype(np.int8)
    return World(mbids, rg_of, rg_mbids, rg_genres, rg_styles, split_of_rg, labels, latent,
                 beats, track, genre_names)


# Latent noise levels: these set how hard the task is (linear macro ROC AUC ~0.7-0.9).
ALBUM_SD = 2.0
TRACK_SD = 2.0
STYLE_WEIGHT = 0.8
SLOT_NOISE = 1.0


def _latent_vectors(rng: np.random.Generator, rg_of: np.ndarray, rg_genres: list[list[int]],
                    rg_styles: list[list[tuple[int, int]]],
                    styles_per_genre: Sequence[int]) -> np.ndarray:
    """Album = its genres' embeddings + its styles' embeddings + album noise; track adds noise.

    Vectorised over albums, yet every addition happens in the order of the original per-album
    loop (genres, then styles one by one from zero, then noise), so the demo world's vectors stay
    bit for bit what they were.
    """
    n_genres = len(styles_per_genre)
    offset = np.concatenate(([0], np.cumsum(styles_per_genre)))
    genre_emb = rng.standard_normal((n_genres, LATENT_DIM))
    style_emb = STYLE_WEIGHT * rng.standard_normal((int(offset[-1]), LATENT_DIM))
    n_rg = len(rg_genres)
    first = np.array([gs[0] for gs in rg_genres], dtype=np.int64)
    second = np.array([gs[1] if len(gs) > 1 else -1 for gs in rg_genres], dtype=np.int64)
    genre_sum = genre_emb[first]
    two = second >= 0
    genre_sum[two] += genre_emb[second[two]]
    n_styles = np.array([len(sts) for sts in rg_styles], dtype=np.int64)
    flat = np.array([offset[g] + s for sts in rg_styles for g, s in sts], dtype=np.int64)
    start = np.concatenate(([0], np.cumsum(n_styles)[:-1]))
    style_sum = np.zeros((n_rg, LATENT_DIM))
    for j in range(int(n_styles.max(initial=0))):
        has = np.flatnonzero(n_styles > j)
        style_sum[has] += style_emb[flat[start[has] + j]]
    album = genre_sum + style_sum + ALBUM_SD * rng.standard_normal((n_rg, LATENT_DIM))
    z = album[rg_of] + TRACK_SD * rng.standard_normal((len(rg_of), LATENT_DIM))
    return (z - z.mean(axis=0)) / z.std(axis=0)


def projection(seed: int) -> np.ndarray:
    """The fixed map from the latent space to the 2647 stored numbers (shared by all workers)."""
    rng = np.random.default_rng([seed, 6])
    return rng.standard_normal((LATENT_DIM, N_SLOTS)) / math.sqrt(LATENT_DIM)


def signals_for(latent: np.ndarray, proj: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-slot standard-normal-ish signals: projected latent vector plus independent noise."""
    clean = latent @ proj
    noisy = clean + SLOT_NOISE * rng.standard_normal(clean.shape)
    return noisy / math.sqrt(1.0 + SLOT_NOISE**2)


# ----------------------------------------------------------------------------------------------
# Writers
# ----------------------------------------------------------------------------------------------
def tsv_bytes(rows: Sequence[tuple[str, str, Sequence[str]]]) -> bytes:
    """Ground-truth TSV in the release's layout: header genre1..N, rows padded to N labels."""
    width = max((len(labels) for _, _, labels in rows), default=1)
    lines = ["\t".join(["recordingmbid", "releasegroupmbid",
                        *(f"genre{k}" for k in range(1, width + 1))])]
    for mbid, rg, labels in rows:
        if not labels:
            raise ValueError(f"recording {mbid} has no label")
        ordered = sorted(labels)
        lines.append("\t".join([mbid, rg, *ordered, *([""] * (width - len(ordered)))]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def groundtruth_rows(world: World, source: str, split: str) -> list[tuple[str, str, list[str]]]:
    want = release.SPLITS.index(split)
    rows = [(world.mbids[i], world.rg_mbids[int(world.rg_of[i])], labels)
            for i, labels in world.labels[source].items()
            if world.split_of_rg[int(world.rg_of[i])] == want]
    return sorted(rows)


def _write_bz2(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(bz2.compress(data, 9))


def _tarinfo(name: str, size: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uid = info.gid = 1000
    info.uname = info.gname = "abgd"
    if size is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


@dataclass(frozen=True)
class ArchiveJob:
    """Everything one worker needs to write one archive, independent of the other workers."""

    path: str
    split: str
    index: int
    seed: int
    infos: tuple[DocInfo, ...]
    latent: np.ndarray


def write_archive(job: ArchiveJob) -> str:
    """Generate and tar one archive's documents; its own RNG makes it independent of --workers."""
    rng = np.random.default_rng([job.seed, 7, job.index])
    proj = projection(job.seed)
    root = release.member_dir(job.split)
    order = sorted(range(len(job.infos)), key=lambda k: job.infos[k].mbid)
    infos = [job.infos[k] for k in order]
    docs: list[dict[str, Any]] = []
    batch = 256
    for start in range(0, len(infos), batch):
        part = order[start:start + batch]
        signals = signals_for(job.latent[part], proj, rng)
        docs.extend(make_documents(rng, signals, infos[start:start + batch]))
    with atomic_path(job.path) as tmp, open(tmp, "wb") as raw, \
            tarfile.open(fileobj=raw, mode="w:bz2", compresslevel=9,
                         format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_tarinfo(f"{root}/", None))
        last_dir = None
        for info, doc in zip(infos, docs, strict=True):
            folder = f"{root}/{info.mbid[:2]}/"
            if folder != last_dir:
                tar.addfile(_tarinfo(folder, None))
                last_dir = folder
            data = dumps_document(doc)
            tar.addfile(_tarinfo(release.member_path(job.split, info.mbid), len(data)),
                        io.BytesIO(data))
    return job.path


def _archive_jobs(world: World, out: Path, seed: int) -> list[ArchiveJob]:
    tag_rng = np.random.default_rng([seed, 8])
    has_tag = tag_rng.random(len(world.mbids)) < 0.3
    jobs = []
    for index, arch in enumerate(release.ARCHIVES):
        split_id = release.SPLITS.index(arch.split)
        members = [i for i, m in enumerate(world.mbids)
                   if m[0] in arch.digits and world.split_of_rg[int(world.rg_of[i])] == split_id]
        infos = tuple(
            DocInfo(mbid=world.mbids[i], release_group=world.rg_mbids[int(world.rg_of[i])],
                    beats=int(world.beats[i]), track=int(world.track[i]),
                    genre_tag=world.genre_names[world.rg_genres[int(world.rg_of[i])][0]]
                    if has_tag[i] else None)
            for i in members)
        jobs.append(ArchiveJob(str(out / arch.name), arch.split, index, seed, infos,
                               world.latent[members]))
    return jobs


def md5sums_text(folder: Path, names: Sequence[str]) -> str:
    return "".join(f"{md5_file(folder / name)}  {name}\n" for name in sorted(names))


def build_mirror(out: Path, n_recordings: int, seed: int, workers: int = 1,
                 odd_beats: float = 0.01, taxonomy: str = "demo") -> World:
    """Write the whole mirror (8 TSVs, 10 archives, MD5SUMS) into ``out``; return the world."""
    out.mkdir(parents=True, exist_ok=True)
    world = make_world(n_recordings, seed, odd_beats, taxonomy)
    for source in release.SOURCES:
        for split in release.SPLITS:
            rows = groundtruth_rows(world, source, split)
            _write_bz2(out / release.groundtruth_name(source, split), tsv_bytes(rows))
            log.info("%s-%s: %d recordings", source, split, len(rows))
    jobs = _archive_jobs(world, out, seed)
    if workers <= 1:
        for job in progress(jobs, desc="archives"):
            write_archive(job)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in progress(pool.map(write_archive, jobs), total=len(jobs), desc="archives"):
                pass
    names = release.release_names()
    with atomic_path(out / "MD5SUMS") as tmp:
        tmp.write_text(md5sums_text(out, names), encoding="utf-8")
    return world


#: The final AcousticBrainz dumps' layout: ``<root>/lowlevel/<2 hex>/<1 hex>/<mbid>-<n>.json``.
DUMP_ROOT = "acousticbrainz-lowlevel-json-20220623"


def _release_documents(archives: Sequence[Path]) -> list[tuple[str, bytes]]:
    """``(mbid, bytes)`` of every ``<mbid>.json`` member of release archives, in MBID order."""
    docs = []
    for archive in archives:
        with tarfile.open(archive, mode="r:bz2") as tar:
            for info in tar:
                name = Path(info.name).name
                if info.isreg() and name.endswith(".json"):
                    handle = tar.extractfile(info)
                    assert handle is not None
                    docs.append((name.removesuffix(".json"), handle.read()))
    return sorted(docs)


def dump_members(docs: Sequence[tuple[str, bytes]], seed: int,
                 ) -> list[tuple[str, bytes]]:
    """The members of a small dump: every document as ``-0``, a few again as ``-1``, bad ones.

    Bad members show what the tagger does with them (errors TSV, never a stop): a truncated
    document, one that is not JSON, one without a descriptor; a ``README`` is skipped.
    """
    rng = np.random.default_rng([seed, 17])
    members: list[tuple[str, bytes]] = []

    def path(mbid: str, n: int) -> str:
        return f"{DUMP_ROOT}/lowlevel/{mbid[:2]}/{mbid[2]}/{mbid}-{n}.json"

    for mbid, data in docs:
        members.append((path(mbid, 0), data))
        if rng.random() < 0.1:
            members.append((path(mbid, 1), data))
    bad = [_uuid(rng) for _ in range(3)]
    good = orjson.loads(docs[0][1]) if docs else {"lowlevel": {}}
    good.get("lowlevel", {}).pop("spectral_centroid", None)
    members += [(path(bad[0], 0), docs[0][1][: len(docs[0][1]) // 2] if docs else b"{"),
                (path(bad[1], 0), b"not json at all"),
                (path(bad[2], 0), orjson.dumps(good)),
                (f"{DUMP_ROOT}/README", b"a demo dump in the layout of AcousticBrainz's\n")]
    return sorted(members)


def write_dump(archives: Sequence[Path], out: Path, seed: int) -> int:
    """Write a ``.tar.zst`` in the dump layout from release archives; returns its members."""
    import zstandard

    members = dump_members(_release_documents(archives), seed)
    with atomic_path(out) as tmp, open(tmp, "wb") as raw, \
            zstandard.ZstdCompressor(level=3).stream_writer(raw) as stream, \
            tarfile.open(fileobj=stream, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
    return len(members)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m abgd.demo",
        description="Write a demo mirror of the AcousticBrainz Genre Dataset release.")
    parser.add_argument("--out", type=Path, required=True,
                        help="mirror folder to write (with --dump-from: the .tar.zst to write)")
    parser.add_argument("--dump-from", type=Path, nargs="+", metavar="ARCHIVE",
                        help="instead of a mirror, write a small AcousticBrainz data dump "
                        "(.tar.zst, dump layout, a few bad members) from these release archives")
    parser.add_argument("--recordings", type=int, default=4000,
                        help="recordings in the union of the four sources (default 4000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1,
                        help="processes writing archives (results do not depend on it)")
    parser.add_argument("--odd-beats", type=float, default=0.01,
                        help="fraction of recordings with zero or one beat (layout exceptions)")
    parser.add_argument("--taxonomy", choices=TAXONOMY_MODES, default="demo",
                        help="demo: small 12-genre world; shaped: the real release's label "
                             "counts per source (spec §1.5) for scale rehearsals")
    add_verbose(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.verbose)
    if not 0.0 <= args.odd_beats <= 1.0:
        raise SystemExit("--odd-beats must be within [0, 1]")
    if args.dump_from:
        count = write_dump(args.dump_from, args.out, args.seed)
        log.info("dump of %d members written to %s", count, args.out)
        return 0
    build_mirror(args.out, args.recordings, args.seed, args.workers, args.odd_beats,
                 args.taxonomy)
    log.info("mirror written to %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
