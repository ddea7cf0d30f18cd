"""One AcousticBrainz low-level document: the descriptor layout and its realistic values.

Every numeric descriptor of the release's JSON schema (``dataset-spec.md`` §3.3) has a slot in a
flat signal vector of 2647 numbers; ``make_documents`` shapes a batch of such signals into
documents in the release's ranges, with metadata, tags and versions. Other modules' tests use
``make_document`` to build realistic documents without the shared sample files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

STATS = ("mean", "var", "median", "min", "max", "dmean", "dmean2", "dvar", "dvar2")
KEYS = ("A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#")

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
