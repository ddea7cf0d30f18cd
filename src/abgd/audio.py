"""Audio files → release-layout feature documents, through Essentia's MusicExtractor.

AcousticBrainz stopped taking submissions in 2022; running Essentia's extractor locally is the
only way to get this dataset's features for new music. Essentia is AGPL-3.0 and an optional extra
(``pip install -e '.[audio]'``): it is imported only inside the functions that run it, so the rest
of the package neither needs nor loads it.

:func:`extract_document` runs ``essentia.standard.MusicExtractor`` at the release's settings
(:data:`EXTRACTOR_SETTINGS`, spec §3.1), recomputes the BPM-histogram peaks on the beat intervals
and, by default, the tonal features with standalone algorithms at the release's settings
(:func:`release_tonal`), then maps the pool with :func:`abgd.audio_mapping.map_pool`. The result
goes through the same flattening as a release JSON document.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from abgd.audio_mapping import PEAK_DESCRIPTORS, STATS, map_pool
from abgd.io import write_json

#: Suffixes taken as audio (Essentia's bundled FFmpeg decodes all of them).
AUDIO_SUFFIXES: frozenset[str] = frozenset({".wav", ".flac", ".mp3", ".ogg", ".m4a"})
INSTALL_HINT = "audio input needs Essentia (AGPL-3.0): pip install -e '.[audio]'"

#: MusicExtractor parameters matching the release's extractor (Essentia 2.1-beta2 defaults).
EXTRACTOR_SETTINGS: dict[str, Any] = {
    "analysisSampleRate": 44100,
    "lowlevelFrameSize": 2048,
    "lowlevelHopSize": 1024,
    "lowlevelWindowType": "blackmanharris62",
    "tonalFrameSize": 4096,
    "tonalHopSize": 2048,
    "tonalWindowType": "blackmanharris62",
    "rhythmMethod": "degara",
    "rhythmMinTempo": 40,
    "rhythmMaxTempo": 208,
    "lowlevelStats": list(STATS),
    "rhythmStats": list(STATS),
    "tonalStats": list(STATS),
    "mfccStats": ["mean", "cov", "icov"],
    "gfccStats": ["mean", "cov", "icov"],
}
#: Spectral peaks of the release's tonal analysis (2.1-beta2 MusicTonalDescriptors.cpp); 2.1b6
#: uses 60 peaks in 20–3500 Hz instead.
RELEASE_PEAKS: dict[str, Any] = {"maxPeaks": 10000, "magnitudeThreshold": 0.00001,
                                 "minFrequency": 40, "maxFrequency": 5000, "orderBy": "magnitude"}
#: HPCP settings of the release: key profile, chords, and the 120-bin tuning profile.
RELEASE_HPCP_KEY: dict[str, Any] = {"size": 36, "bandPreset": False, "minFrequency": 40.0,
                                    "maxFrequency": 5000.0, "weightType": "squaredCosine",
                                    "nonLinear": False, "windowSize": 4.0 / 3.0}
RELEASE_HPCP_CHORD: dict[str, Any] = {"size": 36, "harmonics": 8, "bandPreset": True,
                                      "minFrequency": 40.0, "maxFrequency": 5000.0,
                                      "bandSplitFrequency": 500.0, "weightType": "cosine",
                                      "nonLinear": True, "windowSize": 0.5}
RELEASE_HPCP_TUNING: dict[str, Any] = {**RELEASE_HPCP_CHORD, "size": 120}
TONAL_CHOICES = ("release", "extractor")
#: ``essentia::isSilent``: a frame whose mean power is below -100 dB.
SILENCE_POWER = 1e-10


class AudioExtraMissing(RuntimeError):
    """Essentia is not installed; the message is the one line telling how to install it."""


class AudioError(RuntimeError):
    """Essentia could not read or analyse a file; the message names the file."""


def is_audio(path: str | os.PathLike[str]) -> bool:
    """True for a file whose suffix is one of :data:`AUDIO_SUFFIXES` (case-insensitive)."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


def iter_audio(inputs: Iterable[str | os.PathLike[str]]) -> Iterator[Path]:
    """Audio files named directly or found (recursively, sorted) under the folders named."""
    for item in map(Path, inputs):
        if item.is_dir():
            yield from sorted(p for p in item.rglob("*") if p.is_file() and is_audio(p))
        elif is_audio(item):
            yield item
        else:
            raise AudioError(f"{item}: not an audio file ({', '.join(sorted(AUDIO_SUFFIXES))})")


def _essentia() -> Any:
    """Import ``essentia.standard`` on first use, or fail with the install hint."""
    try:
        import essentia
        import essentia.standard as es
    except ImportError:
        raise AudioExtraMissing(INSTALL_HINT) from None
    essentia.log.infoActive = False  # one INFO line per step per file otherwise
    return es


def _pool_dict(pool: Any) -> dict[str, Any]:
    return {name: pool[name] for name in pool.descriptorNames()}


def extract_pool(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Run MusicExtractor at :data:`EXTRACTOR_SETTINGS`; the aggregated pool as a plain dict."""
    es = _essentia()
    try:
        pool, _frames = es.MusicExtractor(**EXTRACTOR_SETTINGS)(str(path))
    except RuntimeError as error:
        raise AudioError(f"{path}: Essentia could not analyse it: {error}") from None
    return _pool_dict(pool)


def bpm_peaks(beats_position: Any) -> dict[str, float]:
    """The six BPM-histogram peak descriptors from the beat times, as 2.1-beta2 computed them.

    The release's rhythm extractor fed its beat intervals to ``BpmHistogramDescriptors``; the
    2.1b6 extractor writes the first peak's spread under ``first_peak_weight`` and no spread at
    all (Essentia issue #1543), so all six are recomputed here.
    """
    es = _essentia()
    intervals = np.diff(np.asarray(beats_position, dtype=np.float32))
    if intervals.size == 0:
        return dict.fromkeys(PEAK_DESCRIPTORS, 0.0)
    first_bpm, first_weight, first_spread, second_bpm, second_weight, second_spread, _ = (
        es.BpmHistogramDescriptors()(intervals.astype(np.float32)))
    return {
        "first_peak_bpm": float(first_bpm), "first_peak_weight": float(first_weight),
        "first_peak_spread": float(first_spread), "second_peak_bpm": float(second_bpm),
        "second_peak_weight": float(second_weight), "second_peak_spread": float(second_spread),
    }


def _aggregate(es: Any, name: str, frames: np.ndarray) -> dict[str, Any]:
    """The nine release statistics of frame values, with Essentia's own aggregator."""
    from essentia import Pool  # only reached after _essentia() succeeded

    pool = Pool()
    for frame in frames:
        pool.add(name, frame)
    stats = es.PoolAggregator(defaultStats=list(STATS))(pool)
    return {f"{name}.{stat}": stats[f"{name}.{stat}"] for stat in STATS}


def release_tonal(path: str | os.PathLike[str], replay_gain: float,
                  tuning_frequency: float) -> dict[str, Any]:
    """Recompute the tonal features with the release's spectral peaks and HPCP settings.

    Follows 2.1-beta2's ``MusicTonalDescriptors``: 10000 spectral peaks in 40–5000 Hz, a 36-bin
    key HPCP (squared cosine, 4/3 semitone window) averaged over frames for ``Key`` (Temperley
    profile) and THPCP, an 8-harmonic chord HPCP for ``ChordsDetection``/``ChordsDescriptors``
    and the HPCP entropy, and a 120-bin HPCP for the tuning-system features. The tuning
    frequency is unchanged since then and is taken from the extractor. Returns release names.
    """
    es = _essentia()
    audio = es.EasyLoader(filename=str(path), sampleRate=44100, replayGain=replay_gain,
                          downmix="mix")()
    # The extractor's streaming FrameCutter adds -100 dB noise to silent frames; the standard one
    # cannot, so it is done here (with a fixed seed, for reproducible documents).
    cutter = es.FrameCutter(frameSize=4096, hopSize=2048)
    noise = es.NoiseAdder(level=-100, fixSeed=True)
    window = es.Windowing(type="blackmanharris62")
    spectrum = es.Spectrum()
    peaks = es.SpectralPeaks(**RELEASE_PEAKS)
    hpcp_key = es.HPCP(referenceFrequency=tuning_frequency, **RELEASE_HPCP_KEY)
    hpcp_chord = es.HPCP(referenceFrequency=tuning_frequency, **RELEASE_HPCP_CHORD)
    hpcp_tuning = es.HPCP(referenceFrequency=tuning_frequency, **RELEASE_HPCP_TUNING)
    entropy = es.Entropy()
    keys, chords, highres, entropies = [], [], [], []
    while True:
        frame = cutter(audio)
        if frame.size == 0:
            break
        if float(np.mean(np.square(frame, dtype=np.float64))) < SILENCE_POWER:
            frame = noise(frame)
        freqs, mags = peaks(spectrum(window(frame)))
        keys.append(hpcp_key(freqs, mags))
        chord = hpcp_chord(freqs, mags)
        chords.append(chord)
        entropies.append(entropy(chord))
        highres.append(hpcp_tuning(freqs, mags))
    if not keys:
        raise AudioError(f"{path}: too short for tonal analysis")
    key_frames = np.asarray(keys, dtype=np.float32)
    key, scale, strength, _ = es.Key(profileType="temperley")(key_frames.mean(axis=0))
    chord_frames = np.asarray(chords, dtype=np.float32)
    chord_names, chord_strength = es.ChordsDetection(hopSize=2048, sampleRate=44100,
                                                     windowSize=2.0)(chord_frames)
    histogram, number_rate, changes_rate, chords_key, chords_scale = es.ChordsDescriptors()(
        chord_names, key, scale)

    tuning = np.asarray(highres, dtype=np.float32).mean(axis=0)
    tuning = tuning / tuning.max() if tuning.max() > 0 else tuning
    _, _, diatonic, _ = es.Key(profileType="diatonic")(tuning)
    deviation, nontempered, _ = es.HighResolutionFeatures()(tuning)

    mean_hpcp = key_frames.mean(axis=0)
    mean_hpcp = mean_hpcp / mean_hpcp.max() if mean_hpcp.max() > 0 else mean_hpcp
    thpcp = np.roll(mean_hpcp, -int(np.argmax(mean_hpcp)))

    values: dict[str, Any] = {
        "tonal.key_key": key, "tonal.key_scale": scale, "tonal.key_strength": float(strength),
        "tonal.chords_key": chords_key, "tonal.chords_scale": chords_scale,
        "tonal.chords_histogram": histogram, "tonal.chords_number_rate": float(number_rate),
        "tonal.chords_changes_rate": float(changes_rate), "tonal.thpcp": thpcp,
        "tonal.tuning_diatonic_strength": float(diatonic),
        "tonal.tuning_equal_tempered_deviation": float(deviation),
        "tonal.tuning_nontempered_energy_ratio": float(nontempered),
    }
    values.update(_aggregate(es, "tonal.hpcp", key_frames))
    values.update(_aggregate(es, "tonal.chords_strength", np.asarray(chord_strength)))
    values.update(_aggregate(es, "tonal.hpcp_entropy", np.asarray(entropies)))
    return values


def extract_document(path: str | os.PathLike[str], tonal: str = "release") -> dict[str, Any]:
    """Extract one audio file into a release-layout ("music 1.0") document.

    ``tonal="release"`` (default) recomputes the tonal features at the release's settings;
    ``"extractor"`` keeps 2.1b6's own tonal analysis (60 peaks, 20–3500 Hz).
    """
    if tonal not in TONAL_CHOICES:
        raise ValueError(f"tonal must be one of {TONAL_CHOICES}, not {tonal!r}")
    pool = extract_pool(path)
    peaks = bpm_peaks(pool.get("rhythm.beats_position", []))
    overrides: Mapping[str, Any] = {}
    if tonal == "release":
        overrides = release_tonal(path, float(pool["metadata.audio_properties.replay_gain"]),
                                  float(pool["tonal.tuning_frequency"]))
    return map_pool(pool, peaks, overrides, source=str(path), tonal=tonal)


def keep_json(document: Mapping[str, Any], audio_path: str | os.PathLike[str],
              out_dir: str | os.PathLike[str]) -> Path:
    """Write an extracted document as ``OUT_DIR/<stem>.json`` (atomically) and return the path.

    Kept documents are ordinary release-layout JSON: ``python -m abgd.features`` checks them and
    the converter reads them like release files.
    """
    target = Path(out_dir) / f"{Path(audio_path).stem}.json"
    write_json(target, document)
    return target
