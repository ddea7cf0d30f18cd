"""A small AcousticBrainz data dump (``.tar.zst``, the final dumps' layout) for the tagger."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson

from abgd.demo.archives import _tarinfo
from abgd.demo.documents import _uuid
from abgd.io import atomic_path

#: The final AcousticBrainz dumps' layout: ``<root>/lowlevel/<2 hex>/<1 hex>/<mbid>-<n>.json``.
DUMP_ROOT = "acousticbrainz-lowlevel-json-20220623"


def _release_documents(archives: Sequence[Path]) -> list[tuple[str, bytes]]:
    """``(mbid, bytes)`` of every ``<mbid>.json`` member of release archives, in MBID order."""
    docs = []
    for archive in archives:
        with tarfile.open(archive, mode="r:bz2") as tar:
            for info in tar:
                name = Path(info.name).name
                if info.isreg() and name.endswith(".json"):
                    handle = tar.extractfile(info)
                    assert handle is not None
                    docs.append((name.removesuffix(".json"), handle.read()))
    return sorted(docs)


def dump_members(docs: Sequence[tuple[str, bytes]], seed: int,
                 ) -> list[tuple[str, bytes]]:
    """The members of a small dump: every document as ``-0``, a few again as ``-1``, bad ones.

    Bad members show what the tagger does with them (errors TSV, never a stop): a truncated
    document, one that is not JSON, one without a descriptor; a ``README`` is skipped.
    """
    rng = np.random.default_rng([seed, 17])
    members: list[tuple[str, bytes]] = []

    def path(mbid: str, n: int) -> str:
        return f"{DUMP_ROOT}/lowlevel/{mbid[:2]}/{mbid[2]}/{mbid}-{n}.json"

    for mbid, data in docs:
        members.append((path(mbid, 0), data))
        if rng.random() < 0.1:
            members.append((path(mbid, 1), data))
    bad = [_uuid(rng) for _ in range(3)]
    good = orjson.loads(docs[0][1]) if docs else {"lowlevel": {}}
    good.get("lowlevel", {}).pop("spectral_centroid", None)
    members += [(path(bad[0], 0), docs[0][1][: len(docs[0][1]) // 2] if docs else b"{"),
                (path(bad[1], 0), b"not json at all"),
                (path(bad[2], 0), orjson.dumps(good)),
                (f"{DUMP_ROOT}/README", b"a demo dump in the layout of AcousticBrainz's\n")]
    return sorted(members)


def write_dump(archives: Sequence[Path], out: Path, seed: int) -> int:
    """Write a ``.tar.zst`` in the dump layout from release archives; returns its members."""
    import zstandard

    members = dump_members(_release_documents(archives), seed)
    with atomic_path(out) as tmp, open(tmp, "wb") as raw, \
            zstandard.ZstdCompressor(level=3).stream_writer(raw) as stream, \
            tarfile.open(fileobj=stream, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for name, data in members:
            tar.addfile(_tarinfo(name, len(data)), io.BytesIO(data))
    return len(members)
