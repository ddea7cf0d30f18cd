"""Generated audio of known key and tempo (for the extraction tests and the audio benchmark).

Written with numpy and the standard library's ``wave`` module, so the expected key, scale and
tempo are known by construction rather than read from an analyser.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
#: I-IV-V-I in C major and i-iv-V-i in A minor, as MIDI notes (bass note first).
C_MAJOR: tuple[tuple[int, ...], ...] = ((48, 60, 64, 67), (53, 60, 65, 69), (55, 59, 62, 67),
                                        (48, 60, 64, 67))
A_MINOR: tuple[tuple[int, ...], ...] = ((57, 60, 64, 69), (50, 62, 65, 69), (52, 59, 64, 68),
                                        (57, 60, 64, 69))


def write_wav(path: str | Path, signal: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write a mono 16-bit PCM WAV file (values clipped to [-1, 1])."""
    data = (np.clip(signal, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(data.tobytes())
    return Path(path)


def chord(midi_notes: tuple[int, ...], seconds: float,
          sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Notes with four harmonics each (1/h amplitudes) and a piano-like decay."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    tone = sum(np.sin(2 * np.pi * 440.0 * 2 ** ((n - 69) / 12) * h * t) / h
               for n in midi_notes for h in range(1, 5))
    return 0.15 * tone * np.minimum(1.0, t / 0.01) * np.exp(-0.5 * t)


def progression(chords: tuple[tuple[int, ...], ...], repeats: int = 4,
                seconds_per_chord: float = 2.0) -> np.ndarray:
    return np.concatenate([chord(c, seconds_per_chord) for c in chords * repeats])


def click_track(bpm: float, seconds: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decaying 1 kHz clicks, one per beat, starting at 0 s."""
    signal = np.zeros(int(sample_rate * seconds))
    t = np.arange(int(0.03 * sample_rate)) / sample_rate
    burst = 0.8 * np.sin(2 * np.pi * 1000.0 * t) * np.exp(-150.0 * t)
    for beat in np.arange(0.0, seconds - 0.05, 60.0 / bpm):
        start = int(beat * sample_rate)
        signal[start:start + burst.size] += burst
    return signal


def write_examples(folder: str | Path) -> dict[str, Path]:
    """C-major and A-minor progressions (32 s each) and a 120 BPM click track (30 s)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "c_major": write_wav(folder / "c_major.wav", progression(C_MAJOR)),
        "a_minor": write_wav(folder / "a_minor.wav", progression(A_MINOR)),
        "click120": write_wav(folder / "click120.wav", click_track(120.0, 30.0)),
    }
