"""Draw one fit/holdout part per release group for every source at once (``split.scope: global``).

Reads the training ground truth of every source, links release groups that share a recording,
and assigns whole components to ``fit`` or ``holdout`` (``abgd.partition``). Each source's
``split`` step then takes its parts from this table and applies its own minimum label counts,
so an album, and a recording, is in the same part for every source and the fusion holdout
holds nothing a single-source model was fitted on.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from abgd import partition
from abgd.io import provenance, write_json
from abgd.progress import parse_step_args, step_parser
from abgd.tables import read_parquet

LOG = logging.getLogger("abgd.split_groups")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(
        prog="python -m abgd.split_groups",
        description="One release group -> fit/holdout table for all sources (connected "
                    "components of release groups linked by shared recordings).",
    )
    parser.add_argument("--groundtruth", nargs="+", required=True,
                        help="training ground-truth Parquets, one per source")
    parser.add_argument("--out", required=True, help="output TSV: release_group component part")
    parser.add_argument("--summary", required=True, help="output summary JSON")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--holdout-fraction", type=float, default=0.2,
                        help="fraction of release groups (over all sources) in holdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    pairs = []
    for path in args.groundtruth:
        table = read_parquet(path, columns=["mbid", "release_group"])
        pairs.append((table.column("mbid").to_pylist(), table.column("release_group").to_pylist()))
    components = partition.release_group_components(pairs)
    parts = partition.assign_components(components, args.holdout_fraction, args.seed)
    summary: dict[str, Any] = partition.assignment_summary(components, parts)
    summary["per_source"] = {
        Path(path).stem: {p: sum(parts[g] == p for g in set(groups)) for p in partition.PARTS}
        for path, (_, groups) in zip(args.groundtruth, pairs, strict=True)
    }
    summary["seed"] = args.seed
    summary["holdout_fraction"] = args.holdout_fraction
    summary["provenance"] = provenance(
        "split_groups", {"seed": args.seed, "holdout_fraction": args.holdout_fraction},
        list(args.groundtruth))
    partition.write_assignment(components, parts, args.out)
    write_json(args.summary, summary)
    LOG.info("%d release groups in %d components (largest %d): fit %d / holdout %d",
             summary["release_groups"], summary["components"], summary["largest_component"],
             summary["release_groups_per_part"]["fit"],
             summary["release_groups_per_part"]["holdout"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
