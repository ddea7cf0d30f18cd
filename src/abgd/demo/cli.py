"""The command of ``python -m abgd.demo`` (``__main__``): the demo mirror, or a small data dump."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from abgd.demo.archives import build_mirror
from abgd.demo.dump import write_dump
from abgd.demo.world import TAXONOMY_MODES
from abgd.progress import parse_step_args, step_parser

log = logging.getLogger("abgd.demo")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(
        prog="python -m abgd.demo",
        description="Write a demo mirror of the AcousticBrainz Genre Dataset release.")
    parser.add_argument("--out", type=Path, required=True,
                        help="mirror folder to write (with --dump-from: the .tar.zst to write)")
    parser.add_argument("--dump-from", type=Path, nargs="+", metavar="ARCHIVE",
                        help="instead of a mirror, write a small AcousticBrainz data dump "
                        "(.tar.zst, dump layout, a few bad members) from these release archives")
    parser.add_argument("--recordings", type=int, default=4000,
                        help="recordings in the union of the four sources (default 4000)")
    parser.add_argument("--seed", type=int, default=2019,
                        help="seed of every random draw (default 2019, the study's)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes writing archives (results do not depend on it)")
    parser.add_argument("--odd-beats", type=float, default=0.01,
                        help="fraction of recordings with zero or one beat (layout exceptions)")
    parser.add_argument("--taxonomy", choices=TAXONOMY_MODES, default="demo",
                        help="demo: small 12-genre world; shaped: the real release's label "
                             "counts per source (spec §1.5) for scale rehearsals")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
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
