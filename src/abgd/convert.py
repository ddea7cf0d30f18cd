"""Stream feature archives (``.tar.bz2``) into one Parquet part without extracting anything to disk.

Why streaming: a train archive holds ~10 GB of JSON; extracting it costs disk space and one write
and one read of every byte. Here a bzip2 decoder feeds ``tarfile`` in stream mode (``r|``), each
``<uuid>.json`` member is parsed in memory, and rows go out in fixed-size Parquet row groups, so
peak memory is one batch (``batch_size × 2669`` float32) whatever the archive size.

Decoders: bzip2 decoding is the bottleneck (Python's ``bz2`` decodes ~50 MB/s on one core), so a
parallel decoder subprocess (``lbzip2``, else ``pbzip2``) is used when it is on PATH; every decoder
is drained to the end of the stream so that a truncated or corrupt archive always fails the job.
Decoding and parsing overlap instead of alternating: with two or more threads, Python's ``bz2``
runs in a background thread (it releases the GIL while decompressing) and hands the parsing
thread 4 MiB chunks through a short queue (``abgd.members``), so conversion takes about as long
as decoding alone (alternating in one thread also costs a quarter more, as each parse evicts the
decoder's working set). ``--threads`` is the job's whole budget: one thread parses and writes,
the rest decode.

Record policy: the file name's MBID is the key (never ``metadata.tags``, which can hold a redirected
MBID). Directories, AppleDouble ``._*`` files, ``.DS_Store`` and other names are skipped; absolute
paths, ``..``, links and device files are rejected with a logged reason. A bad record goes to the
errors TSV and conversion goes on; of duplicate MBIDs the first converted one is kept and later ones
are reported as errors (a duplicate of a record that failed is converted normally). The counts
(``read = converted + errored``) are stored in the Parquet key-value metadata as ``abgd.counts``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from abgd.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, N_FEATURES, FeatureError
from abgd.features import parse_document as _parse_document
from abgd.io import atomic_open, atomic_path
from abgd.members import (
    DECODERS,
    ERRORS_HEADER,
    MAX_MEMBER_BYTES,
    ArchiveError,
    Counts,
    choose_decoder,
    iter_members,
)
from abgd.progress import add_threads, parse_step_args, progress, step_parser
from abgd.tables import float32_columns, string_array

log = logging.getLogger("abgd.convert")

# ----------------------------------------------------------------------------- writing


def parquet_schema() -> pa.Schema:
    fields = [pa.field("mbid", pa.string(), nullable=False)]
    fields += [pa.field(name, pa.float32(), nullable=False) for name in FEATURE_NAMES]
    return pa.schema(fields)


def _record_batch(schema: pa.Schema, mbids: list[str], matrix: np.ndarray) -> pa.RecordBatch:
    # from the buffers: pa.array would import pandas (0.3-0.5 s) at the first, often the only,
    # batch of a part, when the archive is already decoded (see abgd.tables)
    arrays = [string_array(mbids), *float32_columns(matrix)]
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


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(
        "python -m abgd.convert",
        "Stream AcousticBrainz feature archives (.tar.bz2) into one Parquet part "
        "(mbid + the 2669 float32 features) and a TSV of rejected records.",
        verbose_help="log skipped members",
    )
    parser.add_argument("--archive", type=Path, action="append", required=True,
                        help="input .tar.bz2 (repeat for several; rows keep this order)")
    parser.add_argument("--out", type=Path, required=True, help="output .parquet")
    parser.add_argument("--errors", type=Path, required=True, help="output errors .tsv")
    parser.add_argument("--batch-size", type=int, default=2048,
                        help="rows per Parquet row group (memory: 10.7 kB per row)")
    parser.add_argument("--decoder", choices=DECODERS, default="auto",
                        help="bzip2 decoder; auto = lbzip2, else pbzip2, else Python's bz2")
    add_threads(parser, _available_cpus(),
                help="threads of the job, one of which parses: from 2 up, decoding runs "
                "alongside parsing (default: available CPUs)")
    parser.add_argument("--compression", choices=("snappy", "zstd", "none"), default="snappy",
                        help="Parquet compression codec")
    parser.add_argument("--max-member-bytes", type=int, default=MAX_MEMBER_BYTES,
                        help="larger members are reported as errors instead of being read")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    missing = [str(a) for a in args.archive if not a.is_file()]
    if missing:
        log.error("archive not found: %s", ", ".join(missing))
        return 1
    try:
        # the whole budget: members.decompressed splits it between parser and decoder
        counts = convert(args.archive, args.out, args.errors, args.batch_size, args.decoder,
                         args.threads, args.compression, args.max_member_bytes)
    except (ArchiveError, OSError) as error:
        # OSError here is a write that failed (disk full, quota): atomic_path removed the parts.
        log.error("conversion failed, no output written: %s", error)
        return 1
    log.info(counts.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
