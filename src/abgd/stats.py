"""Dataset statistics of the paper: Table 2, the overlap between sources, Table 3, Figures 1-2.

Ground truth is read from the data-contract Parquets as flat integer codes (one entry per
(recording, label)) rather than Python lists: AllMusic train alone has about 6 M label
assignments, and the pair counting for Table 3 is then a handful of numpy operations.

Table 3 estimator: the paper's equation (1) read literally (dataset-spec §7.6). For sources X
and Y, the N recordings annotated by both (same MBID, at least one label, of the scope in use,
from each) are counted; n(x, y) is the number of them carrying X's label x and Y's label y,
n(y) the number carrying y, p(x, y) = n(x, y) / N, p(y) = n(y) / N, and

    H~(X|Y) = - sum_{x,y: n(x,y) > 0} p(x, y) log2( p(x, y) / p(y) )    [bits].

"Ignoring the multi-label nature", p(x, y) and p(y) are shares of recordings, not of label
pairs, so they do not sum to one: a recording with k labels of X and m of Y adds k * m terms,
and the value grows with the labels per recording (the paper's AllMusic diagonal is 59.6, far
above log2 of its 766 labels). H~(X|X) is not 0: two different labels of one recording add
-log2 p(x | x'). The "genres only" variant first removes subgenres from both sides.

Choices the paper does not state, printed under the table in ``stats.md``:

* Log base 2. A different base scales every cell by the same factor (nats = bits × 0.693),
  so it cannot reorder the table; base 2 is the one that gives the paper's magnitudes with
  plausible conditionals. AllMusic has 1.33 genres and 3.14 subgenres per track: about 4
  (subgenre | genre) pairs, 4 (genre | own subgenre) pairs that add almost nothing, and, with
  the spread of subgenre counts, about 10 ordered subgenre pairs per recording. 59.6 then
  means about 4 units of -log p(x|y) per informative pair: p(x|y) ≈ 1/16 in bits, plausible
  for a subgenre given its genre or a co-occurring subgenre, but ≈ 1/55 in nats. On genres
  only, about 0.7 ordered genre pairs per recording and the diagonal 1.94 give p(x|y) ≈ 0.15
  between co-occurring genres in bits (21 genres), ≈ 0.06 in nats.
* Recordings: train and validation pooled (the public part of the release; the paper's Table 2
  covers the whole release including the hidden test sets, which are not public). The
  official split keeps every recording in one partition for all sources, so pooling does not
  mix a recording's train labels of one source with validation labels of another.
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

from abgd import labels as lab
from abgd import published
from abgd.io import atomic_open, atomic_path, provenance, write_json
from abgd.progress import parse_step_args, progress, step_parser
from abgd.tables import read_parquet

LOG = logging.getLogger("abgd.stats")
SOURCES = ("allmusic", "discogs", "lastfm", "tagtraum")
SPLITS = ("train", "validation")
SOURCE_NAMES = {"allmusic": "AllMusic", "discogs": "Discogs", "lastfm": "Lastfm",
                "tagtraum": "Tagtraum"}
SCOPES = ("all_labels", "genres_only")
SCOPE_TITLES = {"all_labels": "(a) genre and subgenre labels",
                "genres_only": "(b) genre labels only"}


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
    table = read_parquet(path, columns=["mbid", "release_group", "labels"])
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
    """n(x, y) over the recordings in both (module docstring); shape (|x.vocab|, |y.vocab|).

    Labels are unique within a recording, so each (x, y) pair counts one recording.
    """
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


@dataclass
class Cooccurrence:
    """Counts of equation (1) for one pair of sources (see the module docstring)."""

    counts: np.ndarray  # n(x, y), X on rows
    n_x: np.ndarray  # recordings (of the N) carrying each x
    n_y: np.ndarray  # recordings (of the N) carrying each y
    n: int  # N: recordings with at least one label from each source


def cooccurrence(x: Coded, y: Coded) -> Cooccurrence:
    _, ix, iy = np.intersect1d(x.mbid, y.mbid, assume_unique=True, return_indices=True)
    both = (x.lengths()[ix] > 0) & (y.lengths()[iy] > 0)

    def carrying(data: Coded, rows: np.ndarray) -> np.ndarray:
        member = np.zeros(data.n, dtype=bool)
        member[rows] = True
        return np.bincount(data.code[member[data.row]], minlength=len(data.vocab))

    return Cooccurrence(pair_counts(x, y), carrying(x, ix[both]), carrying(y, iy[both]),
                        int(both.sum()))


def conditional_entropy(counts: np.ndarray, n_y: np.ndarray, n: int) -> float:
    """H~(X|Y) in bits, equation (1), from n(x, y), n(y) and N; NaN when N = 0."""
    if n == 0:
        return float("nan")
    rows, cols = np.nonzero(counts)
    joint = counts[rows, cols].astype(np.float64)
    value = float(-(joint / n * np.log2(joint / n_y[cols])).sum())
    return value if value > 0.0 else 0.0  # no "-0.00" from rounding


def pseudo_conditional_entropy(x: Coded, y: Coded, genres_only: bool = False) -> float:
    if genres_only:
        x, y = x.keep_codes(x.is_genre()), y.keep_codes(y.is_genre())
    co = cooccurrence(x, y)
    return conditional_entropy(co.counts, co.n_y, co.n)


def concat_coded(parts: Sequence[Coded], name: str = "") -> Coded:
    """Several ground truths of one source (e.g. train and validation) as one."""
    vocab = sorted(set().union(*(p.vocab for p in parts)))
    index = {label: i for i, label in enumerate(vocab)}
    mbid = np.concatenate([p.mbid for p in parts]) if parts else np.array([], dtype=str)
    if len(np.unique(mbid)) != len(mbid):
        raise ValueError(f"{name or 'ground truths'}: a recording is listed in two splits")
    offsets = np.cumsum([0, *(p.n for p in parts)])
    return Coded(
        mbid=mbid,
        release_group=np.concatenate([p.release_group for p in parts]) if parts else mbid,
        row=np.concatenate([p.row + off for p, off in zip(parts, offsets, strict=False)])
        if parts else np.array([], dtype=np.int64),
        code=np.concatenate([np.array([index[v] for v in p.vocab], dtype=np.int64)[p.code]
                             if len(p.vocab) else p.code for p in parts])
        if parts else np.array([], dtype=np.int64),
        vocab=vocab,
    )


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


def _table2_cells(row: dict[str, Any]) -> list[str]:
    return [_fmt_int(int(row["recordings"])), _fmt_int(int(row["release_groups"])),
            _fmt_int(int(row["genres"])), _fmt_int(int(row["subgenres"])),
            f"{row['genres_per_recording']:.2f}", f"{row['subgenres_per_recording']:.2f}"]


def _entropy_table(matrix: dict[str, dict[str, float]], sources: Sequence[str],
                   as_published: bool = False) -> str:
    """Ours with 2 decimals; the paper's values as printed there (59.6, 29, 1.94)."""
    fmt = (lambda v: f"{v:g}") if as_published else _fmt_bits
    rows = [[SOURCE_NAMES.get(a, a), *(fmt(matrix[a][b]) for b in sources)]
            for a in sources]
    return markdown_table(["X \\ Y", *(SOURCE_NAMES.get(s, s) for s in sources)], rows,
                          "l" + "r" * len(sources))


def table3_note(stats: dict[str, Any]) -> str:
    """The choices the paper leaves open, printed under Table 3."""
    subset = stats["table3_estimator"]["recordings"].replace("+", " + ")
    return ("Estimator: the paper's equation (1) with p(x, y) = n(x, y) / N and p(y) = n(y) / N, "
            "shares of the N recordings annotated by both sources (not renormalised over label "
            f"pairs). Log base 2 (bits; the paper does not state it). Recordings: {subset} "
            "pooled, those listed with at least one label (of the table's scope) by both "
            "sources; the paper does not say which recordings it used (its Table 2 covers the "
            "whole release, hidden test sets included).")


def render_markdown(stats: dict[str, Any]) -> str:
    sources = stats["sources"]
    name = [SOURCE_NAMES.get(s, s) for s in sources]
    parts = ["# AcousticBrainz Genre Dataset statistics", ""]
    parts += ["## Table 2: ground truth per source", "",
              "Ours per split (train / validation, the public release); the paper's Table 2 "
              "covers the whole release including the hidden test sets (70/15/15 %).", ""]
    rows = []
    for source in sources:
        paper = published.TABLE2.get(source)
        if paper is not None:
            rows.append([SOURCE_NAMES.get(source, source),
                         "paper, whole release incl. hidden test", *_table2_cells(paper)])
        rows += [[SOURCE_NAMES.get(source, source), f"ours, {r['split']}", *_table2_cells(r)]
                 for r in stats["table2"] if r["source"] == source]
    parts += [markdown_table(["Source", "Set", "Recordings", "Release groups", "Genres",
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
    known = set(sources) <= set(published.SOURCES)
    for scope, matrix_values in stats["table3"].items():
        title = SCOPE_TITLES.get(scope, scope)
        parts += [f"**{title}: ours** ({stats['table3_estimator']['recordings']})", ""]
        parts += [_entropy_table(matrix_values, sources), ""]
        if known and scope in published.TABLE3:
            parts += [f"**{title}: paper** (Table 3{title[1]})", ""]
            parts += [_entropy_table(published.TABLE3[scope], sources, True), ""]
    parts += [table3_note(stats), ""]
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
    # Table 3 on the splits pooled (module docstring); n(y, x) is the transpose of n(x, y),
    # so one count per unordered pair gives both cells.
    pooled = {s: concat_coded([data[s][sp] for sp in splits], s) for s in sources}
    table3: dict[str, dict[str, dict[str, float]]] = {}
    table3_n: dict[str, dict[str, dict[str, int]]] = {}
    jobs = [(scope, a, b) for scope in SCOPES for i, a in enumerate(sources) for b in sources[i:]]
    for scope, a, b in progress(jobs, desc="table 3"):
        x, y = pooled[a], pooled[b]
        if scope == "genres_only":
            x, y = x.keep_codes(x.is_genre()), y.keep_codes(y.is_genre())
        co = cooccurrence(x, y)
        cells = table3.setdefault(scope, {})
        cells.setdefault(a, {})[b] = conditional_entropy(co.counts, co.n_y, co.n)
        cells.setdefault(b, {})[a] = conditional_entropy(co.counts.T, co.n_x, co.n)
        table3_n.setdefault(scope, {}).setdefault(a, {})[b] = co.n
        table3_n[scope].setdefault(b, {})[a] = co.n
    for scope in table3:  # fixed row/column order for the outputs
        table3[scope] = {a: {b: table3[scope][a][b] for b in sources} for a in sources}
        table3_n[scope] = {a: {b: table3_n[scope][a][b] for b in sources} for a in sources}
    dist = {s: {sp: genre_distribution(data[s][sp]) for sp in splits} for s in sources}
    per_rec = {s: {sp: labels_per_recording(data[s][sp]) for sp in splits} for s in sources}
    return {"sources": sources, "splits": splits, "table2": table2, "overlap": overlap,
            "table3": table3, "table3_recordings": table3_n,
            "table3_estimator": {"equation": "paper (1), shares of recordings", "log_base": 2,
                                 "recordings": "+".join(splits)},
            "genre_distribution": dist, "labels_per_recording": per_rec}


def write_outputs(stats: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["source", "split", "recordings", "release_groups", "genres", "subgenres",
               "genres_per_recording", "subgenres_per_recording"]
    _write_csv(out_dir / "table2.csv", columns,
               [[r[c] for c in columns] for r in stats["table2"]])
    _write_csv(out_dir / "overlap.csv", ["split", "sources", "recordings"],
               [[sp, key, n] for sp, ov in stats["overlap"].items() for key, n in ov.items()])
    subset = stats["table3_estimator"]["recordings"]
    _write_csv(out_dir / "table3.csv",
               ["recordings", "scope", "x", "y", "entropy_bits", "n_recordings"],
               [[subset, scope, a, b, v, stats["table3_recordings"][scope][a][b]]
                for scope, m in stats["table3"].items()
                for a, row in m.items() for b, v in row.items()])
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
    parser = step_parser(
        prog="python -m abgd.stats",
        description="Dataset statistics (paper Tables 2-3, Figures 1-2) from ground-truth "
                    "Parquets DIR/<source>-<split>.parquet.",
    )
    parser.add_argument("--groundtruth-dir", required=True, type=Path)
    parser.add_argument("--sources", nargs="+", default=list(SOURCES))
    parser.add_argument("--splits", nargs="+", default=list(SPLITS))
    parser.add_argument("--out-dir", required=True, type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
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
