"""Map an Essentia 2.1-beta6 MusicExtractor pool onto the release's "music 1.0" JSON layout.

Why a module of its own: the mapping is where the two extractor generations disagree, so it must be
testable without Essentia (this module never imports it). :mod:`abgd.audio` runs the extractor,
turns its pool into a plain ``{dotted name: value}`` dict, recomputes what cannot be mapped and
calls :func:`map_pool`. The layout below is spec §3.3 written out by hand (not derived from the
packaged feature names), so a test can check it independently against the flattener and a real
release document.

What the mapping does (dataset spec §3; Essentia 2.1b6 extractor "music 2.0"):

* ``tonal.key_temperley.{key,scale,strength}`` become ``tonal.key_{key,scale,strength}`` (the
  release's extractor also used the Temperley profile);
* key names written with flats (``Bb``) are written with sharps (``A#``), as Essentia's ``Key``
  did in 2.1-beta2 and as the one-hot columns expect;
* the six ``rhythm.bpm_histogram_*_peak_*`` descriptors are taken from the caller (recomputed with
  ``BpmHistogramDescriptors`` on the beat intervals: 2.1b6 never writes
  ``first_peak_spread`` and stores the spread as ``first_peak_weight``, Essentia issue #1543)
  and written as nine-statistic blocks, mean = median = min = max = value and the rest 0, which
  is how the release's aggregator stored a single per-track value;
* everything the release lacks (EBU R128 loudness, ``melbands128``, other key profiles,
  ``hpcp_crest``, the BPM histogram itself, the ``stdev`` statistic) is dropped and listed in
  ``metadata.abgd.dropped``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The nine statistics of every aggregated descriptor in the release (spec §3.3).
STATS: tuple[str, ...] = ("mean", "var", "median", "min", "max", "dmean", "dmean2", "dvar", "dvar2")
COV_STATS: tuple[str, ...] = ("mean", "cov", "icov")
MAPPING_VERSION = 1

# ----------------------------------------------------------------------------- the release layout

_LOW_STAT_SCALARS = (
    "barkbands_crest", "barkbands_flatness_db", "barkbands_kurtosis", "barkbands_skewness",
    "barkbands_spread", "dissonance", "erbbands_crest", "erbbands_flatness_db",
    "erbbands_kurtosis", "erbbands_skewness", "erbbands_spread", "hfc", "melbands_crest",
    "melbands_flatness_db", "melbands_kurtosis", "melbands_skewness", "melbands_spread",
    "pitch_salience", "silence_rate_20dB", "silence_rate_30dB", "silence_rate_60dB",
    "spectral_centroid", "spectral_complexity", "spectral_decrease", "spectral_energy",
    "spectral_energyband_high", "spectral_energyband_low", "spectral_energyband_middle_high",
    "spectral_energyband_middle_low", "spectral_entropy", "spectral_flux", "spectral_kurtosis",
    "spectral_rms", "spectral_rolloff", "spectral_skewness", "spectral_spread",
    "spectral_strongpeak", "zerocrossingrate",
)
PEAK_DESCRIPTORS: tuple[str, ...] = tuple(
    f"{rank}_peak_{what}" for rank in ("first", "second") for what in ("bpm", "spread", "weight")
)

#: section → descriptor → kind; kinds: ("scalar",), ("int",), ("string",), ("vector", n or None),
#: ("stats", None | n) for a nine-statistic scalar/vector block, ("cov", 13), ("peak",).
LAYOUT: dict[str, dict[str, tuple[Any, ...]]] = {
    "lowlevel": {
        "average_loudness": ("scalar",),
        "dynamic_complexity": ("scalar",),
        **{name: ("stats", None) for name in _LOW_STAT_SCALARS},
        "barkbands": ("stats", 27),
        "erbbands": ("stats", 40),
        "melbands": ("stats", 40),
        "spectral_contrast_coeffs": ("stats", 6),
        "spectral_contrast_valleys": ("stats", 6),
        "mfcc": ("cov", 13),
        "gfcc": ("cov", 13),
    },
    "rhythm": {
        "beats_count": ("int",),
        "beats_loudness": ("stats", None),
        "beats_loudness_band_ratio": ("stats", 6),
        "beats_position": ("vector", None),
        "bpm": ("scalar",),
        "danceability": ("scalar",),
        "onset_rate": ("scalar",),
        **{f"bpm_histogram_{name}": ("peak",) for name in PEAK_DESCRIPTORS},
    },
    "tonal": {
        "chords_changes_rate": ("scalar",),
        "chords_histogram": ("vector", 24),
        "chords_key": ("string",),
        "chords_number_rate": ("scalar",),
        "chords_scale": ("string",),
        "chords_strength": ("stats", None),
        "hpcp": ("stats", 36),
        "hpcp_entropy": ("stats", None),
        "key_key": ("string",),
        "key_scale": ("string",),
        "key_strength": ("scalar",),
        "thpcp": ("vector", 36),
        "tuning_diatonic_strength": ("scalar",),
        "tuning_equal_tempered_deviation": ("scalar",),
        "tuning_frequency": ("scalar",),
        "tuning_nontempered_energy_ratio": ("scalar",),
    },
}

#: release name ← 2.1b6 pool name, where they differ.
RENAMES: dict[str, str] = {
    "tonal.key_key": "tonal.key_temperley.key",
    "tonal.key_scale": "tonal.key_temperley.scale",
    "tonal.key_strength": "tonal.key_temperley.strength",
}
SHARPS: dict[str, str] = {"Bb": "A#", "Db": "C#", "Eb": "D#", "Gb": "F#", "Ab": "G#"}
KEYS: frozenset[str] = frozenset(
    ("A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#"))
SCALES: frozenset[str] = frozenset(("major", "minor"))


class MappingError(ValueError):
    """A pool that cannot fill the release layout; the message names the file and descriptor."""


# ----------------------------------------------------------------------------- helpers


def sharp(key: str) -> str:
    """Write a key name with sharps (``Bb`` → ``A#``); refuse anything that is not a key."""
    name = SHARPS.get(key, key)
    if name not in KEYS:
        raise MappingError(f"unknown key name {key!r}")
    return name


def peak_block(value: float) -> dict[str, float]:
    """One per-track value as the release's aggregator stored it: a nine-statistic block."""
    value = float(value)
    return {stat: (value if stat in ("mean", "median", "min", "max") else 0.0) for stat in STATS}


def _plain(value: Any) -> Any:
    """numpy arrays and scalars → lists and Python numbers (duck-typed: no numpy import needed)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _number(value: Any, name: str) -> float:
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise MappingError(f"{name} is {type(value).__name__}, expected a number")
    return float(value)


def _vector(value: Any, length: int | None, name: str) -> list[float]:
    value = _plain(value)
    if not isinstance(value, list):
        raise MappingError(f"{name} is {type(value).__name__}, expected a list")
    if length is not None and len(value) != length:
        raise MappingError(f"{name} has {len(value)} values, expected {length}")
    return [_number(v, f"{name}.{i}") for i, v in enumerate(value)]


def _matrix(value: Any, size: int, name: str) -> list[list[float]]:
    rows = _plain(value)
    if not isinstance(rows, list) or len(rows) != size:
        raise MappingError(f"{name} is not a {size}x{size} matrix")
    return [_vector(row, size, f"{name}.{r}") for r, row in enumerate(rows)]


def _metadata(pool: Mapping[str, Any], dropped: list[str], tonal: str) -> dict[str, Any]:
    """The release's metadata block (never a model input) plus what made this document."""
    def get(name: str, default: Any = None) -> Any:
        return _plain(pool.get(f"metadata.{name}", default))

    def as_int(value: Any) -> int | None:
        return None if value is None else int(value)

    props = {
        "analysis_sample_rate": as_int(get("audio_properties.analysis.sample_rate")),
        "bit_rate": as_int(get("audio_properties.bit_rate")),
        "codec": get("audio_properties.codec"),
        "downmix": get("audio_properties.analysis.downmix"),
        "equal_loudness": as_int(get("audio_properties.analysis.equal_loudness")),
        "length": get("audio_properties.length"),
        "lossless": None if get("audio_properties.lossless") is None
        else bool(get("audio_properties.lossless")),
        "md5_encoded": get("audio_properties.md5_encoded"),
        "replay_gain": get("audio_properties.replay_gain"),
        "sample_rate": as_int(get("audio_properties.sample_rate")),
    }
    tags: dict[str, Any] = {}
    for name, value in pool.items():
        if name.startswith("metadata.tags."):
            tag = name[len("metadata.tags."):]
            value = _plain(value)
            if tag == "file_name":
                tags[tag] = str(value)
            else:
                tags[tag] = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    return {
        "audio_properties": {k: v for k, v in props.items() if v is not None},
        "tags": tags,
        "version": {
            "essentia": get("version.essentia", "unknown"),
            "essentia_git_sha": get("version.essentia_git_sha", "unknown"),
            "extractor": get("version.extractor", "unknown"),
        },
        "abgd": {
            "layout": "music 1.0",
            "mapping_version": MAPPING_VERSION,
            "tonal": tonal,
            "dropped": dropped,
        },
    }


# ----------------------------------------------------------------------------- the mapping


def release_names() -> Iterable[str]:
    """Every dotted descriptor name (to the statistic) that :func:`map_pool` reads, release-side."""
    for section, descriptors in LAYOUT.items():
        for descriptor, kind in descriptors.items():
            base = f"{section}.{descriptor}"
            if kind[0] in ("stats", "peak"):
                yield from (f"{base}.{stat}" for stat in STATS)
            elif kind[0] == "cov":
                yield from (f"{base}.{stat}" for stat in COV_STATS)
            else:
                yield base


def map_pool(
    pool: Mapping[str, Any],
    bpm_peaks: Mapping[str, float],
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str = "<pool>",
    tonal: str = "extractor",
) -> dict[str, Any]:
    """Build a release-layout document from a 2.1b6 pool given as ``{dotted name: value}``.

    ``bpm_peaks`` maps the six :data:`PEAK_DESCRIPTORS` (``first_peak_bpm`` …) to their values.
    ``overrides`` maps release names (``tonal.hpcp.mean``, ``tonal.key_key`` …) to values that
    replace the pool's (the tonal features recomputed at the release's settings); ``tonal`` says
    which tonal features the document holds and is recorded in ``metadata.abgd``. Raises
    :class:`MappingError` naming ``source`` and the descriptor when something is missing or has
    the wrong shape.
    """
    missing_peaks = [name for name in PEAK_DESCRIPTORS if name not in bpm_peaks]
    if missing_peaks:
        raise MappingError(f"{source}: BPM histogram peaks lack {', '.join(missing_peaks)}")
    values: dict[str, Any] = {}
    for name in release_names():
        origin = RENAMES.get(name, name)
        if origin in pool:
            values[name] = pool[origin]
    values.update(overrides or {})
    used = {RENAMES.get(name, name) for name in values} | set(overrides or ())

    # A track without beats: 2.1b6, like 2.1-beta2, aggregates nothing for the beat loudness;
    # the release wrote zeros there (and the flattener imputes the median from the mean, 0).
    if _number(values.get("rhythm.beats_count", 0), "rhythm.beats_count") == 0:
        for name, length in (("beats_loudness", None), ("beats_loudness_band_ratio", 6)):
            for stat in STATS:
                values.setdefault(f"rhythm.{name}.{stat}", 0.0 if length is None else [0.0] * 6)
        values.setdefault("rhythm.beats_position", [])

    def take(name: str) -> Any:
        if name not in values:
            raise MappingError(f"{source}: missing descriptor {name}")
        return values[name]

    document: dict[str, Any] = {}
    try:
        for section, descriptors in LAYOUT.items():
            out = document.setdefault(section, {})
            for descriptor, kind in descriptors.items():
                name = f"{section}.{descriptor}"
                if kind[0] == "scalar":
                    out[descriptor] = _number(take(name), name)
                elif kind[0] == "int":
                    out[descriptor] = int(_number(take(name), name))
                elif kind[0] == "string":
                    text = _plain(take(name))
                    if not isinstance(text, str):
                        raise MappingError(f"{name} is {type(text).__name__}, expected a string")
                    if descriptor.endswith("_key"):
                        text = sharp(text)
                    elif text not in SCALES:
                        raise MappingError(f"{name} = {text!r}, expected major or minor")
                    out[descriptor] = text
                elif kind[0] == "vector":
                    out[descriptor] = _vector(take(name), kind[1], name)
                elif kind[0] == "stats":
                    out[descriptor] = {
                        stat: _number(take(f"{name}.{stat}"), f"{name}.{stat}") if kind[1] is None
                        else _vector(take(f"{name}.{stat}"), kind[1], f"{name}.{stat}")
                        for stat in STATS
                    }
                elif kind[0] == "cov":
                    out[descriptor] = {
                        "mean": _vector(take(f"{name}.mean"), kind[1], f"{name}.mean"),
                        "cov": _matrix(take(f"{name}.cov"), kind[1], f"{name}.cov"),
                        "icov": _matrix(take(f"{name}.icov"), kind[1], f"{name}.icov"),
                    }
                else:  # a BPM histogram peak
                    peak = descriptor[len("bpm_histogram_"):]
                    out[descriptor] = peak_block(_number(bpm_peaks[peak], name))
    except MappingError as error:
        message = str(error)
        raise MappingError(message if message.startswith(source) else f"{source}: {message}") \
            from None

    consumed = {n for n in used if n in pool}
    dropped = sorted(
        name for name in pool
        if not name.startswith("metadata.") and name not in consumed
    )
    document["metadata"] = _metadata(pool, dropped, tonal)
    return document
