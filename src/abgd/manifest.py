"""Expose the Parquet parts of one split as a single dataset, without rewriting their bytes.

Why a manifest instead of a merged file: the parts are already in the final format, and
concatenating ~15 GB just to have one file name would double the disk use and the run time. The
manifest pins each part by row count and md5 (so a reader notices a part that changed under it),
carries the number of rejected records from the errors files, and reports MBIDs present in more
than one part (possible when archives overlap); those are not fatal, readers keep the first.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from abgd.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from abgd.io import md5_file, provenance, write_json
from abgd.members import ERRORS_HEADER
from abgd.progress import parse_step_args, step_parser
from abgd.tables import read_parquet

log = logging.getLogger("abgd.manifest")

MANIFEST_FORMAT = "abgd.features-manifest"
MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """An input is not a part written by ``abgd.convert`` with the current feature schema."""


def part_info(path: Path) -> dict[str, Any]:
    """Row count, md5 and conversion counts of one part; checks its feature schema."""
    meta = pq.ParquetFile(path).metadata
    kv = meta.metadata or {}
    version = kv.get(b"abgd.feature_schema_version", b"?").decode()
    if version != str(FEATURE_SCHEMA_VERSION):
        raise ManifestError(f"{path}: feature schema version {version}, "
                            f"expected {FEATURE_SCHEMA_VERSION}")
    names = meta.schema.to_arrow_schema().names
    if names[0] != "mbid" or tuple(names[1:]) != FEATURE_NAMES:
        raise ManifestError(f"{path}: columns are not mbid + FEATURE_NAMES")
    counts = json.loads(kv[b"abgd.counts"]) if b"abgd.counts" in kv else None
    return {"path": str(path), "rows": meta.num_rows, "row_groups": meta.num_row_groups,
            "bytes": path.stat().st_size, "md5": md5_file(path), "counts": counts}


def count_errors(path: Path) -> int:
    """Records listed in one errors TSV (header line checked, blank lines ignored)."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline()
        if header != ERRORS_HEADER:
            raise ManifestError(f"{path}: not an errors file (header {header.strip()!r})")
        return sum(1 for line in handle if line.strip())


def duplicate_mbids(parts: Sequence[Path]) -> list[dict[str, Any]]:
    """MBIDs found in more than one part (or twice in one), with the parts holding them."""
    where: dict[str, list[str]] = {}
    for path in parts:
        column = read_parquet(path, columns=["mbid"]).column("mbid").to_pylist()
        for mbid in column:
            where.setdefault(mbid, []).append(str(path))
    return [{"mbid": mbid, "parts": paths}
            for mbid, paths in sorted(where.items()) if len(paths) > 1]


def build_manifest(parts: Sequence[Path], errors: Sequence[Path]) -> dict[str, Any]:
    infos = [part_info(p) for p in parts]
    error_counts = [{"path": str(p), "records": count_errors(p)} for p in errors]
    duplicates = duplicate_mbids(parts)
    total = sum(i["rows"] for i in infos)
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "n_features": len(FEATURE_NAMES),
        "parts": infos,
        "total_rows": total,
        "unique_rows": total - sum(len(d["parts"]) - 1 for d in duplicates),
        "errors": error_counts,
        "errored_records": sum(e["records"] for e in error_counts),
        "duplicate_mbids": duplicates,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(
        prog="python -m abgd.manifest",
        description="Describe the Parquet parts of one split (rows, md5s, errors, duplicates) "
        "in one JSON manifest that readers can open as a single dataset.",
    )
    parser.add_argument("--parts", type=Path, nargs="+", required=True,
                        help="Parquet parts written by abgd.convert (paths stored as given)")
    parser.add_argument("--errors", type=Path, nargs="*", default=[],
                        help="the parts' errors TSV files")
    parser.add_argument("--out", type=Path, required=True, help="output manifest .json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    try:
        manifest = build_manifest(args.parts, args.errors)
    except (ManifestError, OSError) as error:
        log.error("%s", error)
        return 1
    manifest["provenance"] = provenance("manifest", inputs=[str(p) for p in args.parts])
    write_json(args.out, manifest)
    if manifest["duplicate_mbids"]:
        log.warning("%d MBID(s) appear in more than one part; readers keep the first",
                    len(manifest["duplicate_mbids"]))
    log.info("%s: %d parts, %d rows, %d errored records", args.out, len(args.parts),
             manifest["total_rows"], manifest["errored_records"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
