"""The mirror: ground-truth TSVs, feature archives in the release's tar layout, and MD5SUMS.

Each archive is written by one independent job with its own random numbers, so the bytes do not
depend on how many worker processes share the jobs.
"""

from __future__ import annotations

import bz2
import io
import logging
import tarfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abgd import release
from abgd.demo.documents import DocInfo, dumps_document, make_documents
from abgd.demo.groundtruth import groundtruth_rows, tsv_bytes
from abgd.demo.world import World, make_world, projection, signals_for
from abgd.io import atomic_path, md5_file
from abgd.progress import progress

log = logging.getLogger("abgd.demo")

MTIME = 1493683200  # 2017-05-02, the date on the real archive members


def _write_bz2(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(bz2.compress(data, 9))


def _tarinfo(name: str, size: int | None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = MTIME
    info.uid = info.gid = 1000
    info.uname = info.gname = "abgd"
    if size is None:
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    else:
        info.size = size
        info.mode = 0o644
    return info


@dataclass(frozen=True)
class ArchiveJob:
    """Everything one worker needs to write one archive, independent of the other workers."""

    path: str
    split: str
    index: int
    seed: int
    infos: tuple[DocInfo, ...]
    latent: np.ndarray


def write_archive(job: ArchiveJob) -> str:
    """Generate and tar one archive's documents; its own RNG makes it independent of --workers."""
    rng = np.random.default_rng([job.seed, 7, job.index])
    proj = projection(job.seed)
    root = release.member_dir(job.split)
    order = sorted(range(len(job.infos)), key=lambda k: job.infos[k].mbid)
    infos = [job.infos[k] for k in order]
    docs: list[dict[str, Any]] = []
    batch = 256
    for start in range(0, len(infos), batch):
        part = order[start:start + batch]
        signals = signals_for(job.latent[part], proj, rng)
        docs.extend(make_documents(rng, signals, infos[start:start + batch]))
    with atomic_path(job.path) as tmp, open(tmp, "wb") as raw, \
            tarfile.open(fileobj=raw, mode="w:bz2", compresslevel=9,
                         format=tarfile.GNU_FORMAT) as tar:
        tar.addfile(_tarinfo(f"{root}/", None))
        last_dir = None
        for info, doc in zip(infos, docs, strict=True):
            folder = f"{root}/{info.mbid[:2]}/"
            if folder != last_dir:
                tar.addfile(_tarinfo(folder, None))
                last_dir = folder
            data = dumps_document(doc)
            tar.addfile(_tarinfo(release.member_path(job.split, info.mbid), len(data)),
                        io.BytesIO(data))
    return job.path


def _archive_jobs(world: World, out: Path, seed: int) -> list[ArchiveJob]:
    tag_rng = np.random.default_rng([seed, 8])
    has_tag = tag_rng.random(len(world.mbids)) < 0.3
    jobs = []
    for index, arch in enumerate(release.ARCHIVES):
        split_id = release.SPLITS.index(arch.split)
        members = [i for i, m in enumerate(world.mbids)
                   if m[0] in arch.digits and world.split_of_rg[int(world.rg_of[i])] == split_id]
        infos = tuple(
            DocInfo(mbid=world.mbids[i], release_group=world.rg_mbids[int(world.rg_of[i])],
                    beats=int(world.beats[i]), track=int(world.track[i]),
                    genre_tag=world.genre_names[world.rg_genres[int(world.rg_of[i])][0]]
                    if has_tag[i] else None)
            for i in members)
        jobs.append(ArchiveJob(str(out / arch.name), arch.split, index, seed, infos,
                               world.latent[members]))
    return jobs


def md5sums_text(folder: Path, names: Sequence[str]) -> str:
    return "".join(f"{md5_file(folder / name)}  {name}\n" for name in sorted(names))


def build_mirror(out: Path, n_recordings: int, seed: int, workers: int = 1,
                 odd_beats: float = 0.01, taxonomy: str = "demo") -> World:
    """Write the whole mirror (8 TSVs, 10 archives, MD5SUMS) into ``out``; return the world."""
    out.mkdir(parents=True, exist_ok=True)
    world = make_world(n_recordings, seed, odd_beats, taxonomy)
    for source in release.SOURCES:
        for split in release.SPLITS:
            rows = groundtruth_rows(world, source, split)
            _write_bz2(out / release.groundtruth_name(source, split), tsv_bytes(rows))
            log.info("%s-%s: %d recordings", source, split, len(rows))
    jobs = _archive_jobs(world, out, seed)
    if workers <= 1:
        for job in progress(jobs, desc="archives"):
            write_archive(job)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in progress(pool.map(write_archive, jobs), total=len(jobs), desc="archives"):
                pass
    names = release.release_names()
    with atomic_path(out / "MD5SUMS") as tmp:
        tmp.write_text(md5sums_text(out, names), encoding="utf-8")
    return world
