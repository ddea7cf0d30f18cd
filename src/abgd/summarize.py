"""Collect evaluation JSONs into summary tables shaped like the paper's Tables 4 and 5.

Rows are keyed by system; an evaluation that carries a ``decoding`` or ``seed`` gets it appended
to the system name (``single/per_label``, ``random/seed1``) so variants never overwrite each
other. Two evaluations with the same key, source and split are an error, not a silent choice.
Evaluations of other splits are skipped and logged.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from abgd import published
from abgd.io import atomic_open, read_json, write_json
from abgd.metrics import OFFICIAL_COLUMNS
from abgd.progress import setup_logging

LOG = logging.getLogger("abgd.summarize")
SYSTEM_ORDER = ("random", "popularity", "single", "fusion")
CSV_COLUMNS = ("system", "source", *OFFICIAL_COLUMNS, "roc_auc")


def system_key(evaluation: Mapping[str, Any]) -> str:
    key = str(evaluation["system"])
    if evaluation.get("decoding") is not None:
        key += f"/{evaluation['decoding']}"
    if evaluation.get("seed") is not None:
        key += f"/seed{evaluation['seed']}"
    return key


def _base(key: str) -> str:
    return key.split("/", 1)[0]


def system_sort_key(key: str) -> tuple[int, str, str]:
    base = _base(key)
    rank = SYSTEM_ORDER.index(base) if base in SYSTEM_ORDER else len(SYSTEM_ORDER)
    return rank, base, key


def source_sort_key(source: str) -> tuple[int, str]:
    known = published.SOURCES
    return (known.index(source) if source in known else len(known), source)


def collect(evaluations: Iterable[tuple[str, Mapping[str, Any]]], split: str
            ) -> dict[str, dict[str, dict[str, Any]]]:
    """``{system: {source: metrics}}`` in the fixed system order, one split only."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    origin: dict[tuple[str, str], str] = {}
    for name, evaluation in evaluations:
        if evaluation.get("split") != split:
            LOG.info("skipping %s (split %r, not %r)", name, evaluation.get("split"), split)
            continue
        key, source = system_key(evaluation), str(evaluation["source"])
        if (key, source) in origin:
            raise ValueError(f"{name}: {key}/{source}/{split} already given by "
                             f"{origin[(key, source)]}")
        origin[(key, source)] = name
        table.setdefault(key, {})[source] = dict(evaluation["metrics"])
    return {k: dict(sorted(table[k].items(), key=lambda kv: source_sort_key(kv[0])))
            for k in sorted(table, key=system_sort_key)}


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{round(float(value), 4):.4f}"


def to_csv(table: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for system, sources in table.items():
        for source, values in sources.items():
            writer.writerow([system, source, *(_fmt(values.get(c)) for c in CSV_COLUMNS[2:])])
    return buffer.getvalue()


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell or "–" for cell in row) + " |" for row in rows]
    return lines


def to_markdown(table: Mapping[str, Mapping[str, Mapping[str, Any]]], split: str) -> str:
    sources = sorted({s for v in table.values() for s in v} | set(published.SOURCES),
                     key=source_sort_key)
    titles = [published.SOURCE_TITLES.get(s, s) for s in sources]
    out = [f"# Results on the {split} split", "",
           "## Table 4 shape: macro ROC AUC", "",
           f"Ours: {split} split. Paper: Oramas et al. 2018 Table 1 = ISMIR 2019 Table 4, "
           "official validation sets.", ""]
    rows = [[f"{system} (ours)", *(_fmt(table[system].get(s, {}).get("roc_auc"))
                                   for s in sources)] for system in table]
    rows += [[f"{system} (paper)", *(_fmt(values.get(s)) for s in sources)]
             for system, values in published.ROC_AUC.items()]
    out += _md_table(["system", *titles], rows)
    out += ["", "## Table 5 shape: precision / recall / F (eval.R, macro averages)", "",
            f"Ours: {split} split. Paper: hidden **test** sets (Oramas et al. 2018 Table 2 = "
            "`results/2018-allscores.csv`; random = run1, popularity = run2), so the numbers "
            "are not strictly comparable.", ""]
    header = ["system", "source", "who", *OFFICIAL_COLUMNS]
    rows = []
    for system, per_source in table.items():
        for source in sorted(per_source, key=source_sort_key):
            rows.append([system, source, "ours",
                         *(_fmt(per_source[source].get(c)) for c in OFFICIAL_COLUMNS)])
            paper = published.TEST_PRF.get(_base(system), {}).get(source)
            if paper is not None:
                rows.append([system, source, "paper (test)",
                             *(_fmt(paper[c]) for c in OFFICIAL_COLUMNS)])
    out += _md_table(header, rows)
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m abgd.summarize",
                                     description="Summarise evaluation JSONs into tables.")
    parser.add_argument("--evaluations", required=True, nargs="+", type=Path)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--out-json", required=True, type=Path)
    parser.add_argument("--out-csv", required=True, type=Path)
    parser.add_argument("--out-md", required=True, type=Path)
    parser.add_argument("--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    table = collect(((str(p), read_json(p)) for p in args.evaluations), args.split)
    if not table:
        raise SystemExit(f"no evaluation of split {args.split!r} among {len(args.evaluations)}")
    write_json(args.out_json, table)
    with atomic_open(args.out_csv) as handle:
        handle.write(to_csv(table))
    with atomic_open(args.out_md) as handle:
        handle.write(to_markdown(table, args.split))
    LOG.info("%d systems x sources summarised", sum(len(v) for v in table.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
