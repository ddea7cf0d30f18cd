"""``abgd tag``: genre labels for any AcousticBrainz document, in all four taxonomies at once.

A finished study (``--study results/<dataset>``) holds four single-source networks, four fusion
networks and their holdout-tuned thresholds. Each input document is flattened exactly as
``convert`` does (:func:`abgd.features.parse_document`), scored by every single-source network,
embedded by them (the last hidden layer), and the four embeddings, concatenated in the order the
fusion models were trained on, are scored by the fusion networks. No ground truth is needed.

Inputs: JSON files, directories (searched recursively), ``.tar``, ``.tar.bz2``, ``.tar.gz`` or
``.tar.zst`` archives such as AcousticBrainz's final data dumps. Members named ``<mbid>.json``
or ``<mbid>-<n>.json`` (``n`` = the submission; 0 when absent) at any depth are documents;
other names are skipped. Outputs, under ``--out``:

* ``scores/<system>/<source>.parquet``: ``mbid``, ``submission`` (int32), then one float32
  column per label of that source's model: the layout of the study's own score tables, plus
  the submission, one row per document in input order;
* ``runs/<system>/<source>.tsv``: the decoded labels in the MediaEval run format (one line per
  MBID: its first submission in input order), checked with check.R's rules;
* ``errors.tsv``: ``mbid``, ``member``, ``reason`` of every document the converter rejects
  (a bad member never stops the job); ``summary.json``: counts and provenance.

Memory is bounded: documents are read one at a time and scored in batches of ``--batch-size``;
only the set of MBIDs already written to the run files grows (about 100 bytes per MBID, ~0.1 GB
for a dump part of a million documents).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from abgd.decoding import HIERARCHIES, decode_scores, parent_ratio_for, thresholds_for
from abgd.features import N_FEATURES, FeatureError, parse_document
from abgd.inference import configure_torch, load_network
from abgd.io import atomic_open, atomic_path, provenance, read_json, write_json
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
from abgd.progress import add_threads, add_verbose, progress, setup_logging
from abgd.runs import check_run, run_lines

log = logging.getLogger("abgd.tag")
SYSTEMS = ("single", "fusion")
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
    match = SUBMISSION_NAME.fullmatch(Path(name).name)
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


def iter_documents(inputs: Sequence[Path], counts: Counts, decoder: str = "auto",
                   max_bytes: int = MAX_MEMBER_BYTES) -> Iterator[Document]:
    """Every document of the inputs, one at a time, in input (then member) order."""
    for path in inputs:
        if path.is_dir():
            for file in sorted(path.rglob("*.json")):
                if submission_of(file.name) is None:
                    counts.skipped += 1
                    continue
                yield from _read_file(file, max_bytes)
        elif path.suffix.lower() == ".json":
            yield from _read_file(path, max_bytes)
        else:
            for mbid, member, data, reason in iter_members(
                    path, choose_decoder(decoder), 1, counts, max_bytes, SUBMISSION_NAME):
                named = submission_of(member)
                yield mbid, named[1] if named else 0, member, data, reason


# ----------------------------------------------------------------------------- outputs


class Outputs:
    """The score Parquets, run files and errors TSV of one job, renamed into place at the end."""

    def __init__(self, out: Path, study: Study, stack: contextlib.ExitStack) -> None:
        self.study = study
        self.seen: set[str] = set()
        self.writers: dict[tuple[str, str], pq.ParquetWriter] = {}
        self.runs: dict[tuple[str, str], Any] = {}
        self.run_paths: dict[tuple[str, str], tuple[Path, Path]] = {}
        for system in study.systems:
            key = (system.name, system.source)
            schema = pa.schema([("mbid", pa.string()), ("submission", pa.int32())]
                               + [(label, pa.float32()) for label in system.labels])
            path = out / "scores" / system.name / f"{system.source}.parquet"
            tmp = stack.enter_context(atomic_path(path))
            # dictionaries and statistics of ~1000 float columns cost more than the scoring
            self.writers[key] = stack.enter_context(pq.ParquetWriter(
                tmp, schema, use_dictionary=False, write_statistics=False))
            run = out / "runs" / system.name / f"{system.source}.tsv"
            run_tmp = stack.enter_context(atomic_path(run))
            self.runs[key] = stack.enter_context(open(  # noqa: SIM115 (closed by the stack)
                run_tmp, "w", encoding="utf-8",
                newline="\n"))
            self.run_paths[key] = (run_tmp, run)
        self.errors = stack.enter_context(atomic_open(out / "errors.tsv"))
        self.errors.write(ERRORS_HEADER)

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
        for system in self.study.systems:
            key = (system.name, system.source)
            values = scores[key]
            arrays = [pa.array(mbids, pa.string()), pa.array(submissions, pa.int32())]
            arrays += [pa.array(values[:, j]) for j in range(values.shape[1])]
            self.writers[key].write_table(
                pa.Table.from_arrays(arrays, schema=self.writers[key].schema))
            pred = decode_scores(first_ids, system.labels, values[first], system.thresholds,
                                 self.study.decoding, self.study.hierarchy, system.parent_ratio)
            order = [system.labels.index(x) for x in system.vocabulary]
            self.runs[key].writelines(run_lines(first_ids, system.vocabulary, pred[:, order]))
        self.seen.update(first_ids)

    def check(self) -> None:
        """check.R's rules on every run file, before anything is renamed into place."""
        for system in self.study.systems:
            key = (system.name, system.source)
            self.runs[key].flush()
            tmp, final = self.run_paths[key]
            check_run(tmp, system.vocabulary, self.seen, name=str(final))


# ----------------------------------------------------------------------------- the job


def tag(inputs: Sequence[Path], study: Study, out: Path, batch_size: int = 1024,
        decoder: str = "auto", max_bytes: int = MAX_MEMBER_BYTES) -> dict[str, int]:
    """Tag every document of ``inputs`` into ``out``; returns the counts."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    counts = Counts()
    tagged = 0
    matrix = np.zeros((batch_size, N_FEATURES), dtype=np.float32)
    mbids: list[str] = []
    submissions: list[int] = []
    with contextlib.ExitStack() as stack:
        outputs = Outputs(out, study, stack)

        def flush() -> None:
            nonlocal tagged
            if mbids:
                outputs.write(mbids, submissions, score_batch(study, matrix[:len(mbids)]))
                tagged += len(mbids)
                mbids.clear()
                submissions.clear()

        bar = progress(unit="doc", desc="tag")
        for mbid, submission, member, data, reason in iter_documents(inputs, counts, decoder,
                                                                     max_bytes):
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
            mbids.append(mbid)
            submissions.append(submission)
            if len(mbids) == batch_size:
                flush()
        flush()
        bar.close()
        outputs.check()
    counts.converted = tagged
    return {**dataclasses.asdict(counts), "recordings": len(outputs.seen)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abgd tag", description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="JSON file, directory, .tar, .tar.bz2, .tar.gz or .tar.zst")
    parser.add_argument("--study", required=True, type=Path,
                        help="a finished study's results folder, e.g. results/demo")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--decoding", choices=("per_label", "global"), default="per_label")
    parser.add_argument("--hierarchy", choices=HIERARCHIES, default="none")
    parser.add_argument("--batch-size", type=int, default=1024,
                        help="documents scored at once (memory: ~11 kB each)")
    parser.add_argument("--decoder", choices=("auto", "lbzip2", "pbzip2", "python"),
                        default="auto", help="bzip2 decoder for .tar.bz2 inputs")
    add_threads(parser, 1, "torch threads")
    add_verbose(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    missing = [str(p) for p in args.inputs if not p.exists()]
    if missing:
        log.error("input not found: %s", ", ".join(missing))
        return 1
    configure_torch(args.threads, "cpu")
    study = load_study(args.study, args.systems, args.decoding, args.hierarchy)
    try:
        counts = tag(args.inputs, study, args.out, args.batch_size, args.decoder)
    except ArchiveError as error:
        log.error("tagging failed, no output written: %s", error)
        return 1
    write_json(args.out / "summary.json", {
        "counts": counts, "sources": study.sources, "systems": list(args.systems),
        "decoding": args.decoding, "hierarchy": args.hierarchy,
        "provenance": provenance("tag", {"study": str(args.study), "systems": args.systems,
                                         "decoding": args.decoding,
                                         "hierarchy": args.hierarchy,
                                         "batch_size": args.batch_size},
                                 [str(p) for p in args.inputs])})
    log.info("%s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
