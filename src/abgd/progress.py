"""What every step's command shares: its parser, ``--verbose`` and ``--threads``, logging, progress.

Snakemake redirects each job's stderr to its ``log:`` file; a tqdm bar there turns into
thousands of carriage-return lines. Bars are therefore shown only when stderr is a terminal.
The flags are declared here once, so that every step spells and means them the same way:
``step_parser`` makes a step's parser with ``-v/--verbose``, ``parse_step_args`` reads the
command line and sets up the log that ``--verbose`` asks for.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def interactive() -> bool:
    return sys.stderr.isatty()


def progress(iterable: Iterable[T] | None = None, **kwargs: Any) -> tqdm:
    kwargs.setdefault("disable", not interactive())
    kwargs.setdefault("leave", False)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, **kwargs)


def setup_logging(verbose: bool = False) -> logging.Logger:
    """Log lines with a timestamp to stderr (which the rule redirects to its log file)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        stream=sys.stderr,
        force=True,
    )
    return logging.getLogger("abgd")


def positive_int(text: str) -> int:
    """An argparse type: a count that must be at least 1 (the parser names the option)."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def step_parser(prog: str, description: str | None = None, raw: bool = False,
                verbose_help: str = "debug logging") -> argparse.ArgumentParser:
    """A step's parser, ``-v/--verbose`` declared; ``raw`` keeps the description's line breaks."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter)
    add_verbose(parser, verbose_help)
    return parser


def parse_step_args(parser: argparse.ArgumentParser,
                    argv: list[str] | None = None) -> argparse.Namespace:
    """The parsed command line, with the step's logging set up (DEBUG under ``--verbose``)."""
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    return args


def add_verbose(parser: argparse.ArgumentParser, help: str = "debug logging") -> None:
    """``-v/--verbose``: DEBUG instead of INFO in the step's log (see ``setup_logging``)."""
    parser.add_argument("-v", "--verbose", action="store_true", help=help)


def add_threads(parser: argparse.ArgumentParser, default: int | None,
                help: str | None = None) -> None:
    """``--threads N``: the CPU threads a step may use (the rule passes its ``threads:``)."""
    parser.add_argument("--threads", type=int, default=default, help=help)
