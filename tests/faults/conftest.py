"""Small builders for the fault matrix: documents, archives, ground truth, errors files.

Everything is synthetic (``abgd.demo.make_document`` gives a complete, valid document), so the
fault tests never depend on ``../shared/data`` and never skip. The test modules import these
helpers with ``from conftest import ...`` (pytest puts this folder on ``sys.path``).
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from abgd import convert as C
from abgd.demo import dumps_document, make_document
from abgd.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[2]


def mbid(i: int) -> str:
    """A valid lowercase UUID that is easy to tell apart in a failure message."""
    return str(uuid.UUID(int=0xFA017000_0000_4000_8000_000000000000 + i))


@cache
def _base_document() -> str:
    return dumps_document(make_document(np.random.default_rng(20190101))).decode()


def document(marker: float = 0.5) -> dict[str, Any]:
    """A fresh valid document; ``marker`` sets ``lowlevel.average_loudness`` to tell rows apart."""
    doc = json.loads(_base_document())
    doc["lowlevel"]["average_loudness"] = marker
    return doc


def dumps(doc: Any) -> bytes:
    # The standard library writes NaN/Infinity tokens, as some extractor builds did.
    return json.dumps(doc).encode()


def member_name(mbid_: str) -> str:
    return f"features/{mbid_[:2]}/{mbid_}.json"


def make_archive(path: Path, members: Iterable[tuple[str | tarfile.TarInfo, bytes | None]],
                 ) -> Path:
    """``(name, bytes)`` adds a regular file; ``(TarInfo, None)`` adds that entry as it is."""
    with tarfile.open(path, "w:bz2") as tar:
        for name, data in members:
            if isinstance(name, tarfile.TarInfo):
                tar.addfile(name)
                continue
            assert data is not None
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def read_errors(path: Path) -> list[list[str]]:
    """The errors TSV as rows of ``[mbid, member, reason]`` (header checked)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] + "\n" == C.ERRORS_HEADER, f"{path}: header {lines[0]!r}"
    return [line.split("\t") for line in lines[1:]]


def parquet_mbids(path: Path) -> list[str]:
    return pq.read_table(path, columns=["mbid"]).column("mbid").to_pylist()


def counts_of(path: Path) -> dict[str, int]:
    return json.loads(pq.ParquetFile(path).metadata.metadata[b"abgd.counts"])


def assert_nothing_lost(input_mbids: Sequence[str], parquet: Path, errors: Path) -> None:
    """Every input record is a row or an error line, and the stored counts say the same."""
    rows = parquet_mbids(parquet)
    errored = [row[0] for row in read_errors(errors)]
    assert len(rows) == len(set(rows)), "an MBID was converted twice"
    assert sorted(rows + errored) == sorted(input_mbids)
    counts = counts_of(parquet)
    assert counts["read"] == counts["converted"] + counts["errored"] == len(input_mbids)
    assert counts["converted"] == len(rows) and counts["errored"] == len(errored)


def leftovers(folder: Path) -> list[str]:
    """Temporary files an interrupted atomic write might have left (``.name.XXXX.tmp``)."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


def feature_table(mbids: Sequence[str], matrix: np.ndarray) -> pa.Table:
    """A feature part with the exact schema and metadata ``abgd.convert`` writes."""
    arrays = [pa.array(list(mbids), pa.string())]
    arrays += [pa.array(matrix[:, j].astype(np.float32)) for j in range(matrix.shape[1])]
    table = pa.Table.from_arrays(arrays, schema=C.parquet_schema())
    return table.replace_schema_metadata(
        {"abgd.feature_schema_version": str(FEATURE_SCHEMA_VERSION)})


def write_features(path: Path, mbids: Sequence[str], matrix: np.ndarray) -> Path:
    assert matrix.shape == (len(mbids), len(FEATURE_NAMES))
    pq.write_table(feature_table(mbids, matrix), path)
    return path


def tsv(rows: Iterable[Sequence[str]], width: int = 3) -> str:
    """An official-layout ground-truth TSV (header ``genre1..N``, short rows padded)."""
    header = ["recordingmbid", "releasegroupmbid", *(f"genre{k}" for k in range(1, width + 1))]
    lines = ["\t".join(header)]
    for row in rows:
        lines.append("\t".join([*row, *([""] * (width + 2 - len(row)))]))
    return "\n".join(lines) + "\n"


def tiny_study(folder: Path, n: int = 40, labels: Sequence[str] = ("jazz", "rock"),
               without_features: Sequence[int] = (), extra_features: int = 0,
               seed: int = 0) -> dict[str, Path | list[str]]:
    """Inputs of ``train_single``/``predict`` for ``n`` labelled recordings.

    Recordings at ``without_features`` indices get labels but no feature row; ``extra_features``
    feature rows have no labels. Labels follow feature 0's sign so a model has something to learn.
    """
    import pandas as pd

    from abgd.io import write_json
    from abgd.labels import make_groundtruth, write_groundtruth_parquet

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = [mbid(1000 + i) for i in range(n)]
    groups = [mbid(5000 + i // 2) for i in range(n)]  # two recordings per release group
    x = rng.standard_normal((n + extra_features, len(FEATURE_NAMES))).astype(np.float32)
    label_lists = [[labels[0]] if x[i, 0] > 0 else [labels[1]] for i in range(n)]
    for i in range(0, n, 5):
        label_lists[i] = sorted(labels)
    unlabelled = [mbid(9000 + i) for i in range(extra_features)]
    keep = [i for i in range(n + extra_features) if i not in set(without_features)]
    feature_ids = [(ids + unlabelled)[i] for i in keep]
    features = write_features(folder / "features.parquet", feature_ids, x[keep])
    truth = folder / "groundtruth.parquet"
    write_groundtruth_parquet(make_groundtruth(ids, groups, label_lists), truth)
    parts = ["holdout" if (i // 2) % 4 == 0 else "fit" for i in range(n)]
    split = folder / "split.tsv"
    pd.DataFrame({"mbid": ids, "release_group": groups, "part": parts}).to_csv(
        split, sep="\t", index=False)
    summary = folder / "split.json"
    write_json(summary, {"labels": sorted(labels)})
    return {"features": features, "groundtruth": truth, "split": split,
            "split_summary": summary, "mbids": ids, "unlabelled": unlabelled}


def train_args(study: dict[str, Any], out_dir: Path, *extra: str) -> list[str]:
    return ["--features", str(study["features"]), "--groundtruth", str(study["groundtruth"]),
            "--split", str(study["split"]), "--split-summary", str(study["split_summary"]),
            "--out-dir", str(out_dir), "--hidden", "8", "--threads", "1",
            "--accelerator", "cpu", *extra]
