"""Hidden-layer embeddings of a single-source model for every recording of the given sources.

The four sources overlap heavily, so each MBID is embedded once. Features are read one part
(and one chunk of MBIDs) at a time: only the embeddings — the model's last-hidden-layer width
in float32 per recording (256 for the paper's network, e.g. 8000 for a wide one: 32 kB each) —
are held for the whole run. MBIDs without features are counted and logged, not embedded.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# Lightning-free imports only: each embedding job would pay seconds for ``import lightning``.
from abgd.arrays import part_paths
from abgd.inference import configure_torch, load_network, score_rows
from abgd.inputs import read_features
from abgd.io import atomic_path
from abgd.nets import GenreNetMixin
from abgd.progress import add_threads, parse_step_args, progress, step_parser
from abgd.tables import read_parquet

log = logging.getLogger("abgd.embed")


def unique_mbids(groundtruth: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Sorted union of the MBIDs of several ground-truth files."""
    mbids: set[str] = set()
    for path in groundtruth:
        mbids.update(read_parquet(path, columns=["mbid"]).column("mbid").to_pylist())
    return sorted(mbids)


def column_names(width: int) -> list[str]:
    """``e000…`` with at least three digits (the paper's e000…e255) and as many as the widest
    index needs (e0000…e7999 for 8000), so names sort in column order."""
    digits = max(3, len(str(width - 1)))
    return [f"e{i:0{digits}d}" for i in range(width)]


def embed_parts(module: GenreNetMixin, features: Sequence[str | os.PathLike[str]],
                mbids: Sequence[str], chunk_rows: int = 65536, batch_size: int = 4096,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (rows of ``mbids``) and a found-mask, one feature part at a time.

    An MBID held by several parts is embedded from the first part listing it. Chunks follow
    the part's row order, so each chunk reads few row groups.
    """
    where = {m: i for i, m in enumerate(mbids)}
    out = np.zeros((len(mbids), module.embedding_width), dtype=np.float32)
    done = np.zeros(len(mbids), dtype=bool)
    for part in progress(part_paths(features), desc="parts", unit="part"):
        keys = read_parquet(part, columns=["mbid"]).column("mbid").to_pylist()
        rows = list(dict.fromkeys(where[k] for k in keys if k in where and not done[where[k]]))
        for start in range(0, len(rows), chunk_rows):
            chunk = rows[start:start + chunk_rows]
            x, found = read_features([part], [mbids[i] for i in chunk])
            if not found.all():
                raise ValueError(f"{part}: {int((~found).sum())} listed MBIDs could not be read")
            out[chunk] = score_rows(module, x, batch_size=batch_size, output="embed")
            done[chunk] = True
        log.info("%s: %d recordings embedded", part, len(rows))
    return out, done


def write_embeddings(path: str | os.PathLike[str], mbids: Sequence[str], values: np.ndarray,
                     row_group: int = 65536) -> None:
    """Parquet ``mbid`` + ``e000…``, written in row groups so no second full copy is made."""
    names = column_names(values.shape[1])
    schema = pa.schema([("mbid", pa.string())] + [(n, pa.float32()) for n in names])
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for start in range(0, len(mbids), row_group):
            block = values[start:start + row_group]
            arrays = [pa.array(mbids[start:start + row_group], pa.string())]
            arrays += [pa.array(block[:, j]) for j in range(block.shape[1])]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        if not mbids:
            writer.write_table(schema.empty_table())


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.embed", description=__doc__)
    parser.add_argument("--model-dir", required=True, help="single-source model folder")
    parser.add_argument("--features", nargs="+", required=True,
                        help="feature Parquet parts or .manifest.json files")
    parser.add_argument("--groundtruth", nargs="+", required=True,
                        help="ground-truth Parquet files whose recordings to embed")
    parser.add_argument("--out", required=True, help="embeddings Parquet to write")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--chunk-rows", type=int, default=65536,
                        help="feature rows read at once (bounds memory)")
    add_threads(parser, None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    configure_torch(args.threads, "cpu")
    module = load_network(args.model_dir)
    mbids = unique_mbids(args.groundtruth)
    values, found = embed_parts(module, args.features, mbids, args.chunk_rows, args.batch_size)
    missing = [mbids[i] for i in np.flatnonzero(~found)]
    if missing:
        log.warning("%d of %d recordings have no features and are not embedded, e.g. %s",
                    len(missing), len(mbids), missing[:5])
    keep = np.flatnonzero(found)
    write_embeddings(args.out, [mbids[i] for i in keep],
                     values if len(keep) == len(mbids) else values[keep])
    log.info("%d embeddings of width %d written to %s", len(keep), values.shape[1], args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
