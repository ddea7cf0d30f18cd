"""Stream feature archives (``.tar.bz2``) into one Parquet part without extracting anything to disk.

Why streaming: a train archive holds ~10 GB of JSON; extracting it costs disk space and one write
and one read of every byte. Here a bzip2 decoder feeds ``tarfile`` in stream mode (``r|``), each
``<uuid>.json`` member is parsed in memory, and rows go out in fixed-size Parquet row groups, so
peak memory is one batch (``batch_size × 2669`` float32) whatever the archive size.

Decoders: bzip2 decoding is the bottleneck (Python's ``bz2`` decodes ~50 MB/s on one core), so a
parallel decoder subprocess (``lbzip2``, else ``pbzip2``) is used when it is on PATH; both are
drained to the end of the stream so that a truncated or corrupt archive always fails the job.
``--threads N`` is what the whole step uses: this process parses on one CPU and the decoder gets
the other ``N - 1`` (at least one), so a job never runs more threads than it reserved.

Record policy: the file name's MBID is the key (never ``metadata.tags``, which can hold a redirected
MBID). Directories, AppleDouble ``._*`` files, ``.DS_Store`` and other names are skipped; absolute
paths, ``..``, links and device files are rejected with a logged reason. A bad record goes to the
errors TSV and conversion goes on; of duplicate MBIDs the first converted one is kept and later ones
are reported as errors (a duplicate of a record that failed is converted normally). The counts
(``read = converted + errored``) are stored in the Parquet key-value metadata as ``abgd.counts``.
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from abgd.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, N_FEATURES, FeatureError
from abgd.features import parse_document as _parse_document
from abgd.io import atomic_open, atomic_path
from abgd.progress import progress, setup_logging

log = logging.getLogger("abgd.convert")

DECODERS = ("auto", "lbzip2", "pbzip2", "python")
RECORD_NAME = re.compile(
    r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.json", re.IGNORECASE
)
ERRORS_HEADER = "mbid\tmember\treason\n"
#: A real document is 55–90 kB; anything far larger is not one, and must not be read into memory.
MAX_MEMBER_BYTES = 64 << 20
_PIPE_BUFFER = 1 << 20


class ArchiveError(RuntimeError):
    """The archive itself is unreadable (tar or bzip2 level): the whole job must fail."""


@dataclasses.dataclass
class Counts:
    """``read`` counts records (members named ``<uuid>.json``); ``read == converted + errored``."""

    read: int = 0
    converted: int = 0
    imputed: int = 0
    errored: int = 0
    skipped: int = 0
    rejected: int = 0
    duplicates: int = 0

    def line(self) -> str:
        return " ".join(f"{k}={v}" for k, v in dataclasses.asdict(self).items())


# ----------------------------------------------------------------------------- members


def classify_member(info: tarfile.TarInfo) -> tuple[str, str]:
    """Decide what to do with one tar member: ``(action, detail)``.

    action is ``record`` (detail = lowercase MBID), ``skip`` or ``reject`` (detail = why).
    Unsafe members are rejected before anything else because their names cannot be trusted.
    """
    name = info.name
    parts = PurePosixPath(name).parts
    if name.startswith("/") or ".." in parts:
        return "reject", "absolute path or '..' in member name"
    if info.issym() or info.islnk():
        return "reject", f"link to {info.linkname!r}"
    if info.ischr() or info.isblk() or info.isfifo():
        return "reject", "device or fifo"
    if info.isdir():
        return "skip", "directory"
    if not info.isreg() or info.issparse():
        return "reject", f"not a regular file (type {info.type!r})"
    base = parts[-1] if parts else ""
    if base.startswith("._"):
        return "skip", "AppleDouble file"
    if base == ".DS_Store":
        return "skip", "macOS .DS_Store"
    match = RECORD_NAME.fullmatch(base)
    if match is None:
        return "skip", "not a <uuid>.json name"
    return "record", match.group(1).lower()


def _mbid_of_name(name: str) -> str | None:
    match = RECORD_NAME.fullmatch(PurePosixPath(name).name)
    return match.group(1).lower() if match else None


# ----------------------------------------------------------------------------- decoding


def choose_decoder(requested: str) -> str:
    """Resolve ``auto`` to the fastest decoder present; refuse a named one that is absent."""
    if requested == "python":
        return requested
    if requested == "auto":
        return next((d for d in ("lbzip2", "pbzip2") if shutil.which(d)), "python")
    if shutil.which(requested) is None:
        raise ArchiveError(f"decoder {requested!r} is not on PATH (use --decoder auto or python)")
    return requested


def _decoder_command(decoder: str, path: Path, threads: int) -> list[str]:
    if decoder == "lbzip2":
        return ["lbzip2", "-d", "-c", "-n", str(threads), str(path)]
    return ["pbzip2", "-d", "-c", f"-p{threads}", str(path)]


def _drain(stream: IO[bytes]) -> None:
    """Read to the end so the decoder checks the last block (CRC, end-of-stream marker)."""
    while stream.read(_PIPE_BUFFER):
        pass


@contextlib.contextmanager
def decompressed(path: Path, decoder: str, threads: int = 1) -> Iterator[IO[bytes]]:
    """Yield the archive's decompressed bytes as a stream; raise ArchiveError if it is corrupt."""
    if decoder == "python":
        try:
            with bz2.open(path, "rb") as stream:
                yield stream
                _drain(stream)
        except (OSError, EOFError, ValueError) as error:
            raise ArchiveError(f"{path}: corrupt or truncated bzip2 data ({error})") from error
        return
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            _decoder_command(decoder, path, threads),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
            bufsize=_PIPE_BUFFER,
        )
        assert proc.stdout is not None
        def decoder_failure() -> ArchiveError | None:
            if proc.returncode in (None, 0):
                return None
            stderr.seek(0)
            message = stderr.read().decode(errors="replace").strip().replace("\n", " | ")
            return ArchiveError(f"{path}: {decoder} exited with status {proc.returncode}: "
                                f"{message}")

        try:
            try:
                yield proc.stdout
            except (tarfile.TarError, EOFError, OSError) as error:
                # A truncated stream usually shows up first as a tar error; the decoder's own
                # message (which has usually exited by then) says more, so prefer it.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1.0)
                failure = decoder_failure()
                if failure is not None:
                    raise failure from error
                raise
            _drain(proc.stdout)
            proc.wait()
            failure = decoder_failure()
            if failure is not None:
                raise failure
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()


def iter_members(path: Path, decoder: str, threads: int, counts: Counts,
                 max_member_bytes: int = MAX_MEMBER_BYTES,
                 ) -> Iterator[tuple[str, str, bytes | None, str | None]]:
    """Yield ``(mbid, member name, bytes or None, reason if None)`` for each record of one archive.

    Skipped and rejected members are counted (and logged) here. Tar or bzip2 errors become an
    :class:`ArchiveError` naming the archive.
    """
    try:
        with decompressed(path, decoder, threads) as stream, \
                tarfile.open(fileobj=stream, mode="r|") as tar:
            for info in tar:
                action, detail = classify_member(info)
                if action == "skip":
                    counts.skipped += 1
                    log.debug("%s: skipped %s (%s)", path.name, info.name, detail)
                    continue
                if action == "reject":
                    counts.rejected += 1
                    log.warning("%s: rejected member %r: %s", path.name, info.name, detail)
                    mbid = _mbid_of_name(info.name)
                    if mbid is not None:
                        yield mbid, info.name, None, f"rejected member: {detail}"
                    continue
                if info.size > max_member_bytes:
                    yield detail, info.name, None, f"member too large: {info.size} bytes"
                    continue
                handle = tar.extractfile(info)
                assert handle is not None
                yield detail, info.name, handle.read(), None
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"{path}: corrupt or truncated archive ({error})") from error


# ----------------------------------------------------------------------------- writing


def parquet_schema() -> pa.Schema:
    fields = [pa.field("mbid", pa.string(), nullable=False)]
    fields += [pa.field(name, pa.float32(), nullable=False) for name in FEATURE_NAMES]
    return pa.schema(fields)


def _record_batch(schema: pa.Schema, mbids: list[str], matrix: np.ndarray) -> pa.RecordBatch:
    columns = np.ascontiguousarray(matrix.T)  # one contiguous float32 run per column: no copies
    arrays = [pa.array(mbids, type=pa.string())]
    arrays += [pa.array(columns[j], type=pa.float32()) for j in range(N_FEATURES)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _clean(field: str) -> str:
    return field.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def convert(archives: Sequence[Path], out: Path, errors: Path, batch_size: int = 2048,
            decoder: str = "auto", threads: int = 1, compression: str = "snappy",
            max_member_bytes: int = MAX_MEMBER_BYTES) -> Counts:
    """Convert ``archives`` (in order) into one Parquet part and its errors TSV, atomically."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    chosen = choose_decoder(decoder)
    log.info("converting %d archive(s) with decoder %s (%d thread(s)), %d rows per row group",
             len(archives), chosen, threads, batch_size)
    schema = parquet_schema()
    counts = Counts()
    kept: dict[str, str] = {}
    matrix = np.zeros((batch_size, N_FEATURES), dtype=np.float32)
    mbids: list[str] = []

    with atomic_path(out) as tmp_out, atomic_open(errors) as error_file:
        error_file.write(ERRORS_HEADER)

        def fail(mbid: str, member: str, reason: str) -> None:
            counts.errored += 1
            error_file.write(f"{mbid}\t{_clean(member)}\t{_clean(reason)}\n")

        writer = pq.ParquetWriter(
            tmp_out, schema, compression=None if compression == "none" else compression,
            use_dictionary=False, write_statistics=["mbid"],
        )
        try:
            bar = progress(unit="doc", desc="convert")
            for archive in archives:
                before = dataclasses.replace(counts)
                for mbid, member, data, reason in iter_members(
                        archive, chosen, threads, counts, max_member_bytes):
                    counts.read += 1
                    bar.update()
                    if data is None:
                        fail(mbid, member, reason or "unreadable member")
                        continue
                    if mbid in kept:
                        counts.duplicates += 1
                        log.warning("duplicate MBID %s in %s (first kept: %s)",
                                    mbid, member, kept[mbid])
                        fail(mbid, member, f"duplicate mbid: first kept from {kept[mbid]}")
                        continue
                    row = matrix[len(mbids)]
                    try:
                        _, imputed = _parse_document(data, row)
                    except FeatureError as error:
                        fail(mbid, member, error.reason)
                        continue
                    kept[mbid] = member
                    mbids.append(mbid)
                    counts.converted += 1
                    counts.imputed += imputed
                    if imputed:
                        log.info("%s: imputed rhythm.beats_loudness.median", member)
                    if len(mbids) == batch_size:
                        writer.write_batch(_record_batch(schema, mbids, matrix))
                        mbids.clear()
                log.info("%s: read=%d converted=%d errored=%d skipped=%d rejected=%d", archive,
                         counts.read - before.read, counts.converted - before.converted,
                         counts.errored - before.errored, counts.skipped - before.skipped,
                         counts.rejected - before.rejected)
            bar.close()
            if mbids:
                writer.write_batch(_record_batch(schema, mbids, matrix[: len(mbids)]))
            writer.add_key_value_metadata({
                "abgd.feature_schema_version": str(FEATURE_SCHEMA_VERSION),
                "abgd.counts": json.dumps(dataclasses.asdict(counts), sort_keys=True),
                "abgd.archives": json.dumps([Path(a).name for a in archives]),
            })
        finally:
            writer.close()
    return counts


# ----------------------------------------------------------------------------- CLI


def decoder_threads(threads: int) -> int:
    """Decoder threads within a budget of ``threads`` CPUs, one of which parses the JSON."""
    return max(1, threads - 1)


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m abgd.convert",
        description="Stream AcousticBrainz feature archives (.tar.bz2) into one Parquet part "
        "(mbid + the 2669 float32 features) and a TSV of rejected records.",
    )
    parser.add_argument("--archive", type=Path, action="append", required=True,
                        help="input .tar.bz2 (repeat for several; rows keep this order)")
    parser.add_argument("--out", type=Path, required=True, help="output .parquet")
    parser.add_argument("--errors", type=Path, required=True, help="output errors .tsv")
    parser.add_argument("--batch-size", type=int, default=2048,
                        help="rows per Parquet row group (memory: 10.7 kB per row)")
    parser.add_argument("--decoder", choices=DECODERS, default="auto",
                        help="bzip2 decoder; auto = lbzip2, else pbzip2, else Python's bz2")
    parser.add_argument("--threads", type=int, default=_available_cpus(),
                        help="CPUs of the step: one parses, the rest (at least one) decode with "
                             "lbzip2/pbzip2 (default: available CPUs)")
    parser.add_argument("--compression", choices=("snappy", "zstd", "none"), default="snappy",
                        help="Parquet compression codec")
    parser.add_argument("--max-member-bytes", type=int, default=MAX_MEMBER_BYTES,
                        help="larger members are reported as errors instead of being read")
    parser.add_argument("-v", "--verbose", action="store_true", help="log skipped members")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    missing = [str(a) for a in args.archive if not a.is_file()]
    if missing:
        log.error("archive not found: %s", ", ".join(missing))
        return 1
    try:
        counts = convert(args.archive, args.out, args.errors, args.batch_size, args.decoder,
                         decoder_threads(args.threads), args.compression, args.max_member_bytes)
    except (ArchiveError, OSError) as error:
        # OSError here is a write that failed (disk full, quota): atomic_path removed the parts.
        log.error("conversion failed, no output written: %s", error)
        return 1
    log.info(counts.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
