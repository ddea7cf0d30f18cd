"""Audio extraction on generated audio of known key and tempo, and the missing-extra error.

The extraction tests need the ``audio`` extra (Essentia) and skip with a reason without it; the
WAV files are written here with the standard library (a C-major and an A-minor chord progression
of harmonic tones, and a click track at 120 BPM), so the expected key, scale and tempo are known
by construction, not read from Essentia.
"""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from abgd import audio as A
from abgd import extract_audio
from abgd.features import FEATURE_NAMES, N_FEATURES, flatten_document, parse_document

SR = 44100


def write_wav(path: Path, signal: np.ndarray) -> Path:
    data = (np.clip(signal, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SR)
        handle.writeframes(data.tobytes())
    return path


def chord(midi_notes: list[int], seconds: float) -> np.ndarray:
    """Notes with four harmonics each and a piano-like decay."""
    t = np.arange(int(SR * seconds)) / SR
    tone = sum(np.sin(2 * np.pi * 440 * 2 ** ((n - 69) / 12) * h * t) / h
               for n in midi_notes for h in range(1, 5))
    return 0.15 * tone * np.minimum(1.0, t / 0.01) * np.exp(-0.5 * t)


def progression(chords: list[list[int]], repeats: int = 4) -> np.ndarray:
    return np.concatenate([chord(c, 2.0) for c in chords * repeats])


def click_track(bpm: float, seconds: float) -> np.ndarray:
    signal = np.zeros(int(SR * seconds))
    click = np.arange(int(0.03 * SR)) / SR
    burst = 0.8 * np.sin(2 * np.pi * 1000 * click) * np.exp(-150 * click)
    for beat in np.arange(0, seconds - 0.05, 60.0 / bpm):
        start = int(beat * SR)
        signal[start:start + burst.size] += burst
    return signal


# I-IV-V-I in C major and i-iv-V-i in A minor (bass note first).
C_MAJOR = [[48, 60, 64, 67], [53, 60, 65, 69], [55, 59, 62, 67], [48, 60, 64, 67]]
A_MINOR = [[57, 60, 64, 69], [50, 62, 65, 69], [52, 59, 64, 68], [57, 60, 64, 69]]


@pytest.fixture(scope="module")
def wavs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio")
    return {
        "c_major": write_wav(folder / "c_major.wav", progression(C_MAJOR)),
        "a_minor": write_wav(folder / "a_minor.wav", progression(A_MINOR)),
        "click120": write_wav(folder / "click120.wav", click_track(120.0, 30.0)),
    }


@pytest.fixture(scope="module")
def documents(wavs) -> dict[tuple[str, str], dict]:
    pytest.importorskip("essentia.standard", reason="the audio extra (Essentia) is not installed")
    return {(name, tonal): A.extract_document(path, tonal=tonal)
            for name, path in wavs.items() for tonal in A.TONAL_CHOICES}


# ----------------------------------------------------------------------------- without Essentia


def test_is_audio_by_suffix():
    assert A.is_audio("a/song.MP3") and A.is_audio("x.flac") and A.is_audio(Path("y.m4a"))
    assert not A.is_audio("doc.json") and not A.is_audio("archive.tar") and not A.is_audio("wav")


@pytest.fixture
def no_essentia(monkeypatch):
    """Make ``import essentia`` fail as it does where the extra is not installed."""
    monkeypatch.setitem(sys.modules, "essentia", None)
    monkeypatch.setitem(sys.modules, "essentia.standard", None)


def test_missing_extra_gives_a_one_line_install_hint(no_essentia, tmp_path):
    song = tmp_path / "song.wav"
    song.write_bytes(b"RIFF")
    with pytest.raises(A.AudioExtraMissing) as info:
        A.extract_document(song)
    message = str(info.value)
    assert "pip install -e '.[audio]'" in message and "\n" not in message


def test_cli_without_the_extra_says_how_to_install(no_essentia, tmp_path, capsys):
    song = tmp_path / "song.flac"
    song.write_bytes(b"fLaC")
    assert extract_audio.main([str(song), "--out", str(tmp_path / "out")]) == 2
    assert "pip install -e '.[audio]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_refuses_non_audio_and_clashing_stems(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    assert extract_audio.main([str(tmp_path / "notes.txt"), "--out", str(tmp_path)]) == 2
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "song.wav").write_bytes(b"")
    assert extract_audio.main([str(tmp_path / "a"), str(tmp_path / "b"),
                               "--out", str(tmp_path / "out")]) == 2


# ----------------------------------------------------------------------------- with Essentia


@pytest.mark.parametrize("tonal", A.TONAL_CHOICES)
@pytest.mark.parametrize(("name", "key", "scale"), [("c_major", "C", "major"),
                                                     ("a_minor", "A", "minor")])
def test_key_and_scale_of_generated_progressions(documents, name, key, scale, tonal):
    document = documents[(name, tonal)]
    assert (document["tonal"]["key_key"], document["tonal"]["key_scale"]) == (key, scale)
    assert document["metadata"]["abgd"]["tonal"] == tonal
    vector, _ = flatten_document(document)
    assert vector[FEATURE_NAMES.index(f"tonal.key_key_{key}")] == 1.0
    assert vector[FEATURE_NAMES.index(f"tonal.key_scale_{scale}")] == 1.0


@pytest.mark.parametrize("tonal", A.TONAL_CHOICES)
def test_tempo_of_a_120_bpm_click_track(documents, tonal):
    rhythm = documents[("click120", tonal)]["rhythm"]
    assert rhythm["bpm"] == pytest.approx(120.0, abs=1.0)
    assert rhythm["bpm_histogram_first_peak_bpm"]["mean"] == pytest.approx(120.0, abs=1.0)
    assert rhythm["beats_count"] == pytest.approx(60, abs=3)  # 30 s at 2 beats per second
    spread = rhythm["bpm_histogram_first_peak_spread"]["mean"]
    weight = rhythm["bpm_histogram_first_peak_weight"]["mean"]
    # a steady click puts most intervals into the first peak: weight is the larger share
    assert 0.0 <= spread < weight <= 1.0


def test_every_document_flattens_to_all_features(documents):
    for key, document in documents.items():
        vector, imputed = flatten_document(document)
        assert vector.shape == (N_FEATURES,) and np.isfinite(vector).all() and not imputed, key
        assert document["metadata"]["audio_properties"]["length"] == pytest.approx(
            30.0 if key[0] == "click120" else 32.0, abs=0.1)


def test_release_tonal_settings_change_only_tonal_features(documents):
    release, extractor = documents[("c_major", "release")], documents[("c_major", "extractor")]
    assert release["lowlevel"] == extractor["lowlevel"] and release["rhythm"] == extractor["rhythm"]
    assert release["tonal"]["hpcp"] != extractor["tonal"]["hpcp"]
    assert release["tonal"]["tuning_frequency"] == extractor["tonal"]["tuning_frequency"]


def test_kept_json_reads_like_a_release_file(documents, tmp_path):
    target = A.keep_json(documents[("a_minor", "release")], "/music/a_minor.wav", tmp_path)
    assert target == tmp_path / "a_minor.json"
    vector, _ = parse_document(target.read_bytes())
    expected, _ = flatten_document(documents[("a_minor", "release")])
    np.testing.assert_array_equal(vector, expected)


def test_cli_extracts_a_folder(wavs, tmp_path):
    pytest.importorskip("essentia.standard", reason="the audio extra (Essentia) is not installed")
    folder = wavs["click120"].parent
    assert extract_audio.main([str(folder), "--out", str(tmp_path), "--tonal", "extractor"]) == 0
    written = sorted(p.name for p in tmp_path.glob("*.json"))
    assert written == ["a_minor.json", "c_major.json", "click120.json"]
    document = json.loads((tmp_path / "click120.json").read_text())
    assert document["rhythm"]["bpm"] == pytest.approx(120.0, abs=1.0)
