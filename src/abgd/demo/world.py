"""The whole demo world: recordings, albums, partitions, labels and latent vectors.

``make_world`` draws everything before any file is written, deterministically in its arguments;
``signals_for`` turns latent vectors into the per-descriptor signals of the documents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from abgd.demo.documents import N_SLOTS, _uuid
from abgd.demo.shaped import (
    SHAPED_GENRES,
    _shaped_labels,
    _shaped_truth,
    _truth_lists,
    shaped_model,
)
from abgd.demo.taxonomy import LATENT, _demo_labels, _demo_truth

LATENT_DIM = 24
TAXONOMY_MODES = ("demo", "shaped")
VALIDATION_FRACTION = 0.18


@dataclass
class World:
    """Everything drawn before writing: recordings, albums, partitions, labels, latent vectors."""

    mbids: list[str]
    rg_of: np.ndarray                 # recording -> release group index
    rg_mbids: list[str]
    rg_genres: list[list[int]]        # latent genres per release group
    rg_styles: list[list[tuple[int, int]]]
    split_of_rg: np.ndarray           # 0 train, 1 validation
    labels: dict[str, dict[int, list[str]]]  # source -> recording index -> sorted labels
    latent: np.ndarray                # (recordings, LATENT_DIM), standardised
    beats: np.ndarray                 # 0, 1 or 2 per recording
    track: np.ndarray
    # Latent genre names for the files' genre tags (index = latent genre).
    genre_names: tuple[str, ...] = tuple(name for name, _, _ in LATENT)


def _album_sizes(rng: np.random.Generator, n: int) -> list[int]:
    sizes: list[int] = []
    total = 0
    while total < n:
        size = int(min(15, 2 + rng.geometric(0.28) - 1))
        size = min(size, n - total)
        sizes.append(size)
        total += size
    if len(sizes) > 1 and sizes[-1] == 1:
        sizes.pop()
        sizes[-1] += 1
    return sizes


def _split_and_cover(rng: np.random.Generator, sizes: list[int], rg_of: np.ndarray,
                     n_recordings: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One partition per release group (~18 % of recordings in validation) and source coverage."""
    n_rg = len(sizes)
    order = rng.permutation(n_rg)
    split_of_rg = np.zeros(n_rg, dtype=np.int8)
    cum = np.cumsum(np.asarray(sizes)[order])
    split_of_rg[order[: int(np.searchsorted(cum, VALIDATION_FRACTION * n_recordings)) + 1]] = 1

    # Coverage: release-level sources per album (correlated), tag sources per track (correlated).
    am = rng.random(n_rg) < 0.72
    dc = np.where(am, rng.random(n_rg) < 0.8, rng.random(n_rg) < 0.3)
    lf = rng.random(n_recordings) < 0.58
    tt = np.where(lf, rng.random(n_recordings) < 0.72, rng.random(n_recordings) < 0.3)
    covered = am[rg_of] | dc[rg_of] | lf | tt
    lf = lf | ~covered
    return split_of_rg, {"allmusic": am[rg_of], "discogs": dc[rg_of], "lastfm": lf, "tagtraum": tt}


def make_world(n_recordings: int, seed: int, odd_beats: float = 0.01,
               taxonomy: str = "demo") -> World:
    """Draw the demo world; pure and deterministic in its arguments.

    ``taxonomy`` "demo" is the small 12-genre world; "shaped" has the real release's label shape
    per source (see ``shaped_model``). Only the labels and the latent vectors differ between them.
    """
    if n_recordings < 20:
        raise ValueError("--recordings must be at least 20")
    if taxonomy not in TAXONOMY_MODES:
        raise ValueError(f"taxonomy must be one of {TAXONOMY_MODES}, not {taxonomy!r}")
    rng = np.random.default_rng([seed, 1])
    sizes = _album_sizes(rng, n_recordings)
    n_rg = len(sizes)
    rg_of = np.repeat(np.arange(n_rg), sizes)
    track = np.concatenate([np.arange(1, s + 1) for s in sizes])
    if taxonomy == "demo":
        rg_genres, rg_styles = _demo_truth(rng, n_rg)
        split_of_rg, cover = _split_and_cover(rng, sizes, rg_of, n_recordings)
        labels = _demo_labels(seed, rg_of, rg_genres, rg_styles, cover)
        counts = [n for _, _, n in LATENT]
        genre_names = tuple(name for name, _, _ in LATENT)
    else:
        model = shaped_model()
        truth = _shaped_truth(rng, model, n_rg)
        split_of_rg, cover = _split_and_cover(rng, sizes, rg_of, n_recordings)
        labels = _shaped_labels(seed, model, truth, rg_of, cover)
        rg_genres, rg_styles = _truth_lists(model, truth)
        counts = model.counts.tolist()
        genre_names = tuple(row[0] for row in SHAPED_GENRES)

    latent = _latent_vectors(np.random.default_rng([seed, 3]), rg_of, rg_genres, rg_styles,
                             counts)
    mbid_rng = np.random.default_rng([seed, 4])
    mbids = [_uuid(mbid_rng) for _ in range(n_recordings)]
    rg_mbids = [_uuid(mbid_rng) for _ in range(n_rg)]
    beat_rng = np.random.default_rng([seed, 5])
    odd = beat_rng.random(n_recordings) < odd_beats
    beats = np.where(odd, beat_rng.integers(0, 2, n_recordings), 2).astype(np.int8)
    return World(mbids, rg_of, rg_mbids, rg_genres, rg_styles, split_of_rg, labels, latent,
                 beats, track, genre_names)


# Latent noise levels: these set how hard the task is (linear macro ROC AUC ~0.7-0.9).
ALBUM_SD = 2.0
TRACK_SD = 2.0
STYLE_WEIGHT = 0.8
SLOT_NOISE = 1.0


def _latent_vectors(rng: np.random.Generator, rg_of: np.ndarray, rg_genres: list[list[int]],
                    rg_styles: list[list[tuple[int, int]]],
                    styles_per_genre: Sequence[int]) -> np.ndarray:
    """Album = its genres' embeddings + its styles' embeddings + album noise; track adds noise.

    Vectorised over albums, yet every addition happens in the order of the original per-album
    loop (genres, then styles one by one from zero, then noise), so the demo world's vectors stay
    bit for bit what they were.
    """
    n_genres = len(styles_per_genre)
    offset = np.concatenate(([0], np.cumsum(styles_per_genre)))
    genre_emb = rng.standard_normal((n_genres, LATENT_DIM))
    style_emb = STYLE_WEIGHT * rng.standard_normal((int(offset[-1]), LATENT_DIM))
    n_rg = len(rg_genres)
    first = np.array([gs[0] for gs in rg_genres], dtype=np.int64)
    second = np.array([gs[1] if len(gs) > 1 else -1 for gs in rg_genres], dtype=np.int64)
    genre_sum = genre_emb[first]
    two = second >= 0
    genre_sum[two] += genre_emb[second[two]]
    n_styles = np.array([len(sts) for sts in rg_styles], dtype=np.int64)
    flat = np.array([offset[g] + s for sts in rg_styles for g, s in sts], dtype=np.int64)
    start = np.concatenate(([0], np.cumsum(n_styles)[:-1]))
    style_sum = np.zeros((n_rg, LATENT_DIM))
    for j in range(int(n_styles.max(initial=0))):
        has = np.flatnonzero(n_styles > j)
        style_sum[has] += style_emb[flat[start[has] + j]]
    album = genre_sum + style_sum + ALBUM_SD * rng.standard_normal((n_rg, LATENT_DIM))
    z = album[rg_of] + TRACK_SD * rng.standard_normal((len(rg_of), LATENT_DIM))
    return (z - z.mean(axis=0)) / z.std(axis=0)


def projection(seed: int) -> np.ndarray:
    """The fixed map from the latent space to the 2647 stored numbers (shared by all workers)."""
    rng = np.random.default_rng([seed, 6])
    return rng.standard_normal((LATENT_DIM, N_SLOTS)) / math.sqrt(LATENT_DIM)


def signals_for(latent: np.ndarray, proj: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-slot standard-normal-ish signals: projected latent vector plus independent noise."""
    clean = latent @ proj
    noisy = clean + SLOT_NOISE * rng.standard_normal(clean.shape)
    return noisy / math.sqrt(1.0 + SLOT_NOISE**2)
