"""The demo world's 12 latent genres and the four sources' views of them.

Each source maps the latent genres and their sub-styles onto its own taxonomy (merged, split or
renamed labels, real names from the sources' vocabularies) with its own label noise; release-level
sources label whole albums, tag sources label tracks.
"""

from __future__ import annotations

import numpy as np

from abgd import release
from abgd.labels import parent

# Latent genres: (display name used in file tags, popularity weight, number of sub-styles).
LATENT: tuple[tuple[str, float, int], ...] = (
    ("Rock", 0.18, 4), ("Electronic", 0.14, 4), ("Pop", 0.11, 2), ("Jazz", 0.09, 2),
    ("Classical", 0.085, 2), ("Hip-Hop", 0.08, 2), ("Country", 0.075, 2), ("Soul", 0.07, 2),
    ("Soundtrack", 0.07, 2), ("Reggae", 0.065, 1), ("Blues", 0.065, 1), ("Holiday", 0.05, 0),
)

# Per source: latent genre -> (genre label, labels per sub-style or None where the source lacks
# it). A sub-style label may be a subgenre of another genre or a genre of its own; parents of
# subgenres are always added. Real label names from the sources' vocabularies (spec §1.5).
_S = tuple[str, tuple[str | tuple[str, ...] | None, ...]]
TAXONOMIES: dict[str, tuple[_S, ...]] = {
    "allmusic": (
        ("pop/rock", ("pop/rock---alternative/indie rock", "pop/rock---hard rock",
                      "pop/rock---punk/new wave", "pop/rock---heavy metal")),
        ("electronic", ("electronic---ambient techno", "electronic---techno", "electronic---house",
                        "electronic---downtempo")),
        ("pop/rock", ("pop/rock---dance-pop", "pop/rock---adult contemporary")),
        ("jazz", ("jazz---big band/swing", "vocal---vocal jazz")),
        ("classical", ("classical---chamber music", "classical---orchestral")),
        ("rap", ("rap---gangsta rap", "rap---alternative rap")),
        ("country", ("country---traditional country", "folk")),
        ("r&b", ("r&b---soul", "r&b---funk")),
        ("stage & screen", ("stage & screen---film music", "stage & screen---soundtracks")),
        ("reggae", ("reggae---roots reggae",)),
        ("blues", ("blues---electric blues",)),
        ("children's", ()),
    ),
    "discogs": (
        ("rock", ("rock---alternative rock", "rock---hard rock", "rock---punk",
                  "rock---heavy metal")),
        ("electronic", ("electronic---ambient", "electronic---techno", "electronic---house",
                        "electronic---downtempo")),
        ("pop", ("pop---europop", "pop---ballad")),
        ("jazz", ("jazz---swing", None)),
        ("classical", ("classical---baroque", "classical---romantic")),
        ("hip hop", ("hip hop---gangsta", "hip hop---conscious")),
        ("folk, world, & country", ("folk, world, & country---country",
                                    "folk, world, & country---folk")),
        ("funk / soul", ("funk / soul---soul", "funk / soul---funk")),
        ("stage & screen", ("stage & screen---score", "stage & screen---soundtrack")),
        ("reggae", ("reggae---roots reggae",)),
        ("blues", (None,)),
        ("children's", ()),
    ),
    "lastfm": (
        ("rock", ("rock---alternative", "rock---hardrock", "rock---punk", "metal---heavymetal")),
        ("electronic", (("electronic---ambient", "chillout"), "electronic---techno",
                        "dance---club", ("electronic---downtempo", "chillout"))),
        ("pop", ("pop---dancepop", "pop---ballad")),
        ("jazz", ("jazz---swing", "jazz---vocaljazz")),
        ("classical", (None, None)),
        ("hiphop", ("hiphop---rap", "hiphop---undergroundhiphop")),
        ("country", ("country---classiccountry", "folk")),
        ("soul", ("soul---rnb", "soul---funk")),
        ("soundtrack", ("soundtrack---score", None)),
        ("reggae", ("reggae---rootsreggae",)),
        ("blues", (None,)),
        ("christmas/holiday", ()),
    ),
    "tagtraum": (
        ("rock/pop", ("rock/pop---alternative", "rock/pop---hardrock", "rock/pop---punk",
                      "rock/pop---metal")),
        ("electronic", ("electronic---ambient", "techno", "dance---house",
                        "electronic---downtempo")),
        ("rock/pop", ("rock/pop---dancepop", "rock/pop---pop")),
        ("jazz", ("jazz---swing", "jazz---vocaljazz")),
        ("classical", (None, None)),
        ("hiphop", ("hiphop---raphiphop", None)),
        ("country", ("country---contemporarycountry", "folk")),
        ("rnb", ("rnb---soul", "funk")),
        ("soundtrack", ("soundtrack---score", "soundtrack---filmsoundtrack")),
        ("reggae", ("reggae---rootsreggae",)),
        ("blues", ("blues---electricblues",)),
        ("christmas/holiday", ()),
    ),
}

# Release-level sources label albums (every track gets the album's labels); tag sources label
# tracks. Noise: p_drop (lose a genre), p_confuse (add a wrong genre), p_sub (keep a sub-style).
RELEASE_LEVEL = {"allmusic": True, "discogs": True, "lastfm": False, "tagtraum": False}
NOISE = {
    "allmusic": (0.06, 0.05, 0.9),
    "discogs": (0.08, 0.06, 0.9),
    "lastfm": (0.12, 0.08, 0.85),
    "tagtraum": (0.12, 0.1, 0.85),
}


def _source_labels(source: str, genres: list[int], styles: list[tuple[int, int]],
                   rng: np.random.Generator) -> list[str]:
    """One noisy view of the latent truth through a source's taxonomy."""
    p_drop, p_confuse, p_sub = NOISE[source]
    tax = TAXONOMIES[source]
    kept = [g for g in genres if rng.random() >= p_drop] or [genres[0]]
    if rng.random() < p_confuse:
        weights = np.array([w for _, w, _ in LATENT])
        kept.append(int(rng.choice(len(LATENT), p=weights / weights.sum())))
    labels = {tax[g][0] for g in kept}
    for g, s in styles:
        if g not in kept or rng.random() >= p_sub:
            continue
        mapped = tax[g][1][s]
        for label in (mapped,) if isinstance(mapped, str) else (mapped or ()):
            labels.add(label)
    for label in list(labels):
        if (genre := parent(label)) is not None:
            labels.add(genre)
    return sorted(labels)


def _demo_truth(rng: np.random.Generator,
                n_rg: int) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Latent genres and sub-styles of each album in the small demo world."""
    weights = np.array([w for _, w, _ in LATENT])
    weights = weights / weights.sum()
    rg_genres: list[list[int]] = []
    rg_styles: list[list[tuple[int, int]]] = []
    for _ in range(n_rg):
        genres = [int(rng.choice(len(LATENT), p=weights))]
        if rng.random() < 0.2:
            rest = weights.copy()
            rest[genres[0]] = 0
            genres.append(int(rng.choice(len(LATENT), p=rest / rest.sum())))
        # Each sub-style independently; fewer sub-styles -> each more likely (keeps counts up).
        styles = [(g, s) for g in genres for s in range(LATENT[g][2])
                  if rng.random() < 1.6 / (LATENT[g][2] + 1)]
        rg_genres.append(genres)
        rg_styles.append(styles)
    return rg_genres, rg_styles


def _demo_labels(seed: int, rg_of: np.ndarray, rg_genres: list[list[int]],
                 rg_styles: list[list[tuple[int, int]]],
                 cover: dict[str, np.ndarray]) -> dict[str, dict[int, list[str]]]:
    labels: dict[str, dict[int, list[str]]] = {}
    n_rg = len(rg_genres)
    for source in release.SOURCES:
        src_rng = np.random.default_rng([seed, 2, release.SOURCES.index(source)])
        per_rg = ([_source_labels(source, rg_genres[r], rg_styles[r], src_rng)
                   for r in range(n_rg)] if RELEASE_LEVEL[source] else None)
        out: dict[int, list[str]] = {}
        for i in np.flatnonzero(cover[source]):
            r = int(rg_of[i])
            out[int(i)] = per_rg[r] if per_rg is not None else \
                _source_labels(source, rg_genres[r], rg_styles[r], src_rng)
        labels[source] = out
    return labels
