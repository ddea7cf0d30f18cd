"""Dataset statistics of the paper: Table 2, the overlap between sources, Table 3, Figures 1-2.

Ground truth is read from the data-contract Parquets as flat integer codes (one entry per
(recording, label)) rather than Python lists: AllMusic train alone has about 6 M label
assignments, and the pair counting for Table 3 is then a handful of numpy operations.

Table 3 estimator (the paper's equation (1), which ignores the multi-label structure):
over the recordings annotated by both sources X and Y (same MBID in the same split), every
pair (x, y) with x among the recording's X labels and y among its Y labels counts once for that
recording. With c(x, y) those counts and C their total, p(x, y) = c(x, y) / C and
p(y) = sum_x p(x, y) (the marginal of the same pair distribution, not a label frequency), and

    H~(X|Y) = - sum_{x,y: p(x,y) > 0} p(x, y) log2( p(x, y) / p(y) )    [bits].

Recordings contribute in proportion to |X labels| * |Y labels|. On the diagonal (X = Y) the
value is not 0, because a recording with k labels contributes k^2 pairs. The "genres only"
variant first removes subgenres from both sides; recordings left without a label on either
side then contribute no pairs.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from abgd import labels as lab
from abgd.io import atomic_open, atomic_path, provenance, write_json
from abgd.progress import progress, setup_logging

LOG = logging.getLogger("abgd.stats")
SOURCES = ("allmusic", "discogs", "lastfm", "tagtraum")
SPLITS = ("train", "validation")
SOURCE_NAMES = {"allmusic": "AllMusic", "discogs": "Discogs", "lastfm": "Lastfm",
                "tagtraum": "Tagtraum"}


@dataclass
class Coded:
    """One ground-truth file as flat arrays; entries are sorted by row."""

    mbid: np.ndarray  # str, one per recording
    release_group: np.ndarray  # str, one per recording
    row: np.ndarray  # int64, recording index of each (recording, label) entry
    code: np.ndarray  # int64, index into vocab of each entry
    vocab: list[str]

    @property
    def n(self) -> int:
        return len(self.mbid)

    def lengths(self) -> np.ndarray:
        return np.bincount(self.row, minlength=self.n)

    def is_genre(self) -> np.ndarray:
        """Per vocab entry: True for a genre, False for a subgenre."""
        return np.array([not lab.is_subgenre(x) for x in self.vocab], dtype=bool)

    def keep_codes(self, keep: np.ndarray) -> Coded:
        mask = keep[self.code]
        return Coded(self.mbid, self.release_group, self.row[mask], self.code[mask], self.vocab)


def coded_from_lists(mbids: Sequence[str], release_groups: Sequence[str],
                     label_lists: Sequence[Sequence[str]]) -> Coded:
    vocab = lab.vocabulary(label_lists)
    index = {x: i for i, x in enumerate(vocab)}
    lengths = [len(x) for x in label_lists]
    return Coded(
        mbid=np.asarray(list(mbids), dtype=str),
        release_group=np.asarray(list(release_groups), dtype=str),
        row=np.repeat(np.arange(len(label_lists), dtype=np.int64), lengths),
        code=np.fromiter((index[x] for labels in label_lists for x in labels), dtype=np.int64,
                         count=sum(lengths)),
        vocab=vocab,
    )


def read_coded(path: str | os.PathLike[str]) -> Coded:
    """Read a ground-truth Parquet straight into codes (labels sorted by name)."""
    table = pq.read_table(path, columns=["mbid", "release_group", "labels"])
    labels = table.column("labels").combine_chunks()
    if isinstance(labels, pa.ChunkedArray):  # empty table
        labels = pa.array([], type=pa.list_(pa.string()))
    lengths = pc.fill_null(pc.list_value_length(labels), 0).to_numpy().astype(np.int64)
    values = pc.list_flatten(labels)
    encoded = values.dictionary_encode()
    names = encoded.dictionary.to_pylist()
    order = np.argsort(np.asarray(names, dtype=object).astype(str), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    raw = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return Coded(
        mbid=np.asarray(table.column("mbid").to_pylist(), dtype=str),
        release_group=np.asarray(table.column("release_group").to_pylist(), dtype=str),
        row=np.repeat(np.arange(len(lengths), dtype=np.int64), lengths),
        code=rank[raw],
        vocab=[names[i] for i in order],
    )


def table2_row(data: Coded) -> dict[str, Any]:
    """Recordings, release groups, distinct genres/subgenres, mean genres/subgenres per row."""
    is_genre = data.is_genre()
    used = np.unique(data.code)
    entry_genre = is_genre[data.code]
    n = max(data.n, 1)
    return {
        "recordings": data.n,
        "release_groups": len(np.unique(data.release_group)),
        "genres": int(is_genre[used].sum()),
        "subgenres": int((~is_genre[used]).sum()),
        "genres_per_recording": float(entry_genre.sum() / n),
        "subgenres_per_recording": float((~entry_genre).sum() / n),
    }


def overlaps(mbids: dict[str, np.ndarray]) -> dict[str, int]:
    """Recordings shared by every pair of sources and by all of them (keys ``a&b``, ``all``)."""
    sets = {name: set(values.tolist()) for name, values in mbids.items()}
    result = {f"{a}&{b}": len(sets[a] & sets[b]) for a, b in itertools.combinations(sets, 2)}
    result["all"] = len(set.intersection(*sets.values())) if sets else 0
    return result


def _segment_positions(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 within each segment, for segments laid end to end."""
    total = int(lengths.sum())
    starts = np.cumsum(lengths) - lengths
    return np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)


def pair_counts(x: Coded, y: Coded) -> np.ndarray:
    """c(x, y) over the recordings in both (module docstring); shape (|x.vocab|, |y.vocab|)."""
    _, ix, iy = np.intersect1d(x.mbid, y.mbid, assume_unique=True, return_indices=True)
    k_of_x = np.full(x.n, -1, dtype=np.int64)
    k_of_x[ix] = np.arange(len(ix))
    y_len = y.lengths()
    y_start = np.cumsum(y_len) - y_len
    sel = k_of_x[x.row] >= 0
    x_codes, x_k = x.code[sel], k_of_x[x.row[sel]]
    reps = y_len[iy[x_k]]
    y_idx = np.repeat(y_start[iy[x_k]], reps) + _segment_positions(reps)
    keys = np.repeat(x_codes, reps) * len(y.vocab) + y.code[y_idx]
    counts = np.bincount(keys, minlength=len(x.vocab) * len(y.vocab))
    return counts.reshape(len(x.vocab), len(y.vocab))


def entropy_from_counts(counts: np.ndarray) -> float:
    """H~(X|Y) in bits from a pair-count matrix with X on rows; NaN when there are no pairs."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    p = counts / total
    py = np.broadcast_to(p.sum(axis=0, keepdims=True), p.shape)
    nz = p > 0
    value = float(-(p[nz] * np.log2(p[nz] / py[nz])).sum())
    return value if value > 0.0 else 0.0  # no "-0.00" from rounding


def pseudo_conditional_entropy(x: Coded, y: Coded, genres_only: bool = False) -> float:
    if genres_only:
        x, y = x.keep_codes(x.is_genre()), y.keep_codes(y.is_genre())
    return entropy_from_counts(pair_counts(x, y))


def genre_distribution(data: Coded) -> dict[str, int]:
    """Recordings per genre label, largest first (ties by name)."""
    is_genre = data.is_genre()
    counts = np.bincount(data.code, minlength=len(data.vocab))
    pairs = [(data.vocab[i], int(counts[i])) for i in np.flatnonzero(is_genre & (counts > 0))]
    return dict(sorted(pairs, key=lambda item: (-item[1], item[0])))


def labels_per_recording(data: Coded) -> np.ndarray:
    """Matrix [n_genres, n_subgenres] -> number of recordings."""
    entry_genre = data.is_genre()[data.code]
    ng = np.bincount(data.row[entry_genre], minlength=data.n)
    ns = np.bincount(data.row[~entry_genre], minlength=data.n)
    if data.n == 0:
        return np.zeros((1, 1), dtype=np.int64)
    matrix = np.zeros((ng.max() + 1, ns.max() + 1), dtype=np.int64)
    np.add.at(matrix, (ng, ns), 1)
    return matrix


# ---------------------------------------------------------------- rendering

def _fmt_int(value: int) -> str:
    return f"{value:,}"


def _fmt_bits(value: float) -> str:
    return "—" if value != value else f"{value:.2f}"  # NaN: no recording in common


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   align: Sequence[str]) -> str:
    """Aligned Markdown table; ``align`` holds 'l' or 'r' per column."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    widths = [max(w, 3) for w in widths]

    def line(cells: Sequence[str]) -> str:
        out = [c.ljust(w) if a == "l" else c.rjust(w)
               for c, w, a in zip(cells, widths, align, strict=True)]
        return "| " + " | ".join(out) + " |"

    rule = ["-" * (w - 1) + ":" if a == "r" else "-" * w
            for w, a in zip(widths, align, strict=True)]
    return "\n".join([line(header), "| " + " | ".join(rule) + " |", *map(line, rows)])


def render_markdown(stats: dict[str, Any]) -> str:
    sources = stats["sources"]
    name = [SOURCE_NAMES.get(s, s) for s in sources]
    parts = ["# AcousticBrainz Genre Dataset statistics", ""]
    parts += ["## Table 2: ground truth per source and split", ""]
    rows = [[SOURCE_NAMES.get(r["source"], r["source"]), r["split"], _fmt_int(r["recordings"]),
             _fmt_int(r["release_groups"]), _fmt_int(r["genres"]), _fmt_int(r["subgenres"]),
             f"{r['genres_per_recording']:.2f}", f"{r['subgenres_per_recording']:.2f}"]
            for r in stats["table2"]]
    parts += [markdown_table(["Source", "Split", "Recordings", "Release groups", "Genres",
                              "Subgenres", "Genres/rec.", "Subgenres/rec."], rows,
                             "llrrrrrr"), ""]
    parts += ["## Recordings shared between sources", ""]
    for split, ov in stats["overlap"].items():
        matrix = []
        for a in sources:
            cells = [SOURCE_NAMES.get(a, a)]
            for b in sources:
                if a == b:
                    cells.append("—")
                else:
                    key = f"{a}&{b}" if f"{a}&{b}" in ov else f"{b}&{a}"
                    cells.append(_fmt_int(ov[key]))
            matrix.append(cells)
        parts += [f"**{split}** (all four sources: {_fmt_int(ov['all'])})", ""]
        parts += [markdown_table(["", *name], matrix, "l" + "r" * len(sources)), ""]
    parts += ["## Table 3: pseudo conditional entropy H̃(X|Y) in bits (X = row, Y = column)", ""]
    for split, scopes in stats["table3"].items():
        for scope, matrix_values in scopes.items():
            rows = [[SOURCE_NAMES.get(a, a),
                     *(_fmt_bits(matrix_values[a][b]) for b in sources)] for a in sources]
            parts += [f"**{split}, {scope.replace('_', ' ')}**", ""]
            parts += [markdown_table(["X \\ Y", *name], rows, "l" + "r" * len(sources)), ""]
    return "\n".join(parts)


def plot_figure1(dist: dict[str, dict[str, dict[str, int]]], path: Path) -> None:
    """Recordings per genre, one panel per source, log scale, train and validation bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(dist)
    fig, axes = plt.subplots(len(sources), 1, figsize=(12, 3.6 * len(sources)), squeeze=False)
    for ax, source in zip(axes[:, 0], sources, strict=True):
        by_split = dist[source]
        first = next(iter(by_split.values()), {})
        names = list(first)
        for other in by_split.values():
            names += [g for g in other if g not in names]
        x = np.arange(len(names))
        width = 0.8 / max(len(by_split), 1)
        for j, (split, counts) in enumerate(by_split.items()):
            ax.bar(x + j * width, [counts.get(g, 0) for g in names], width, label=split)
        ax.set_yscale("log")
        ax.set_xticks(x + width * (len(by_split) - 1) / 2, names, rotation=60, ha="right",
                      fontsize=8)
        ax.set_ylabel("recordings")
        ax.set_title(SOURCE_NAMES.get(source, source))
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_figure2(matrices: dict[str, np.ndarray], path: Path, split: str) -> None:
    """Heatmap of recordings by (number of genres, number of subgenres), one panel per source."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    sources = list(matrices)
    fig, axes = plt.subplots(1, len(sources), figsize=(4.5 * len(sources), 4.2), squeeze=False)
    for ax, source in zip(axes[0], sources, strict=True):
        m = matrices[source]
        shown = np.ma.masked_equal(m, 0)
        vmax = max(int(m.max()), 1)
        image = ax.imshow(shown, origin="lower", cmap="viridis", aspect="auto",
                          norm=LogNorm(vmin=1, vmax=max(vmax, 2)))
        ax.set_xticks(range(m.shape[1]))
        ax.set_yticks(range(m.shape[0]))
        if m.size <= 400:  # small grids: print the counts in the cells
            for (i, j), count in np.ndenumerate(m):
                if count:
                    ax.text(j, i, f"{count:,}", ha="center", va="center", fontsize=6,
                            color="white" if count < np.sqrt(vmax) else "black")
        ax.set_xlabel("subgenres per recording")
        ax.set_ylabel("genres per recording")
        ax.set_title(f"{SOURCE_NAMES.get(source, source)} ({split})")
        fig.colorbar(image, ax=ax, label="recordings")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def _write_csv(path: Path, header: Sequence[str], rows: list[Sequence[Any]]) -> None:
    with atomic_open(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


# ---------------------------------------------------------------- driver

def compute(data: dict[str, dict[str, Coded]]) -> dict[str, Any]:
    """All statistics for ``data[source][split]``."""
    sources = list(data)
    splits = list(next(iter(data.values()))) if data else []
    table2 = [{"source": s, "split": sp, **table2_row(data[s][sp])}
              for s in sources for sp in splits]
    overlap = {sp: overlaps({s: data[s][sp].mbid for s in sources}) for sp in splits}
    table3: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    # c(y, x) is the transpose of c(x, y): one count per unordered pair gives both cells.
    jobs = [(sp, scope, a, b) for sp in splits for scope in ("all_labels", "genres_only")
            for i, a in enumerate(sources) for b in sources[i:]]
    for sp, scope, a, b in progress(jobs, desc="table 3"):
        x, y = data[a][sp], data[b][sp]
        if scope == "genres_only":
            x, y = x.keep_codes(x.is_genre()), y.keep_codes(y.is_genre())
        counts = pair_counts(x, y)
        cells = table3.setdefault(sp, {}).setdefault(scope, {})
        cells.setdefault(a, {})[b] = entropy_from_counts(counts)
        cells.setdefault(b, {})[a] = entropy_from_counts(counts.T)
    for scopes in table3.values():  # fixed row/column order for the outputs
        for scope, cells in scopes.items():
            scopes[scope] = {a: {b: cells[a][b] for b in sources} for a in sources}
    dist = {s: {sp: genre_distribution(data[s][sp]) for sp in splits} for s in sources}
    per_rec = {s: {sp: labels_per_recording(data[s][sp]) for sp in splits} for s in sources}
    return {"sources": sources, "splits": splits, "table2": table2, "overlap": overlap,
            "table3": table3, "genre_distribution": dist, "labels_per_recording": per_rec}


def write_outputs(stats: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["source", "split", "recordings", "release_groups", "genres", "subgenres",
               "genres_per_recording", "subgenres_per_recording"]
    _write_csv(out_dir / "table2.csv", columns,
               [[r[c] for c in columns] for r in stats["table2"]])
    _write_csv(out_dir / "overlap.csv", ["split", "sources", "recordings"],
               [[sp, key, n] for sp, ov in stats["overlap"].items() for key, n in ov.items()])
    _write_csv(out_dir / "table3.csv", ["split", "scope", "x", "y", "entropy_bits"],
               [[sp, scope, a, b, v] for sp, scopes in stats["table3"].items()
                for scope, m in scopes.items() for a, row in m.items() for b, v in row.items()])
    _write_csv(out_dir / "genre_distribution.csv", ["source", "split", "genre", "recordings"],
               [[s, sp, g, n] for s, by in stats["genre_distribution"].items()
                for sp, d in by.items() for g, n in d.items()])
    _write_csv(out_dir / "labels_per_recording.csv",
               ["source", "split", "genres", "subgenres", "recordings"],
               [[s, sp, i, j, int(m[i, j])] for s, by in stats["labels_per_recording"].items()
                for sp, m in by.items() for i, j in zip(*np.nonzero(m), strict=True)])
    with atomic_open(out_dir / "stats.md") as handle:
        handle.write(render_markdown(stats))
    plot_figure1(stats["genre_distribution"], out_dir / "figure1_genre_distribution.png")
    fig2_split = "train" if "train" in stats["splits"] else stats["splits"][0]
    plot_figure2({s: by[fig2_split] for s, by in stats["labels_per_recording"].items()},
                 out_dir / "figure2_labels_per_recording.png", fig2_split)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m abgd.stats",
        description="Dataset statistics (paper Tables 2-3, Figures 1-2) from ground-truth "
                    "Parquets DIR/<source>-<split>.parquet.",
    )
    parser.add_argument("--groundtruth-dir", required=True, type=Path)
    parser.add_argument("--sources", nargs="+", default=list(SOURCES))
    parser.add_argument("--splits", nargs="+", default=list(SPLITS))
    parser.add_argument("--out-dir", required=True, type=Path)
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    paths = {s: {sp: args.groundtruth_dir / f"{s}-{sp}.parquet" for sp in args.splits}
             for s in args.sources}
    missing = [str(p) for by in paths.values() for p in by.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"missing ground-truth file(s): {', '.join(missing)}")
    data = {s: {sp: read_coded(p) for sp, p in by.items()} for s, by in paths.items()}
    stats = compute(data)
    write_outputs(stats, args.out_dir)
    summary = {k: v for k, v in stats.items() if k != "labels_per_recording"}
    summary["labels_per_recording"] = {
        s: {sp: m.tolist() for sp, m in by.items()}
        for s, by in stats["labels_per_recording"].items()
    }
    summary["provenance"] = provenance(
        "stats", {"sources": args.sources, "splits": args.splits},
        [str(p) for by in paths.values() for p in by.values()],
    )
    write_json(args.out_dir / "stats.json", _finite(summary))
    LOG.info("statistics written to %s", args.out_dir)
    return 0


def _finite(obj: Any) -> Any:
    """NaN (no shared recordings) becomes null: JSON has no NaN."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


if __name__ == "__main__":
    raise SystemExit(main())
