"""The shaped world: the real release's label shape per source (spec §1.5), for scale rehearsals.

Genre vocabularies, 745/300/297/265 synthetic subgenres and labels per track as in the release,
so that a rehearsal meets as many output units and as long a label tail as the real study.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from abgd import release
from abgd.demo.taxonomy import NOISE, RELEASE_LEVEL

# Latent genres in popularity order -> (tag name, allmusic, discogs, lastfm, tagtraum genre).
# Each source column uses exactly that source's real genre vocabulary (spec §1.5); latent genres
# a source does not tell apart share one of its genres, which lowers its genres per track.
SHAPED_GENRES: tuple[tuple[str, str, str, str, str], ...] = (
    ("Rock", "pop/rock", "rock", "rock", "rock/pop"),
    ("Electronic", "electronic", "electronic", "electronic", "electronic"),
    ("Pop", "pop/rock", "pop", "pop", "rock/pop"),
    ("Metal", "pop/rock", "rock", "metal", "rock/pop"),
    ("Jazz", "jazz", "jazz", "jazz", "jazz"),
    ("Classical", "classical", "classical", "classical", "classical"),
    ("Hip-Hop", "rap", "hip hop", "hiphop", "hiphop"),
    ("Soul", "r&b", "funk / soul", "soul", "rnb"),
    ("Country", "country", "folk, world, & country", "country", "country"),
    ("Soundtrack", "stage & screen", "stage & screen", "soundtrack", "soundtrack"),
    ("Dance", "electronic", "electronic", "dance", "dance"),
    ("Folk", "folk", "folk, world, & country", "folk", "folk"),
    ("World", "international", "folk, world, & country", "world", "world"),
    ("Blues", "blues", "blues", "blues", "blues"),
    ("Reggae", "reggae", "reggae", "reggae", "reggae"),
    ("Latin", "latin", "latin", "latin", "latin"),
    ("Funk", "r&b", "funk / soul", "soul", "funk"),
    ("Techno", "electronic", "electronic", "electronic", "techno"),
    ("Trance", "electronic", "electronic", "dance", "trance"),
    ("Industrial", "pop/rock", "electronic", "electronic", "industrial"),
    ("Oldies", "vocal", "pop", "oldie", "easylistening"),
    ("Easy Listening", "easy listening", "pop", "instrumental", "easylistening"),
    ("New Age", "new age", "electronic", "newage", "newage"),
    ("Chillout", "electronic", "electronic", "chillout", "electronic"),
    ("Experimental", "avant-garde", "electronic", "experimental", "electronic"),
    ("Post-Rock", "pop/rock", "rock", "postrock", "rock/pop"),
    ("Post-Hardcore", "pop/rock", "rock", "posthardcore", "rock/pop"),
    ("Gothic", "pop/rock", "rock", "gothic", "rock/pop"),
    ("J-Pop", "international", "pop", "jpop/jrock", "anime"),
    ("Brazilian", "latin", "latin", "brazilian", "latin"),
    ("Neofolk", "folk", "folk, world, & country", "neofolk", "folk"),
    ("Drum & Bass", "electronic", "electronic", "electronic", "drumnbass"),
    ("Dubstep", "electronic", "electronic", "electronic", "dubstep"),
    ("Gospel", "religious", "funk / soul", "gospel", "gospel"),
    ("Christian", "religious", "rock", "christian", "rock/pop"),
    ("Holiday", "holiday", "pop", "christmas/holiday", "christmas/holiday"),
    ("Celtic", "international", "folk, world, & country", "folk", "celtic"),
    ("Reggaeton", "latin", "latin", "latin", "reggaeton"),
    ("Children's", "children's", "children's", "pop", "childrens"),
    ("Comedy", "comedy/spoken", "non-music", "experimental", "comedy"),
    ("Spoken Word", "comedy/spoken", "non-music", "experimental", "spoken"),
    ("Video Game", "stage & screen", "stage & screen", "soundtrack", "game"),
    ("Military", "easy listening", "brass & military", "instrumental", "classical"),
)

# The real shape per source (spec §1.5): subgenres, genres / track, subgenres / track.
SHAPED_TARGETS: dict[str, tuple[int, float, float]] = {
    "allmusic": (745, 1.33, 3.15),
    "discogs": (300, 1.37, 1.69),
    "lastfm": (297, 1.14, 1.28),
    "tagtraum": (265, 1.13, 1.72),
}
SHAPED_STYLES = 800      # latent styles in all, shared out over genres by popularity
GENRE_ZIPF = 1.1         # genre popularity ∝ rank^-1.1: the top genre gets ~27 % of albums
STYLE_ZIPF = 1.4         # style popularity within a genre ∝ rank^-1.4: the long label tail
SECOND_GENRE = 0.45      # albums with a second latent genre (sources see only some of them)
STYLES_PER_GENRE = 3.2   # expected styles an album draws per genre, before the cap
STYLE_CAP = 0.8          # no style is on more than 80 % of its genre's albums

# Style names: prefix x noun gives 800 distinct names, joined with a space for allmusic/discogs
# and without for the tag sources (whose real labels have no spaces).
_PREFIXES = ("acid", "alt", "avant", "baroque", "brit", "chamber", "cosmic", "dark", "deep",
             "dream", "dub", "early", "free", "garage", "glitch", "hard", "heavy", "indie",
             "jangle", "lounge", "math", "minimal", "modern", "neo", "noise", "nu", "post",
             "power", "proto", "retro", "soft", "space")
_NOUNS = ("beat", "bop", "blues", "core", "dance", "disco", "drone", "folk", "funk", "fusion",
          "gaze", "groove", "house", "jazz", "metal", "pop", "punk", "rock", "soul", "step",
          "swing", "trance", "twang", "wave", "tronica")


@dataclass(frozen=True)
class SourceShape:
    """How one source sees the shaped world: its labels and calibrated noise."""

    labels: tuple[str, ...]    # sorted: a label id is its rank, so sorted ids give sorted names
    genre_label: np.ndarray    # latent genre -> label id of the source's genre
    style_label: np.ndarray    # latent style -> label id, -1 where the source lacks the style
    keep_second: float         # P(the source sees an album's second genre)
    keep_style: float          # P(the source names a style of a genre it kept)


@dataclass(frozen=True)
class ShapedModel:
    """The shaped latent world and the four sources' views of it (built once, never drawn)."""

    weights: np.ndarray        # latent genre popularity (sums to 1)
    counts: np.ndarray         # styles per latent genre
    style_genre: np.ndarray    # latent style -> its genre
    style_rank: np.ndarray     # latent style -> its index within the genre
    style_p: np.ndarray        # P(an album of the style's genre has the style)
    sources: dict[str, SourceShape]


def _zipf(n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def _share_out(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to ``weights`` summing to ``total`` (largest remainders), each ≥ 1."""
    raw = total * weights
    out = np.maximum(1, np.floor(raw).astype(np.int64))
    missing = total - int(out.sum())
    if missing < 0:
        raise ValueError(f"cannot give each of {weights.size} genres a style out of {total}")
    out[np.argsort(-(raw - np.floor(raw)), kind="stable")[:missing]] += 1
    return out


def _pair_matrix(weights: np.ndarray) -> np.ndarray:
    """P(first genre h, second genre g) for two-genre albums: g drawn again without h."""
    m = np.outer(weights, weights) / (1.0 - weights)[:, None]
    np.fill_diagonal(m, 0.0)
    return m


def _style_names(sep: str) -> list[str]:
    """One name per latent style; distinct, so every source's subgenre labels are distinct."""
    if len(_PREFIXES) * len(_NOUNS) < SHAPED_STYLES:
        raise ValueError(f"{SHAPED_STYLES} styles need more than {len(_PREFIXES)} x "
                         f"{len(_NOUNS)} names")
    names = [f"{_PREFIXES[i % len(_PREFIXES)]}{sep}{_NOUNS[i // len(_PREFIXES)]}"
             for i in range(SHAPED_STYLES)]
    if len(set(names)) != len(names):
        raise ValueError(f"style names collide when joined with {sep!r}")
    return names


def _keep_second(weights: np.ndarray, genre_of: np.ndarray, source: str) -> float:
    """P(source sees a second genre) that gives its genres / track (spec §1.5), in expectation.

    A one-genre view has one genre plus a confusion that lands on another of the source's genres;
    a seen second genre adds one where both survive dropping and the source tells them apart.
    (Confusions on two-genre views are counted as on one-genre views: under 1 % off.)
    """
    p_drop, p_confuse, _ = NOISE[source]
    differ = genre_of[:, None] != genre_of[None, :]
    base = 1.0 + p_confuse * float(weights @ differ @ weights)
    gain = SECOND_GENRE * (1.0 - p_drop) ** 2 * float((_pair_matrix(weights) * differ).sum())
    return (SHAPED_TARGETS[source][1] - base) / gain


def _keep_style(weights: np.ndarray, style_mass: np.ndarray, keep_second: float,
                source: str) -> float:
    """P(source names a style) that gives its subgenres / track (spec §1.5), in expectation.

    ``style_mass[g]`` is the expected number of the source's styles on an album of genre g; a
    genre contributes when the source keeps it (a first genre is dropped only if the second
    one survives).
    """
    p_drop = NOISE[source][0]
    seen = SECOND_GENRE * keep_second
    first_kept = weights * (1.0 - seen * p_drop * (1.0 - p_drop))
    second_kept = seen * (1.0 - p_drop) * _pair_matrix(weights).sum(axis=0)
    return SHAPED_TARGETS[source][2] / float((first_kept + second_kept) @ style_mass)


def _source_shape(source: str, column: int, weights: np.ndarray, style_genre: np.ndarray,
                  style_p: np.ndarray, popular: np.ndarray) -> SourceShape:
    genres = [row[column] for row in SHAPED_GENRES]
    names = _style_names(" " if RELEASE_LEVEL[source] else "")
    kept = np.sort(popular[: SHAPED_TARGETS[source][0]])
    subgenres = [f"{genres[style_genre[k]]}---{names[k]}" for k in kept]
    labels = tuple(sorted({*genres, *subgenres}))
    rank = {label: i for i, label in enumerate(labels)}
    genre_label = np.array([rank[g] for g in genres], dtype=np.int64)
    style_label = np.full(len(style_genre), -1, dtype=np.int64)
    style_label[kept] = [rank[label] for label in subgenres]
    # Equal label ids <=> the source does not tell the two latent genres apart.
    keep_second = _keep_second(weights, genre_label, source)
    mass = np.bincount(style_genre[kept], weights=style_p[kept], minlength=len(weights))
    keep_style = _keep_style(weights, mass, keep_second, source)
    if not (0.0 <= keep_second <= 1.0 and 0.0 < keep_style <= 1.0):
        raise ValueError(f"shaped {source}: cannot reach spec §1.5 shape "
                         f"(keep_second {keep_second:.3f}, keep_style {keep_style:.3f})")
    return SourceShape(labels, genre_label, style_label, keep_second, keep_style)


@lru_cache(maxsize=1)
def shaped_model() -> ShapedModel:
    """The shaped world's parameters, derived (not drawn) from the constants above.

    Each source keeps its number of subgenres as the most frequent latent styles overall, so
    sources with fewer subgenres also name fewer per track; two probabilities per source are then
    solved for so that genres / track and subgenres / track match spec §1.5 in expectation.
    """
    weights = _zipf(len(SHAPED_GENRES), GENRE_ZIPF)
    counts = _share_out(SHAPED_STYLES, weights)
    style_genre = np.repeat(np.arange(len(counts)), counts)
    style_rank = np.concatenate([np.arange(n) for n in counts])
    style_p = np.concatenate([np.minimum(STYLE_CAP, STYLES_PER_GENRE * _zipf(n, STYLE_ZIPF))
                              for n in counts])
    # How often each style occurs over all albums (first or second genre).
    genre_freq = weights + SECOND_GENRE * _pair_matrix(weights).sum(axis=0)
    popular = np.argsort(-(genre_freq[style_genre] * style_p), kind="stable")
    sources = {source: _source_shape(source, 1 + k, weights, style_genre, style_p, popular)
               for k, source in enumerate(release.SOURCES)}
    return ShapedModel(weights, counts, style_genre, style_rank, style_p, sources)


@dataclass(frozen=True)
class ShapedTruth:
    """Latent truth per album: genres (second -1 if none) and styles grouped by album."""

    first: np.ndarray
    second: np.ndarray
    style_ptr: np.ndarray      # album r's styles are styles[style_ptr[r]:style_ptr[r + 1]]
    styles: np.ndarray         # latent style ids: first genre's, then second's, by rank


def _shaped_truth(rng: np.random.Generator, model: ShapedModel, n_rg: int) -> ShapedTruth:
    n_genres = len(model.weights)
    first = rng.choice(n_genres, size=n_rg, p=model.weights)
    second = np.full(n_rg, -1, dtype=np.int64)
    todo = np.flatnonzero(rng.random(n_rg) < SECOND_GENRE)
    while todo.size:  # redraw clashes: the second genre follows the weights without the first
        draw = rng.choice(n_genres, size=todo.size, p=model.weights)
        ok = draw != first[todo]
        second[todo[ok]] = draw[ok]
        todo = todo[~ok]
    offset = np.concatenate(([0], np.cumsum(model.counts)))
    albums, slots, styles = [], [], []
    for g in range(n_genres):  # each style independently: a Poisson-like count per genre
        rows = np.flatnonzero((first == g) | (second == g))
        p = model.style_p[offset[g]:offset[g + 1]]
        row, k = np.nonzero(rng.random((rows.size, p.size)) < p)
        albums.append(rows[row])
        slots.append((second[rows[row]] == g).astype(np.int8))
        styles.append(offset[g] + k)
    album, slot, style = (np.concatenate(x) for x in (albums, slots, styles))
    order = np.lexsort((style, slot, album))
    ptr = np.concatenate(([0], np.cumsum(np.bincount(album, minlength=n_rg))))
    return ShapedTruth(first, second, ptr, style[order])


def _truth_lists(model: ShapedModel,
                 truth: ShapedTruth) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """The truth in World's list form (genre, style-within-genre)."""
    pairs = list(zip(model.style_genre[truth.styles].tolist(),
                     model.style_rank[truth.styles].tolist(), strict=True))
    ptr = truth.style_ptr.tolist()
    genres = [[f] if s < 0 else [f, s]
              for f, s in zip(truth.first.tolist(), truth.second.tolist(), strict=True)]
    return genres, [pairs[a:b] for a, b in pairwise(ptr)]


def _unit_styles(truth: ShapedTruth, unit_rg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit, latent style) for every style of every unit's album, without a Python loop."""
    start = truth.style_ptr[unit_rg]
    count = truth.style_ptr[unit_rg + 1] - start
    unit = np.repeat(np.arange(unit_rg.size), count)
    within = np.arange(unit.size) - np.repeat(np.cumsum(count) - count, count)
    return unit, truth.styles[start[unit] + within]


def _view_labels(source: str, model: ShapedModel, truth: ShapedTruth, unit_rg: np.ndarray,
                 rng: np.random.Generator) -> list[list[str]]:
    """One noisy view per unit (album or track) through the source's taxonomy: sorted labels.

    Same noise as the demo world (NOISE's drop a genre but keep one, confuse), drawn for all
    units at once; the style keep rate is the source's calibrated one, not NOISE's, as it also
    carries the source's lower subgenres per track.
    """
    src = model.sources[source]
    p_drop, p_confuse, _ = NOISE[source]
    n = unit_rg.size
    first, second = truth.first[unit_rg], truth.second[unit_rg]
    drop_first = rng.random(n) < p_drop
    drop_second = rng.random(n) < p_drop
    keep_second = (second >= 0) & (rng.random(n) < src.keep_second) & ~drop_second
    keep_first = ~drop_first | ~keep_second
    confused = rng.random(n) < p_confuse
    wrong = rng.choice(len(model.weights), size=n, p=model.weights)
    unit, style = _unit_styles(truth, unit_rg)
    genre = model.style_genre[style]
    label = src.style_label[style]
    named = (((genre == first[unit]) & keep_first[unit])
             | ((genre == second[unit]) & keep_second[unit]))
    named &= (label >= 0) & (rng.random(style.size) < src.keep_style)
    ids = np.arange(n)
    # A style is named only under a kept genre, whose label is its parent: parents are present.
    pairs_unit = np.concatenate((ids[keep_first], ids[keep_second], ids[confused], unit[named]))
    pairs_label = np.concatenate((src.genre_label[first[keep_first]],
                                  src.genre_label[second[keep_second]],
                                  src.genre_label[wrong[confused]], label[named]))
    key = np.unique(pairs_unit * len(src.labels) + pairs_label)
    names = np.asarray(src.labels, dtype=object)[key % len(src.labels)].tolist()
    bounds = np.searchsorted(key // len(src.labels), np.arange(n + 1)).tolist()
    return [names[a:b] for a, b in pairwise(bounds)]


def _shaped_labels(seed: int, model: ShapedModel, truth: ShapedTruth, rg_of: np.ndarray,
                   cover: dict[str, np.ndarray]) -> dict[str, dict[int, list[str]]]:
    labels: dict[str, dict[int, list[str]]] = {}
    for source in release.SOURCES:
        src_rng = np.random.default_rng([seed, 2, release.SOURCES.index(source)])
        covered = np.flatnonzero(cover[source])
        if RELEASE_LEVEL[source]:
            per_rg = _view_labels(source, model, truth, np.arange(truth.first.size), src_rng)
            views = [per_rg[r] for r in rg_of[covered].tolist()]
        else:
            views = _view_labels(source, model, truth, rg_of[covered], src_rng)
        labels[source] = dict(zip(covered.tolist(), views, strict=True))
    return labels
