"""Progress bars on a terminal, silence in Snakemake logs.

Snakemake redirects each job's stderr to its ``log:`` file; a tqdm bar there turns into
thousands of carriage-return lines. Bars are therefore shown only when stderr is a terminal.
"""

from __future__ import annotations

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
