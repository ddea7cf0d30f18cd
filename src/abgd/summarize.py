"""Collect evaluation JSONs into summary tables shaped like the paper's Tables 4 and 5.

The paper's own numbers sit beside ours: Table 4 (ROC AUC) and Table 5 (P/R/F), both on the
official validation sets, the split we report. The 2018 challenge's hidden-test P/R/F follow
in a separate table, labelled as such, for reference only.

Naming rows. A system name may carry its variant as hyphen suffixes (``single-global``,
``single-consistent``, ``single-global-consistent``); each name is its own row. An evaluation
whose ``decoding`` / ``hierarchy`` is not already said by its name gets it appended
(``single/per_label``, ``fusion/consistent``), and a name that contradicts its JSON (``-global``
with ``decoding: per_label``) is an error: a mislabelled file would otherwise land in the wrong
row. ``hierarchy: none`` is the default and is never appended. Rows are ordered by family
(random, popularity, single, fusion, then the others alphabetically), where the family is the
name without its variant suffixes, then by name.

Seeds. When some source has evaluations of the same system under two or more seeds, every
source of that system is aggregated into one row without the seed: the mean of each metric, its
sample standard deviation over seeds (``<metric>_seed_sd``, n − 1, like R's ``sd``), ``n_seeds``
and ``seeds``. Counts (``n_*``) that agree across seeds are kept as they are. Bootstrap intervals
(``<metric>_ci95``, from ``abgd.evaluate --bootstrap``) are averaged endpoint by endpoint: the
result describes the recording-sampling uncertainty of one run, while ``± sd`` describes the
seed-to-seed spread; the two are shown side by side, not combined. A system evaluated under a
single seed keeps the seed in its name (``random/seed1``), as before.

Two evaluations with the same key, seed, source and split are an error, not a silent choice.
Evaluations of other splits are skipped and logged.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from abgd import published
from abgd.io import atomic_open, read_json, write_json
from abgd.metrics import OFFICIAL_COLUMNS
from abgd.progress import parse_step_args, step_parser
from abgd.systems import split_system

LOG = logging.getLogger("abgd.summarize")
SYSTEM_ORDER = ("random", "popularity", "single", "fusion", "multitask")
CSV_COLUMNS = ("system", "source", *OFFICIAL_COLUMNS, "roc_auc")
HEADLINE = ("roc_auc", "Ftrackall", "Flabelall")
EXTRA_CSV_COLUMNS = (
    "n_seeds", *(f"{m}_seed_sd" for m in HEADLINE),
    *(f"{m}_ci95_{end}" for m in HEADLINE for end in ("lo", "hi")),
)
REAL_DATASET = "acousticbrainz"


def _implied_decoding(tokens: Sequence[str]) -> str | None:
    if "global" in tokens:
        return "global"
    return "per_label" if tokens else None


def system_key(evaluation: Mapping[str, Any], with_seed: bool = True) -> str:
    key = str(evaluation["system"])
    _, tokens = split_system(key)
    decoding, hierarchy = evaluation.get("decoding"), evaluation.get("hierarchy")
    implied = _implied_decoding(tokens)
    if decoding is not None:
        if implied is None:
            key += f"/{decoding}"
        elif implied != decoding:
            raise ValueError(f"system {evaluation['system']!r} implies decoding {implied!r} "
                             f"but the evaluation says {decoding!r}")
    if hierarchy is not None:
        if hierarchy == "none" and "consistent" in tokens:
            raise ValueError(f"system {evaluation['system']!r} implies a consistent hierarchy "
                             "but the evaluation says 'none'")
        if hierarchy != "none" and "consistent" not in tokens:
            key += f"/{hierarchy}"
    if with_seed and evaluation.get("seed") is not None:
        key += f"/seed{evaluation['seed']}"
    return key


def _base(key: str) -> str:
    return split_system(key.split("/", 1)[0])[0]


def system_sort_key(key: str) -> tuple[int, str, str, str]:
    """Family rank, family, then the name before any ``/``: ``single`` before ``single-global``
    whatever was appended to either."""
    base = _base(key)
    rank = SYSTEM_ORDER.index(base) if base in SYSTEM_ORDER else len(SYSTEM_ORDER)
    return rank, base, key.split("/", 1)[0], key


def source_sort_key(source: str) -> tuple[int, str]:
    known = published.SOURCES
    return (known.index(source) if source in known else len(known), source)


def _numbers(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values
            if isinstance(v, int | float) and not isinstance(v, bool) and not math.isnan(v)]


def aggregate_seeds(runs: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """One metrics dict from several seeds' metrics (see the module docstring)."""
    out: dict[str, Any] = {}
    keys = sorted({k for m in runs.values() for k in m})
    for key in keys:
        values = [m.get(key) for m in runs.values()]
        if key.endswith("_ci95"):
            pairs = [v for v in values if isinstance(v, list | tuple) and None not in v]
            out[key] = np.mean(np.asarray(pairs, dtype=float), axis=0).tolist() if pairs \
                else None
            continue
        numbers = _numbers(values)
        if key.startswith("n_") and numbers and len(set(numbers)) == 1 \
                and len(numbers) == len(values):
            out[key] = values[0]
            continue
        out[key] = float(np.mean(numbers)) if numbers else None
        if not key.startswith("n_") and not key.endswith("_sd"):
            out[f"{key}_seed_sd"] = float(np.std(numbers, ddof=1)) if len(numbers) > 1 \
                else None
    out["n_seeds"] = len(runs)
    out["seeds"] = sorted(runs)
    return out


def collect(evaluations: Iterable[tuple[str, Mapping[str, Any]]], split: str
            ) -> dict[str, dict[str, dict[str, Any]]]:
    """``{system: {source: metrics}}`` in the fixed system order, one split only."""
    groups: dict[str, dict[str, dict[int | None, dict[str, Any]]]] = {}
    origin: dict[tuple[str, str], str] = {}
    for name, evaluation in evaluations:
        if evaluation.get("split") != split:
            LOG.info("skipping %s (split %r, not %r)", name, evaluation.get("split"), split)
            continue
        try:
            key = system_key(evaluation)
            base = system_key(evaluation, with_seed=False)
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from err
        source = str(evaluation["source"])
        if (key, source) in origin:
            raise ValueError(f"{name}: {key}/{source}/{split} already given by "
                             f"{origin[(key, source)]}")
        origin[(key, source)] = name
        seed = evaluation.get("seed")
        groups.setdefault(base, {}).setdefault(source, {})[seed] = dict(evaluation["metrics"])
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for base, sources in groups.items():
        multi = any(sum(seed is not None for seed in runs) > 1 for runs in sources.values())
        for source, runs in sources.items():
            if not multi:
                for seed, values in runs.items():
                    key = base if seed is None else f"{base}/seed{seed}"
                    table.setdefault(key, {})[source] = values
                continue
            if None in runs:
                raise ValueError(f"{base}/{source}/{split}: evaluations with and without a seed "
                                 f"cannot be aggregated ({origin[(base, source)]})")
            table.setdefault(base, {})[source] = aggregate_seeds(runs)
    return {k: dict(sorted(table[k].items(), key=lambda kv: source_sort_key(kv[0])))
            for k in sorted(table, key=system_sort_key)}


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{round(float(value), 4):.4f}"


def _interval(values: Mapping[str, Any], metric: str) -> list[float] | None:
    ci = values.get(f"{metric}_ci95")
    return ci if isinstance(ci, list | tuple) and len(ci) == 2 and None not in ci else None


def cell(values: Mapping[str, Any], metric: str, interval: bool = False) -> str:
    """``value``, ``mean ± sd`` over seeds, and ``[lo, hi]`` when asked and available."""
    text = _fmt(values.get(metric))
    if not text:
        return ""
    sd = values.get(f"{metric}_seed_sd")
    if (values.get("n_seeds") or 0) > 1 and sd is not None:
        text += f" ± {_fmt(sd)}"
    ci = _interval(values, metric) if interval else None
    if ci is not None:
        text += f" [{_fmt(ci[0])}, {_fmt(ci[1])}]"
    return text


def to_csv(table: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *EXTRA_CSV_COLUMNS])
    for system, sources in table.items():
        for source, values in sources.items():
            extra = [str(values.get("n_seeds") or ""),
                     *(_fmt(values.get(f"{m}_seed_sd")) for m in HEADLINE)]
            for m in HEADLINE:
                ci = _interval(values, m)
                extra += [_fmt(ci[0]), _fmt(ci[1])] if ci else ["", ""]
            writer.writerow([system, source, *(_fmt(values.get(c)) for c in CSV_COLUMNS[2:]),
                             *extra])
    return buffer.getvalue()


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell or "–" for cell in row) + " |" for row in rows]
    return lines


def dataset_banner(dataset: str | None) -> list[str]:
    """Title suffix and warning: demo numbers must never pass for results on the real data."""
    if dataset == REAL_DATASET:
        return []
    name = f"`{dataset}`" if dataset else "not stated (no --dataset)"
    return [f"> **Warning: dataset {name} is not the AcousticBrainz release; these numbers say "
            "nothing about the real data.**", ""]


def _dataset_label(dataset: str | None) -> str:
    if dataset == REAL_DATASET:
        return "AcousticBrainz Genre Dataset"
    if dataset == "demo":
        return "DEMO DATA (synthetic)"
    return f"dataset {dataset}, not the real data" if dataset else "dataset not stated"


def comparison_table(table: Mapping[str, Mapping[str, Mapping[str, Any]]],
                     sources: Sequence[str]) -> list[str]:
    header = ["system"]
    for source in sources:
        title = published.SOURCE_TITLES.get(source, source)
        header += [f"{title} ROC AUC", f"{title} Ftrackall"]
    rows = []
    for system, per_source in table.items():
        row = [system]
        for source in sources:
            values = per_source.get(source, {})
            row += [cell(values, "roc_auc", True), cell(values, "Ftrackall", True)]
        rows.append(row)
    return _md_table(header, rows)


def to_markdown(table: Mapping[str, Mapping[str, Mapping[str, Any]]], split: str,
                dataset: str | None = None) -> str:
    sources = sorted({s for v in table.values() for s in v} | set(published.SOURCES),
                     key=source_sort_key)
    titles = [published.SOURCE_TITLES.get(s, s) for s in sources]
    out = [f"# Results on the {split} split — {_dataset_label(dataset)}", "",
           *dataset_banner(dataset),
           f"## All systems: ROC AUC and Ftrackall — {_dataset_label(dataset)}", "",
           "Cells: value, `± sd` over seeds where several seeds were run, `[lo, hi]` = "
           "bootstrap 95 % interval over recordings where `abgd.evaluate --bootstrap` was used.",
           ""]
    out += comparison_table(table, sources)
    out += ["", "## Table 4 shape: macro ROC AUC", "",
            f"Ours: {split} split. Paper: Oramas et al. 2018 Table 1 = ISMIR 2019 Table 4, "
            "official validation sets.", ""]
    rows = [[f"{system} (ours)", *(cell(table[system].get(s, {}), "roc_auc", True)
                                   for s in sources)] for system in table]
    rows += [[f"{system} (paper)", *(_fmt(values.get(s)) for s in sources)]
             for system, values in published.ROC_AUC.items()]
    out += _md_table(["system", *titles], rows)
    out += ["", "## Table 5 shape: precision / recall / F (eval.R, macro averages)", "",
            f"Ours: {split} split. Paper, validation: ISMIR 2019 Table 5, on the official "
            "validation sets after per-label thresholding (the split of Table 4); it gives only "
            "the all-labels columns, with 3 decimals. Paper rows follow the first row of each "
            "family (single, fusion).", ""]
    header = ["system", "source", "who", *OFFICIAL_COLUMNS]
    rows = []
    shown: set[tuple[str, str]] = set()
    for system, per_source in table.items():
        for source in sorted(per_source, key=source_sort_key):
            rows.append([system, source, "ours",
                         *(cell(per_source[source], c) for c in OFFICIAL_COLUMNS)])
            family = _base(system)
            paper = published.VALIDATION_PRF.get(family, {}).get(source)
            if paper is not None and (family, source) not in shown:
                shown.add((family, source))
                rows.append([system, source, "paper, validation",
                             *(f"{paper[c]:.3f}" if c in paper else "" for c in OFFICIAL_COLUMNS)])
    out += _md_table(header, rows)
    out += ["", "## 2018 challenge, hidden test sets (reference only)", "",
            "Not the paper's Table 5 and not our split: the baselines' P/R/F on the MediaEval "
            "2018 hidden test sets (Oramas et al. 2018 Table 2 = `results/2018-allscores.csv`; "
            "random = run1, popularity = run2). Not comparable with the rows above.", ""]
    rows = [[family, source, "2018 challenge, hidden test",
             *(_fmt(values[c]) for c in OFFICIAL_COLUMNS)]
            for family, per_source in published.TEST_PRF.items()
            for source, values in per_source.items()]
    out += _md_table(header, rows)
    return "\n".join(out) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="python -m abgd.summarize",
                         description="Summarise evaluation JSONs into tables.")
    parser.add_argument("--evaluations", required=True, nargs="+", type=Path)
    parser.add_argument("--split", default="validation")
    parser.add_argument("--dataset",
                        help="dataset name from the config (demo, acousticbrainz, ...); any "
                        "other than acousticbrainz is labelled as not the real data")
    parser.add_argument("--out-json", required=True, type=Path)
    parser.add_argument("--out-csv", required=True, type=Path)
    parser.add_argument("--out-md", required=True, type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    table = collect(((str(p), read_json(p)) for p in args.evaluations), args.split)
    if not table:
        raise SystemExit(f"no evaluation of split {args.split!r} among {len(args.evaluations)}")
    write_json(args.out_json, table)
    with atomic_open(args.out_csv) as handle:
        handle.write(to_csv(table))
    with atomic_open(args.out_md) as handle:
        handle.write(to_markdown(table, args.split, args.dataset))
    LOG.info("%d systems x sources summarised", sum(len(v) for v in table.values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
