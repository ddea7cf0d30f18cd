"""Atomic file writes, checksums and provenance stamps shared by every step.

A Snakemake job that dies half-way must never leave a file that looks finished: the next
job (or a rerun with ``--rerun-incomplete`` skipped by a user) would read it. Every writer
here writes to a temporary name in the destination folder and renames it into place, which
is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import numpy as np

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Use this for writers that want a file name (pyarrow, torch.save, matplotlib).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the result the permissions of an ordinary new file.
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """Open a temporary file for writing and rename it onto ``path`` when the block succeeds."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp, open(tmp, mode, encoding=encoding) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps_json(obj: Any) -> str:
    """Serialise deterministically (sorted keys) so reruns give byte-identical files."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default)
    return text + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    with atomic_open(path) as handle:
        handle.write(dumps_json(obj))


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def md5_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def package_versions(names: tuple[str, ...] = (
    "abgd", "numpy", "pandas", "pyarrow", "torch", "lightning", "scikit-learn", "lightgbm",
    "orjson", "snakemake",
)) -> dict[str, str]:
    versions: dict[str, str] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def provenance(step: str, params: dict[str, Any] | None = None,
               inputs: list[str] | None = None) -> dict[str, Any]:
    """Describe what made an output: the step, its parameters, package versions, the command."""
    return {
        "step": step,
        "params": params or {},
        "inputs": list(inputs or []),
        "versions": package_versions(),
        "argv": [Path(sys.argv[0]).name, *sys.argv[1:]],
    }


def write_scores(path: str | os.PathLike[str], mbids: Any, labels: Any,
                 scores: np.ndarray) -> None:
    """A scores table (``mbid`` + one float32 column per label), the layout every system writes
    so that thresholds, decoding and evaluation read any system alike."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [pa.array(list(mbids), pa.string())]
    columns += [pa.array(scores[:, j].astype(np.float32)) for j in range(scores.shape[1])]
    table = pa.Table.from_arrays(columns, names=["mbid", *labels])
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
