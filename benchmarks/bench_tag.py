"""Speed of ``abgd tag`` against its floor, zstd decoding + orjson parsing alone.

    .venv/bin/python benchmarks/bench_tag.py [--study results/demo] [--docs 3000] [--pairs 3]
        [--label-rate 0.1] [--real ../shared/data/lowlevel_json]

Without ``--study`` the networks are the paper's, at the real release's size (2669 → 256 →
766/315/327/296 labels for allmusic/discogs/lastfm/tagtraum, fusion 4 × 256 → labels), with
random weights: speed does not depend on the weights, and a demo study's label counts are
smaller than the real ones. Their per-label thresholds are set so that each document gets about
``--label-rate`` of the labels (default 0.1, the order of the paper's tuned single-source
systems; the run files' size, hence their cost, follows it).

A dump-format ``.tar.zst`` (members ``<root>/lowlevel/<2 hex>/<1 hex>/<mbid>-0.json``) is written
from real-shaped documents: the real JSONs of ../shared/data/lowlevel_json, perturbed, when
present, else the demo generator's full documents, cycled under fresh MBIDs. Then, on one core
(torch and the decoders single-threaded), alternately (A B A B, ``--pairs`` times):

* floor: stream the archive with zstandard + tarfile and ``orjson.loads`` every member;
* tag: :func:`abgd.tag.tag` with the study's single and fusion models (all sources), writing
  its score Parquets, run files and errors TSV (loading the models is reported apart: it is
  paid once per job, not per document).

It prints the median docs/s of both, in wall-clock time and in CPU time (the process's, all
threads: on a shared machine the wall clock measures the other users too, and on a full node
of one-core jobs CPU time is what limits throughput), the median of the pairs' ratios (goal
≥ 0.6; a pair's two runs are seconds apart, while the machine's speed drifts more than that
between pairs), and the
projected time for the 29 M documents of AcousticBrainz's dumps on one 16-core node (16 jobs,
one per core, from the CPU-time rate). Exit status 1 when the goal is missed (CPU time).

Where the time goes, in CPU microseconds per document, each stage timed alone in the same
pairs: reading the archive (zstd + tar, no parsing), ``orjson.loads``, flattening the parsed
document, the forward passes (batches of ``--batch-size``) and the rest (writing the scores
and run files, decoding), which is tag minus the others. From these it prints the ceiling of
the ratio if everything but reading, parsing and the forward passes cost nothing: the part
of the goal that no change to the tagger's own code can reach.

The peak RSS of one tag job is printed too, measured in a fresh interpreter that loads (or
builds) the study and tags the same archive, as ``abgd tag`` does (a job's budget is 1 GB
whatever its input size; ``--docs`` above the row-group size, 8192, fills its score buffers).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import torch
import zstandard

from _common import REAL, real_documents
from abgd import demo
from abgd.features import N_FEATURES, flatten_document, parse_document
from abgd.inference import configure_torch
from abgd.nets import GenreNet, fit_scaler
from abgd.tag import Study, System, load_study, score_batch, tag

GOAL = 0.6
DUMP_DOCUMENTS = 29_000_000
NODE_CORES = 16


REAL_LABELS = {"allmusic": 766, "discogs": 315, "lastfm": 327, "tagtraum": 296}


def paper_study() -> Study:
    """The paper's networks at the real release's label counts, random weights."""
    torch_seed = 0
    systems = []
    for name in ("single", "fusion"):
        for source, k in REAL_LABELS.items():
            labels = [f"{source}{j:04d}" for j in range(k)]
            torch.manual_seed(torch_seed)
            torch_seed += 1
            net = (GenreNet(N_FEATURES, labels, hidden=256) if name == "single" else
                   GenreNet(256 * len(REAL_LABELS), labels, hidden=0,
                            l2_blocks=len(REAL_LABELS))).eval()
            systems.append(System(name, source, net, labels, 0.5, None, labels))
    return Study(sources=list(REAL_LABELS), systems=systems, decoding="per_label",
                 hierarchy="none")


def calibrate(study: Study, docs: list[bytes], rate: float) -> None:
    """Fit each network's standardisation on ``docs`` and set per-label thresholds at the
    ``1 - rate`` quantile of its scores on them (in place).

    A trained network carries the scaler fitted on its training features; without one, the
    raw features (some in the thousands) saturate a random network's sigmoids at exactly 0 or
    1, and no threshold then selects a share of the labels. At 0.5 a random network gives every
    document about half of its labels (383 of AllMusic's 766), several times what the paper's
    tuned systems predict (per-recording precision 0.016–0.124 for single-source systems with
    2–3 true labels: roughly 5–15 % of the labels; fewer for fusion), and the run files would
    then outweigh the scores.
    """
    x = np.stack([parse_document(d)[0] for d in docs])
    rows = np.arange(len(docs))
    embeddings = {}
    for system in study.systems:
        net = system.network
        if system.name == "single":
            net.set_scaler(*fit_scaler(x, rows))
            with torch.inference_mode():
                embeddings[system.source] = net.embed(torch.from_numpy(x))
    stacked = torch.cat([embeddings[s] for s in study.sources], dim=1)
    blocks = torch.nn.functional.normalize(stacked.reshape(len(docs), len(study.sources), -1),
                                           p=2.0, dim=2).reshape(len(docs), -1).numpy()
    for system in study.systems:
        if system.name == "fusion":
            system.network.set_scaler(*fit_scaler(blocks, rows))
    scores = score_batch(study, x)
    for system in study.systems:
        system.thresholds = np.quantile(scores[(system.name, system.source)], 1.0 - rate,
                                        axis=0).astype(np.float64)


def documents(n_distinct: int, seed: int, real_dir: Path = REAL) -> list[bytes]:
    docs = real_documents(n_distinct, seed, real_dir)
    if docs:
        return docs
    rng = np.random.default_rng(seed)
    return [demo.dumps_document(demo.make_document(rng)) for _ in range(n_distinct)]


def write_dump(path: Path, docs: list[bytes], n: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    names = sorted(str(uuid.UUID(bytes=rng.bytes(16))) for _ in range(n))
    total = 0
    with open(path, "wb") as raw, zstandard.ZstdCompressor(level=3).stream_writer(raw) as out, \
            tarfile.open(fileobj=out, mode="w|") as tar:
        for i, mbid in enumerate(names):
            data = docs[i % len(docs)]
            info = tarfile.TarInfo(f"{demo.DUMP_ROOT}/lowlevel/{mbid[:2]}/{mbid[2]}/{mbid}-0.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            total += len(data)
    return total


def paired(rates: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """The median over pairs of one rate divided by another measured in the same pair."""
    return statistics.median(a / b for a, b in zip(rates[numerator], rates[denominator],
                                                   strict=True))


def cpu_rate(work: Callable[[], int]) -> tuple[float, float]:
    """Documents per second of ``work()`` (which returns how many it handled), wall and CPU."""
    start, cpu = time.perf_counter(), time.process_time()
    count = work()
    return count / (time.perf_counter() - start), count / (time.process_time() - cpu)


def read_archive(path: Path, parse: bool) -> int:
    """Stream the archive with zstandard + tarfile; ``parse``: ``orjson.loads`` each member."""
    count = 0
    with open(path, "rb") as raw, \
            zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True) as stream, \
            tarfile.open(fileobj=stream, mode="r|") as tar:
        for info in tar:
            handle = tar.extractfile(info)
            if handle is not None:
                data = handle.read()
                if parse:
                    orjson.loads(data)
                count += 1
    return count


def flatten_all(parsed: list[Any], n: int) -> int:
    row = np.empty(N_FEATURES, dtype=np.float32)
    for i in range(n):
        flatten_document(parsed[i % len(parsed)], row)
    return n


def forward_all(study: Study, x: np.ndarray, n: int, batch_size: int) -> int:
    for start in range(0, n, batch_size):
        score_batch(study, x[:min(batch_size, n - start)])
    return n


def rss_mb() -> float:
    """The process's peak resident set size (``VmHWM``)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def load_or_build(args: argparse.Namespace) -> tuple[Study, list[bytes], float]:
    """The study to tag with, the distinct documents the archive cycles through, and the
    seconds loading the study took (paid once per job)."""
    start = time.perf_counter()
    study = load_study(args.study) if args.study else paper_study()
    load_s = time.perf_counter() - start
    distinct = documents(args.distinct, 0, args.real)
    if not args.study and args.label_rate > 0:
        calibrate(study, distinct, args.label_rate)
    return study, distinct, load_s


def job_peak_rss(dump: Path, args: argparse.Namespace) -> float:
    """Peak RSS (MB) of one tag job over ``dump``, in a fresh interpreter (``--job``)."""
    command = [sys.executable, __file__, "--job", str(dump), "--real", str(args.real),
               "--label-rate", str(args.label_rate), "--batch-size", str(args.batch_size),
               "--distinct", str(args.distinct)]
    if args.study:
        command += ["--study", str(args.study)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def job(dump: Path, args: argparse.Namespace) -> int:
    """``--job``: tag ``dump`` once, as a job would, and print the peak RSS in MB."""
    configure_torch(1, "cpu")
    study, _, _ = load_or_build(args)
    with tempfile.TemporaryDirectory(dir=args.workdir) as out:
        tag([dump], study, Path(out), args.batch_size)
    print(f"{rss_mb():.0f}")
    return 0


def run_tag(path: Path, study: Study, work: Path, batch_size: int = 1024) -> tuple[float, float]:
    out = work / "tagged"
    shutil.rmtree(out, ignore_errors=True)
    return cpu_rate(lambda: tag([path], study, out, batch_size)["converted"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--study", type=Path,
                        help="a finished study (default: paper-sized random networks)")
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--distinct", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--label-rate", type=float, default=0.1,
                        help="paper-sized networks: share of labels predicted per document "
                             "(thresholds calibrated to it; 0 keeps 0.5 for every label)")
    parser.add_argument("--batch-size", type=int, default=1024,
                        help="documents scored at once (abgd tag's default)")
    parser.add_argument("--real", type=Path, default=REAL,
                        help="folder of real low-level JSONs to perturb (default %(default)s)")
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)  # job_peak_rss's child
    args = parser.parse_args()
    if args.job:
        return job(args.job, args)
    configure_torch(1, "cpu")
    study, distinct, load_s = load_or_build(args)
    work = Path(tempfile.mkdtemp(dir=args.workdir))
    try:
        dump = work / "dump.tar.zst"
        size = write_dump(dump, distinct, args.docs, 1)
        print(f"{args.docs} documents, {size / args.docs / 1e3:.0f} kB each "
              f"({'real, perturbed' if any(args.real.glob('*.json')) else 'demo generator'}), "
              f"{dump.stat().st_size / 1e6:.1f} MB .tar.zst; study {args.study or 'paper-sized'}"
              f"{'' if args.study else f' (label rate {args.label_rate or 0.5:g})'}: "
              f"{len(study.systems)} networks loaded in {load_s:.1f} s")
        warm = work / "warm.tar.zst"  # first-use imports (Parquet writer etc.) are paid per job
        write_dump(warm, documents(4, 0, args.real), 8, 2)
        run_tag(warm, study, work)
        parsed = [orjson.loads(d) for d in distinct]
        x = np.stack([flatten_document(d)[0] for d in parsed])
        x = np.concatenate([x] * -(-args.batch_size // len(x)))[:args.batch_size]
        stages: dict[str, Callable[[], tuple[float, float]]] = {
            "floor": lambda: cpu_rate(lambda: read_archive(dump, parse=True)),
            "tag": lambda: run_tag(dump, study, work, args.batch_size),
            "read": lambda: cpu_rate(lambda: read_archive(dump, parse=False)),
            "flatten": lambda: cpu_rate(lambda: flatten_all(parsed, args.docs)),
            "forward": lambda: cpu_rate(lambda: forward_all(study, x, args.docs,
                                                            args.batch_size)),
        }
        rates: dict[str, list[float]] = {}
        for _ in range(args.pairs):
            for name, stage in stages.items():
                wall, cpu = stage()
                rates.setdefault(name, []).append(wall)
                rates.setdefault(f"{name} cpu", []).append(cpu)
        median = {name: statistics.median(values) for name, values in rates.items()}
        for name in ("floor", "tag", "floor cpu", "tag cpu"):
            print(f"{name:9s}: median {median[name]:7.0f} docs/s "
                  f"(runs: {', '.join(f'{v:.0f}' for v in rates[name])})")
        # the median of the pairs' ratios: the machine's speed drifts between pairs (other
        # users), and each pair's stages ran within seconds of each other
        ratio = paired(rates, "tag cpu", "floor cpu")
        wall = paired(rates, "tag", "floor")
        print(f"tag / floor = {wall:.2f} wall clock, {ratio:.2f} CPU time "
              f"(goal >= {GOAL}: {'met' if ratio >= GOAL else 'MISSED'}); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        us = {name: 1e6 / median[f"{name} cpu"] for name in stages}
        parse = us["floor"] - us["read"]
        rest = us["tag"] - us["read"] - parse - us["flatten"] - us["forward"]
        print(f"CPU us per document: floor {us['floor']:.0f} = read (zstd + tar) {us['read']:.0f}"
              f" + orjson.loads {parse:.0f}; tag {us['tag']:.0f} = floor + flatten "
              f"{us['flatten']:.0f} + forward passes {us['forward']:.0f} + the rest (writing, "
              f"decoding) {rest:.0f}")
        ceiling = statistics.median(
            (1 / f) / (1 / f + 1 / g) for f, g in zip(rates["floor cpu"], rates["forward cpu"],
                                                   strict=True))
        print(f"ceiling with flattening and writing free: floor / (floor + forward passes) = "
              f"{ceiling:.2f}")
        budget = us["floor"] / GOAL - us["floor"] - us["forward"]
        print(f"the goal leaves flattening and the rest {budget:.0f} us per document together "
              f"(now {us['flatten'] + rest:.0f})")
        hours = DUMP_DOCUMENTS / (median["tag cpu"] * NODE_CORES) / 3600
        print(f"projection: {DUMP_DOCUMENTS / 1e6:.0f} M documents on one {NODE_CORES}-core node "
              f"({NODE_CORES} jobs of one core, CPU-time rate) = {hours:.1f} h (+ {load_s:.0f} s "
              "of model loading per job)")
        print(f"peak RSS of one tag job over this archive (imports, {len(study.systems)} "
              f"networks, batches, score buffers): {job_peak_rss(dump, args):.0f} MB (a tag "
              "job's budget: 1000 MB)")
        return 0 if ratio >= GOAL else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
