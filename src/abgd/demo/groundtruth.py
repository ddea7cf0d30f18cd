"""The ground-truth TSVs of the mirror, in the release's byte layout (spec §2)."""

from __future__ import annotations

from collections.abc import Sequence

from abgd import release
from abgd.demo.world import World


def tsv_bytes(rows: Sequence[tuple[str, str, Sequence[str]]]) -> bytes:
    """Ground-truth TSV in the release's layout: header genre1..N, rows padded to N labels."""
    width = max((len(labels) for _, _, labels in rows), default=1)
    lines = ["\t".join(["recordingmbid", "releasegroupmbid",
                        *(f"genre{k}" for k in range(1, width + 1))])]
    for mbid, rg, labels in rows:
        if not labels:
            raise ValueError(f"recording {mbid} has no label")
        ordered = sorted(labels)
        lines.append("\t".join([mbid, rg, *ordered, *([""] * (width - len(ordered)))]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def groundtruth_rows(world: World, source: str, split: str) -> list[tuple[str, str, list[str]]]:
    want = release.SPLITS.index(split)
    rows = [(world.mbids[i], world.rg_mbids[int(world.rg_of[i])], labels)
            for i, labels in world.labels[source].items()
            if world.split_of_rg[int(world.rg_of[i])] == want]
    return sorted(rows)
