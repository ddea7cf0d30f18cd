"""Extract release-layout feature documents from audio files (needs the ``audio`` extra).

    python -m abgd.extract_audio AUDIO_OR_DIR... --out DIR [--tonal release|extractor]

Writes ``DIR/<stem>.json`` per audio file, in the layout of the AcousticBrainz release ("music
1.0"), so the documents can be checked (``python -m abgd.features``) and converted like release
files. A file Essentia cannot read is reported and skipped; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from abgd.audio import (
    TONAL_CHOICES,
    AudioError,
    AudioExtraMissing,
    extract_document,
    iter_audio,
    keep_json,
)
from abgd.audio_mapping import MappingError
from abgd.progress import parse_step_args, step_parser

log = logging.getLogger("abgd.extract_audio")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.extract_audio", description=__doc__, raw=True)
    parser.add_argument("inputs", nargs="+", type=Path,
                        help="audio files (wav, flac, mp3, ogg, m4a) or folders of them")
    parser.add_argument("--out", type=Path, required=True, help="folder for <stem>.json")
    parser.add_argument("--tonal", choices=TONAL_CHOICES, default="release",
                        help="tonal features recomputed at the release's settings (default) or "
                             "Essentia 2.1b6's own")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    try:
        files = list(iter_audio(args.inputs))
    except AudioError as error:
        log.error("%s", error)
        return 2
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            log.error("%s and %s would both be written as %s.json; extract them separately",
                      stems[path.stem], path, path.stem)
            return 2
        stems[path.stem] = path
    failed = 0
    for path in files:
        start = time.perf_counter()
        try:
            document = extract_document(path, tonal=args.tonal)
        except AudioExtraMissing as error:
            log.error("%s", error)
            return 2
        except (AudioError, MappingError) as error:
            failed += 1
            log.error("%s", error)
            continue
        target = keep_json(document, path, args.out)
        seconds = time.perf_counter() - start
        length = float(document["metadata"]["audio_properties"].get("length", 0.0))
        log.info("%s -> %s (%.1f s of audio in %.1f s, %.0fx real time)", path, target, length,
                 seconds, length / seconds if seconds else 0.0)
    log.info("%d of %d files extracted to %s", len(files) - failed, len(files), args.out)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
