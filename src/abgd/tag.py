"""``abgd tag``: genre labels for any AcousticBrainz document, in all four taxonomies at once.

A finished study (``--study results/<dataset>``) holds four single-source networks, four fusion
networks and their holdout-tuned thresholds. Each input document is flattened exactly as
``convert`` does (:func:`abgd.features.parse_document`), scored by every single-source network,
embedded by them (the last hidden layer), and the four embeddings, concatenated in the order the
fusion models were trained on, are scored by the fusion networks. No ground truth is needed.

Inputs: JSON files, directories (searched recursively), ``.tar``, ``.tar.bz2``, ``.tar.gz`` or
``.tar.zst`` archives such as AcousticBrainz's final data dumps. Members named ``<mbid>.json``
or ``<mbid>-<n>.json`` (``n`` = the submission; 0 when absent) at any depth are documents;
other names are skipped. Audio files (wav, flac, mp3, ogg, m4a; also found in directories) are
extracted with Essentia (the ``audio`` extra, :func:`abgd.audio.extract_document`) into a
release-layout document that then takes the same path; their id in every output is the file's
stem (``song`` for ``music/song.wav``; submission 0), since a run file needs one id per line and
a user's file has no MBID. ``--keep-json DIR`` keeps those documents as ``DIR/<stem>.json``, and
the labels of every audio file are also printed on stdout. Outputs, under ``--out``:

* ``scores/<system>/<source>.parquet``: ``mbid``, ``submission`` (int32), then one float32
  column per label of that source's model: the layout of the study's own score tables, plus
  the submission, one row per document in input order;
* ``runs/<system>/<source>.tsv``: the decoded labels in the MediaEval run format (one line per
  MBID: its first submission in input order; sorted by MBID within each batch), valid under
  check.R's rules by construction: the labels are checked once per file, the ids and the
  lines' non-emptiness once per batch (see :func:`abgd.runs.check_vocabulary`);
* ``errors.tsv``: ``mbid``, ``member``, ``reason`` of every document the converter rejects
  (a bad member never stops the job); ``summary.json``: counts and provenance.

Memory is bounded: documents are read one at a time and scored in batches of ``--batch-size``;
scores are written a Parquet row group of 8192 rows at a time (their buffer: 4 bytes per label
per row, ~110 MB for the paper's ~3400 labels of eight systems); only the set of MBIDs already
written to the run files grows (about 100 bytes per MBID, ~0.1 GB for a dump part of a million
documents).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from abgd.audio import (
    INSTALL_HINT,
    AudioError,
    AudioExtraMissing,
    extract_document,
    is_audio,
    keep_json,
)
from abgd.audio_mapping import MappingError
from abgd.decoding import HIERARCHIES, decode_scores, parent_ratio_for, thresholds_for
from abgd.features import N_FEATURES, FeatureError, parse_document
from abgd.inference import configure_torch, load_network
from abgd.io import atomic_open, atomic_path, dumps_json, provenance, read_json, write_json
from abgd.members import (
    ERRORS_HEADER,
    MAX_MEMBER_BYTES,
    SUBMISSION_NAME,
    ArchiveError,
    Counts,
    choose_decoder,
    iter_members,
)
from abgd.nets import GenreNet
from abgd.progress import (
    add_threads,
    parse_step_args,
    positive_int,
    progress,
    step_parser,
)
from abgd.runs import check_vocabulary, run_lines
from abgd.tables import column_arrays, int32_array, string_array

log = logging.getLogger("abgd.tag")
SYSTEMS = ("single", "fusion")
#: rows per row group of the score Parquets: their ~3400 label columns (the paper's label
#: counts) make each small row group cost more in per-column overhead than in encoding
#: (benchmarks/bench_tag.py); the buffer is ~110 MB for the paper's labels
ROW_GROUP_ROWS = 8192
#: (mbid, submission, member name, bytes or None, reason if None)
Document = tuple[str, int, str, bytes | None, str | None]


# ----------------------------------------------------------------------------- the study


@dataclasses.dataclass
class System:
    """One trained network of the study with what decoding needs."""

    name: str
    source: str
    network: GenreNet
    labels: list[str]
    thresholds: np.ndarray | float
    parent_ratio: float | None
    vocabulary: list[str]


@dataclasses.dataclass
class Study:
    sources: list[str]  # fusion's embedding order
    systems: list[System]
    decoding: str
    hierarchy: str


def fusion_sources(study: Path, source: str) -> list[str]:
    """The sources whose embeddings a fusion model stacks, in its training order.

    ``train_fusion`` records its inputs in order in its provenance, the embedding files
    (``embeddings/<source>.parquet``) first.
    """
    inputs = read_json(study / "models" / "fusion" / source / "metrics.json")["provenance"][
        "inputs"]
    return [Path(p).stem for p in inputs if "embeddings" in Path(p).parts]


def load_study(study: str | os.PathLike[str], systems: Sequence[str] = SYSTEMS,
               decoding: str = "per_label", hierarchy: str = "none") -> Study:
    """The networks and thresholds of a finished study (first seed), checked for consistency."""
    root = Path(study)
    single_dir = root / "models" / "single"
    sources = sorted(p.name for p in single_dir.glob("*") if (p / "model.ckpt").is_file())
    if not sources:
        raise FileNotFoundError(f"{single_dir}: no trained single-source model (is {root} a "
                                "finished study?)")
    if "fusion" in systems:
        order = fusion_sources(root, sources[0])
        if sorted(order) != sources:
            raise ValueError(f"{root}: fusion models stack {order}, single models are {sources}")
        sources = order
    loaded: list[System] = []
    for name in systems:
        for source in sources:
            folder = root / "models" / name / source
            network = load_network(folder)
            if bool(network.hparams["l2_blocks"]) != (name == "fusion"):
                raise ValueError(f"{folder}: not a {name} model")
            config = read_json(root / "thresholds" / name / f"{source}.json")
            where = str(root / "thresholds" / name / f"{source}.json")
            loaded.append(System(
                name=name, source=source, network=network, labels=list(network.labels),
                thresholds=thresholds_for(config, network.labels, decoding, where),
                parent_ratio=parent_ratio_for(config, decoding, where)
                if hierarchy == "consistent" else None,
                vocabulary=list(config["labels"])))
    return Study(sources=sources, systems=loaded, decoding=decoding, hierarchy=hierarchy)


@torch.inference_mode()
def score_batch(study: Study, x: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """Sigmoid scores of every system for a batch of feature rows.

    Each single network runs once: its last hidden layer is both its embedding (what ``embed``
    writes for fusion) and the input of its output layer (what ``predict`` scores).
    """
    xt = torch.from_numpy(x)
    out: dict[tuple[str, str], np.ndarray] = {}
    embeddings: dict[str, torch.Tensor] = {}
    for system in study.systems:
        net = system.network
        if system.name == "single":
            hidden = net.embed(xt)
            embeddings[system.source] = hidden
            logits = net.net[-2:](hidden)
        else:
            stacked = torch.cat([embeddings[s] for s in study.sources], dim=1)
            logits = net(stacked)
        out[(system.name, system.source)] = torch.sigmoid(logits).float().numpy()
    return out


# ----------------------------------------------------------------------------- inputs


def submission_of(name: str) -> tuple[str, int] | None:
    """``(mbid, n)`` of a ``<mbid>[-<n>].json`` base name, else None."""
    match = SUBMISSION_NAME.fullmatch(name.rpartition("/")[2].rpartition(os.sep)[2])
    if match is None:
        return None
    return match.group(1).lower(), int(match.group(2) or 0)


def _read_file(path: Path, max_bytes: int) -> Iterator[Document]:
    named = submission_of(path.name)
    if named is None:
        yield "", 0, str(path), None, "not a <uuid>.json or <uuid>-<n>.json name"
        return
    size = path.stat().st_size
    if size > max_bytes:
        yield *named, str(path), None, f"member too large: {size} bytes"
        return
    yield *named, str(path), path.read_bytes(), None


def _read_audio(path: Path, stems: dict[str, Path], keep: Path | None) -> Iterator[Document]:
    """One audio file as a document named by its stem (the id of its output rows and lines)."""
    stem = path.stem
    if any(c in stem for c in "\t\r\n") or not stem:
        yield stem, 0, str(path), None, "audio file name unusable as a run-file id"
        return
    if stem in stems:
        yield stem, 0, str(path), None, f"same name stem as {stems[stem]} (ids must be unique)"
        return
    stems[stem] = path
    try:
        document = extract_document(path)
    except (AudioError, MappingError) as error:
        yield stem, 0, str(path), None, f"audio extraction failed: {error}"
        return
    if keep is not None:
        keep_json(document, path, keep)
    yield stem, 0, str(path), dumps_json(document).encode(), None


def iter_documents(inputs: Sequence[Path], counts: Counts, decoder: str = "auto",
                   max_bytes: int = MAX_MEMBER_BYTES,
                   keep_json_dir: Path | None = None) -> Iterator[Document]:
    """Every document of the inputs, one at a time, in input (then member) order.

    Audio files are extracted as they come (seconds each): see the module docstring.
    """
    stems: dict[str, Path] = {}
    for path in inputs:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if is_audio(file):
                    yield from _read_audio(file, stems, keep_json_dir)
                elif file.suffix.lower() == ".json":
                    if submission_of(file.name) is None:
                        counts.skipped += 1
                        continue
                    yield from _read_file(file, max_bytes)
        elif is_audio(path):
            yield from _read_audio(path, stems, keep_json_dir)
        elif path.suffix.lower() == ".json":
            yield from _read_file(path, max_bytes)
        else:
            for mbid, member, data, reason in iter_members(
                    path, choose_decoder(decoder), 1, counts, max_bytes, SUBMISSION_NAME):
                named = submission_of(member)
                yield mbid, named[1] if named else 0, member, data, reason


def has_audio(inputs: Sequence[Path]) -> bool:
    """Whether any input is, or any input folder holds, an audio file."""
    return any(is_audio(p) or (p.is_dir() and any(is_audio(f) for f in p.rglob("*")))
               for p in inputs)


# ----------------------------------------------------------------------------- outputs


def check_ids(ids: Sequence[str], run_paths: dict[Any, tuple[Path, Path]]) -> None:
    """Each id must be one non-empty field (the run files' first column)."""
    bad = [m for m in ids if not m or "\t" in m or "\n" in m or "\r" in m]
    if bad:
        names = ", ".join(str(final) for _, final in run_paths.values())
        raise ValueError(f"{names}: ids unusable in a run file: {bad[:10]}")


def check_rows(ids: Sequence[str], pred: Any, written: int, name: str) -> None:
    """check.R's "no labels" rule on one batch of lines (the decoders give every row a label;
    this guards a vocabulary that lacks some of the network's labels)."""
    empty = np.flatnonzero(np.diff(pred.indptr) == 0)
    if empty.size:
        order = np.argsort(np.asarray(ids, dtype=str), kind="stable")  # as run_lines writes
        line = written + 1 + int(np.flatnonzero(np.isin(order, empty))[0])
        raise ValueError(f"{name}, line {line}: no labels for {ids[order[line - written - 1]]!r}")


class Outputs:
    """The score Parquets, run files and errors TSV of one job, renamed into place at the end."""

    def __init__(self, out: Path, study: Study, stack: contextlib.ExitStack,
                 row_group_rows: int = ROW_GROUP_ROWS) -> None:
        if row_group_rows < 1:
            raise ValueError("row_group_rows must be at least 1")
        for system in study.systems:  # before anything is opened
            check_vocabulary(system.vocabulary, str(out / "runs" / system.name /
                                                    f"{system.source}.tsv"))
        self.study = study
        self.seen: set[str] = set()
        #: ids whose decoded labels are kept for printing (audio files), and those labels
        self.echo: set[str] = set()
        self.echoed: dict[str, dict[tuple[str, str], list[str]]] = {}
        #: score column of each vocabulary label, per system (run files list labels that way);
        #: None where the two orders agree (the usual case: no sparse column shuffle per batch)
        self.order: dict[tuple[str, str], np.ndarray | None] = {}
        for s in study.systems:
            order = np.array([s.labels.index(x) for x in s.vocabulary], dtype=np.intp)
            same = len(order) == len(s.labels) and bool((order == np.arange(len(order))).all())
            self.order[(s.name, s.source)] = None if same else order
        self.labels = {(s.name, s.source): np.asarray(s.vocabulary, dtype=object)
                       for s in study.systems}
        self.writers: dict[tuple[str, str], pq.ParquetWriter] = {}
        self.runs: dict[tuple[str, str], Any] = {}
        self.run_paths: dict[tuple[str, str], tuple[Path, Path]] = {}
        for system in study.systems:
            key = (system.name, system.source)
            schema = pa.schema([("mbid", pa.string()), ("submission", pa.int32())]
                               + [(label, pa.float32()) for label in system.labels])
            path = out / "scores" / system.name / f"{system.source}.parquet"
            tmp = stack.enter_context(atomic_path(path))
            # dictionaries and statistics of ~1000 float columns cost more than the scoring;
            # snappy saves nothing on sigmoid scores (3182 vs 3185 kB for 1024 x 766) and
            # costs a seventh of the writing
            self.writers[key] = stack.enter_context(pq.ParquetWriter(
                tmp, schema, use_dictionary=False, write_statistics=False, compression="none"))
            run = out / "runs" / system.name / f"{system.source}.tsv"
            run_tmp = stack.enter_context(atomic_path(run))
            self.runs[key] = stack.enter_context(open(  # noqa: SIM115 (closed by the stack)
                run_tmp, "w", encoding="utf-8",
                newline="\n"))
            self.run_paths[key] = (run_tmp, run)
        self.errors = stack.enter_context(atomic_open(out / "errors.tsv"))
        self.errors.write(ERRORS_HEADER)
        #: scores not yet written, one (labels × row group) buffer per system: each label's
        #: values contiguous, as Parquet's columns want them
        self.capacity = row_group_rows
        self.buffers = {(s.name, s.source): np.empty((len(s.labels), row_group_rows),
                                                     dtype=np.float32) for s in study.systems}
        self.pending_ids: list[str] = []
        self.pending_submissions: list[int] = []

    def error(self, mbid: str, member: str, reason: str) -> None:
        clean = [f.replace("\t", " ").replace("\r", " ").replace("\n", " ")
                 for f in (mbid, member, reason)]
        self.errors.write("\t".join(clean) + "\n")

    def write(self, mbids: list[str], submissions: list[int],
              scores: dict[tuple[str, str], np.ndarray]) -> None:
        first: list[int] = []
        batch_seen: set[str] = set()
        for i, mbid in enumerate(mbids):  # the run files keep each MBID's first submission
            if mbid not in self.seen and mbid not in batch_seen:
                first.append(i)
                batch_seen.add(mbid)
        first_ids = [mbids[i] for i in first]
        check_ids(first_ids, self.run_paths)
        line_order = np.argsort(np.asarray(first_ids, dtype=str), kind="stable").tolist()
        self.buffer_scores(mbids, submissions, scores)
        for system in self.study.systems:
            key = (system.name, system.source)
            values = scores[key]
            pred = decode_scores(first_ids, system.labels, values[first], system.thresholds,
                                 self.study.decoding, self.study.hierarchy, system.parent_ratio)
            if self.order[key] is not None:
                pred = pred[:, self.order[key]]
            check_rows(first_ids, pred, len(self.seen), str(self.run_paths[key][1]))
            self.runs[key].writelines(run_lines(first_ids, self.labels[key], pred, line_order))
            if self.echo:
                for row, mbid in enumerate(first_ids):
                    if mbid in self.echo:
                        cols = pred.indices[pred.indptr[row]:pred.indptr[row + 1]]
                        self.echoed.setdefault(mbid, {})[key] = [system.vocabulary[c]
                                                                 for c in sorted(cols)]
        self.seen.update(first_ids)

    def buffer_scores(self, mbids: list[str], submissions: list[int],
                      scores: dict[tuple[str, str], np.ndarray]) -> None:
        """Copy a batch into the row-group buffers, writing each buffer out when it is full."""
        start = 0
        while start < len(mbids):
            at = len(self.pending_ids)
            take = min(self.capacity - at, len(mbids) - start)
            for key, buffer in self.buffers.items():
                buffer[:, at:at + take] = scores[key][start:start + take].T
            self.pending_ids.extend(mbids[start:start + take])
            self.pending_submissions.extend(submissions[start:start + take])
            start += take
            if len(self.pending_ids) == self.capacity:
                self.write_scores()

    def write_scores(self) -> None:
        """Write the buffered rows as one row group of every score Parquet."""
        if not self.pending_ids:
            return
        # from the buffers (abgd.tables): pa.array would import pandas and, per call, ask
        # whether its input is a pandas object, for each of the ~3400 label columns
        ids, subs = string_array(self.pending_ids), int32_array(self.pending_submissions)
        rows = len(self.pending_ids)
        for key, buffer in self.buffers.items():
            writer = self.writers[key]
            # written (encoded and flushed) before it returns: the buffer can be refilled
            writer.write_table(pa.Table.from_arrays([ids, subs, *column_arrays(buffer, rows)],
                                                    schema=writer.schema))
        self.pending_ids.clear()
        self.pending_submissions.clear()


# ----------------------------------------------------------------------------- the job


def tag(inputs: Sequence[Path], study: Study, out: Path, batch_size: int = 1024,
        decoder: str = "auto", max_bytes: int = MAX_MEMBER_BYTES,
        keep_json_dir: Path | None = None,
        echoed: dict[str, dict[tuple[str, str], list[str]]] | None = None,
        row_group_rows: int = ROW_GROUP_ROWS) -> dict[str, int]:
    """Tag every document of ``inputs`` into ``out``; returns the counts.

    ``echoed``, when given, receives the decoded labels of every audio file (its stem →
    ``(system, source)`` → labels in vocabulary order), for printing.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    counts = Counts()
    tagged = 0
    matrix = np.zeros((batch_size, N_FEATURES), dtype=np.float32)
    mbids: list[str] = []
    submissions: list[int] = []
    with contextlib.ExitStack() as stack:
        outputs = Outputs(out, study, stack, row_group_rows)

        def flush() -> None:
            nonlocal tagged
            if mbids:
                outputs.write(mbids, submissions, score_batch(study, matrix[:len(mbids)]))
                tagged += len(mbids)
                mbids.clear()
                submissions.clear()

        bar = progress(unit="doc", desc="tag")
        documents = iter_documents(inputs, counts, decoder, max_bytes, keep_json_dir)
        for mbid, submission, member, data, reason in documents:
            counts.read += 1
            bar.update()
            if data is None:
                counts.errored += 1
                outputs.error(mbid, member, reason or "unreadable member")
                continue
            try:
                _, imputed = parse_document(data, matrix[len(mbids)])
            except FeatureError as error:
                counts.errored += 1
                outputs.error(mbid, member, error.reason)
                continue
            counts.imputed += imputed
            if not member.endswith(".json") and is_audio(member):  # str test first: per doc
                outputs.echo.add(mbid)
            mbids.append(mbid)
            submissions.append(submission)
            if len(mbids) == batch_size:
                flush()
        flush()
        outputs.write_scores()
        bar.close()
    if echoed is not None:
        echoed.update(outputs.echoed)
    counts.converted = tagged
    return {**dataclasses.asdict(counts), "recordings": len(outputs.seen)}


def format_labels(echoed: dict[str, dict[tuple[str, str], list[str]]], study: Study) -> str:
    """A short human-readable listing: per id, each system's labels (" | " between them:
    some labels hold commas) in the four taxonomies."""
    lines: list[str] = []
    width = max(len(s) for s in study.sources)
    for mbid, labels in echoed.items():
        lines.append(mbid)
        for name in dict.fromkeys(s.name for s in study.systems):
            for source in study.sources:
                if (name, source) in labels:
                    lines.append(f"  {name:6s} {source:{width}s}  "
                                 + " | ".join(labels[(name, source)]))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser("abgd tag", __doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="JSON file, directory, .tar, .tar.bz2, .tar.gz or .tar.zst, or "
                             "an audio file (wav, flac, mp3, ogg, m4a; needs the audio extra)")
    parser.add_argument("--study", required=True, type=Path,
                        help="a finished study's results folder, e.g. results/demo")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--decoding", choices=("per_label", "global"), default="per_label")
    parser.add_argument("--hierarchy", choices=HIERARCHIES, default="none")
    parser.add_argument("--batch-size", type=positive_int, default=1024,
                        help="documents scored at once (memory: ~11 kB each)")
    parser.add_argument("--row-group-rows", type=positive_int, default=ROW_GROUP_ROWS,
                        help="rows per row group of the score Parquets (buffer: 4 bytes per "
                             "label of all systems per row; default %(default)s)")
    parser.add_argument("--decoder", choices=("auto", "lbzip2", "pbzip2", "python"),
                        default="auto", help="bzip2 decoder for .tar.bz2 inputs")
    parser.add_argument("--keep-json", type=Path, metavar="DIR",
                        help="keep the documents extracted from audio files as DIR/<stem>.json")
    add_threads(parser, 1, "torch threads")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_step_args(build_parser(), argv)
    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        log.error("input not found: %s", ", ".join(missing))
        return 1
    if has_audio(args.inputs) and importlib.util.find_spec("essentia") is None:
        log.error("%s", INSTALL_HINT)
        return 2
    configure_torch(args.threads, "cpu")
    study = load_study(args.study, args.systems, args.decoding, args.hierarchy)
    echoed: dict[str, dict[tuple[str, str], list[str]]] = {}
    try:
        counts = tag(args.inputs, study, args.out, args.batch_size, args.decoder,
                     keep_json_dir=args.keep_json, echoed=echoed,
                     row_group_rows=args.row_group_rows)
    except ArchiveError as error:
        log.error("tagging failed, no output written: %s", error)
        return 1
    except AudioExtraMissing as error:
        log.error("%s", error)
        return 2
    write_json(args.out / "summary.json", {
        "counts": counts, "sources": study.sources, "systems": list(args.systems),
        "decoding": args.decoding, "hierarchy": args.hierarchy,
        "provenance": provenance("tag", {"study": str(args.study), "systems": args.systems,
                                         "decoding": args.decoding,
                                         "hierarchy": args.hierarchy,
                                         "batch_size": args.batch_size,
                                         "row_group_rows": args.row_group_rows},
                                 [str(p) for p in args.inputs])})
    log.info("%s", " ".join(f"{k}={v}" for k, v in counts.items()))
    if echoed:
        print(format_labels(echoed, study))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
