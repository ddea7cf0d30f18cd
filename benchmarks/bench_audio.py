"""Audio extraction: speed (× real time) and the tonal drift that can be measured (not a test).

    PYTHONPATH=src .venv/bin/python benchmarks/bench_audio.py [--rounds 3] [--workdir DIR]

Needs the ``audio`` extra. On generated audio (:func:`abgd.synth_audio.write_examples`: C-major
and A-minor chord progressions, a 120 BPM click track) it times, in paired rounds A B A B, the
extraction with Essentia 2.1b6's own tonal analysis (A, the baseline: MusicExtractor plus the
mapping) and with the tonal features recomputed at the release's settings (B), and prints medians
as × real time and the ratio B/A. Then, per file, it compares the two documents' tonal features:
which differ, by how much, and whether key, scale and chords agree. Features outside ``tonal``
are identical between A and B by construction; their drift against the release's 2.1-beta2
extractor (MFCC/mel/GFCC/ERB bands, beat tracker) cannot be measured without the old build.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from abgd.audio import extract_document
from abgd.synth_audio import write_examples


def timed(path: Path, tonal: str) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of this process, document); CPU time is immune to other load."""
    start, cpu = time.perf_counter(), time.process_time()
    document = extract_document(path, tonal=tonal)
    return time.perf_counter() - start, time.process_time() - cpu, document


def _values(node) -> np.ndarray:
    if isinstance(node, dict):
        return np.concatenate([_values(node[k]) for k in sorted(node)])
    return np.ravel(np.asarray(node, dtype=np.float64))


def tonal_drift(extractor: dict, release: dict) -> list[tuple[str, str, str]]:
    """(descriptor, 2.1b6 value or max |diff|, relative size) for each tonal descriptor."""
    rows = []
    for name in sorted(release["tonal"]):
        a, b = extractor["tonal"][name], release["tonal"][name]
        if isinstance(a, str):
            rows.append((name, f"{a} vs {b}", "same" if a == b else "DIFFERENT"))
            continue
        va, vb = _values(a), _values(b)
        diff = float(np.max(np.abs(va - vb)))
        scale = float(np.max(np.abs(vb))) or 1.0
        rows.append((name, f"max |diff| {diff:.4g}", f"{diff / scale:.1%} of max |release|"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        files = write_examples(tmp)
        timed(files["click120"], "release")  # warm-up: loading Essentia's algorithms
        times: dict[str, list[float]] = {"extractor": [], "release": []}
        cpu_times: dict[str, list[float]] = {"extractor": [], "release": []}
        documents: dict[tuple[str, str], dict] = {}
        audio_seconds = 0.0
        for _ in range(args.rounds):
            for tonal in ("extractor", "release"):  # A B A B
                total = cpu_total = 0.0
                for name, path in files.items():
                    seconds, cpu, document = timed(path, tonal)
                    total += seconds
                    cpu_total += cpu
                    documents[(name, tonal)] = document
                times[tonal].append(total)
                cpu_times[tonal].append(cpu_total)
        audio_seconds = sum(documents[(n, "extractor")]["metadata"]["audio_properties"]["length"]
                            for n in files)
        print(f"{len(files)} files, {audio_seconds:.0f} s of audio, {args.rounds} paired rounds")
        medians = {k: statistics.median(v) for k, v in times.items()}
        cpu = {k: statistics.median(v) for k, v in cpu_times.items()}
        for tonal, label in (("extractor", "A 2.1b6 tonal (baseline)"),
                             ("release", "B release tonal settings")):
            print(f"  {label:28s} wall {medians[tonal]:6.2f} s "
                  f"({audio_seconds / medians[tonal]:5.1f}x real time), CPU {cpu[tonal]:6.2f} s "
                  f"({audio_seconds / cpu[tonal]:5.1f}x real time per core)")
        print(f"  ratio B/A (time): {medians['release'] / medians['extractor']:.2f}")
        for name in files:
            print(f"\ntonal drift on {name} (2.1b6 settings vs release settings)")
            for descriptor, value, size in tonal_drift(documents[(name, "extractor")],
                                                       documents[(name, "release")]):
                print(f"  {descriptor:34s} {value:28s} {size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
