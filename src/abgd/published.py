"""The published baseline numbers, as data, for side-by-side tables.

Sources (the paper's text; ``shared/reference/dataset-spec.md`` §7.4 and §7.6):

* ROC AUC on the official **validation** sets: Oramas, Bogdanov, Porter, "MediaEval 2018
  AcousticBrainz Genre Task: A baseline combining deep feature embeddings across datasets"
  (CEUR-WS Vol-2283, paper 54), Table 1; the ISMIR 2019 paper (Bogdanov et al., "The
  AcousticBrainz Genre Dataset") Table 4 cites the same values rounded to 3 decimals.
* P/R/F on the official **validation** sets after per-label thresholding: the ISMIR 2019
  paper's Table 5 (``VALIDATION_PRF``), the split we report. The paper publishes only the
  "all labels" columns, per recording and per label, with 3 decimals.
* P/R/F on the 2018 challenge's hidden **test** sets (``TEST_PRF``): Oramas et al. 2018 Table
  2, identical to the ``fusionbaseline`` rows of MTG/acousticbrainz-genre-dataset
  ``results/2018-allscores.csv``; the random / popularity rows are ``baseline run1 / run2`` of
  the same CSV. These are **not** the paper's Table 5 (42 of its 48 cells differ) and not our
  split: they are shown apart, labelled "2018 challenge, hidden test", for reference only.
* Dataset statistics: the ISMIR 2019 paper's Table 2 (whole release, hidden test sets
  included) and Table 3 (pseudo conditional entropies).
"""

from __future__ import annotations

SOURCES = ("allmusic", "discogs", "lastfm", "tagtraum")
SOURCE_TITLES = {"allmusic": "AllMusic", "discogs": "Discogs", "lastfm": "Lastfm",
                 "tagtraum": "Tagtraum"}

ROC_AUC: dict[str, dict[str, float]] = {
    "single": {"allmusic": 0.6476, "discogs": 0.7592, "lastfm": 0.8276, "tagtraum": 0.8017},
    "fusion": {"allmusic": 0.8122, "discogs": 0.8863, "lastfm": 0.9064, "tagtraum": 0.8874},
}

PRF_COLUMNS = (
    "Ptrackall", "Rtrackall", "Ftrackall", "Ptrackgen", "Rtrackgen", "Ftrackgen",
    "Ptracksub", "Rtracksub", "Ftracksub", "Plabelall", "Rlabelall", "Flabelall",
    "Plabelgen", "Rlabelgen", "Flabelgen", "Plabelsub", "Rlabelsub", "Flabelsub",
)


def _row(values: str) -> dict[str, float]:
    numbers = [float(x) for x in values.split()]
    assert len(numbers) == len(PRF_COLUMNS)
    return dict(zip(PRF_COLUMNS, numbers, strict=True))


#: ISMIR 2019 Table 5: system -> source -> metric, validation sets, per-label thresholds.
VALIDATION_PRF: dict[str, dict[str, dict[str, float]]] = {
    "single": {
        "allmusic": {"Ptrackall": 0.016, "Rtrackall": 0.579, "Ftrackall": 0.030,
                     "Plabelall": 0.023, "Rlabelall": 0.492, "Flabelall": 0.032},
        "discogs": {"Ptrackall": 0.069, "Rtrackall": 0.538, "Ftrackall": 0.119,
                    "Plabelall": 0.076, "Rlabelall": 0.249, "Flabelall": 0.095},
        "lastfm": {"Ptrackall": 0.075, "Rtrackall": 0.446, "Ftrackall": 0.124,
                   "Plabelall": 0.074, "Rlabelall": 0.238, "Flabelall": 0.095},
        "tagtraum": {"Ptrackall": 0.124, "Rtrackall": 0.507, "Ftrackall": 0.194,
                     "Plabelall": 0.097, "Rlabelall": 0.232, "Flabelall": 0.115},
    },
    "fusion": {
        "allmusic": {"Ptrackall": 0.142, "Rtrackall": 0.475, "Ftrackall": 0.195,
                     "Plabelall": 0.065, "Rlabelall": 0.155, "Flabelall": 0.074},
        "discogs": {"Ptrackall": 0.286, "Rtrackall": 0.545, "Ftrackall": 0.339,
                    "Plabelall": 0.108, "Rlabelall": 0.210, "Flabelall": 0.122},
        "lastfm": {"Ptrackall": 0.266, "Rtrackall": 0.476, "Ftrackall": 0.305,
                   "Plabelall": 0.115, "Rlabelall": 0.220, "Flabelall": 0.133},
        "tagtraum": {"Ptrackall": 0.299, "Rtrackall": 0.513, "Ftrackall": 0.349,
                     "Plabelall": 0.127, "Rlabelall": 0.223, "Flabelall": 0.140},
    },
}

#: 2018 challenge (Oramas et al. 2018 Table 2): system -> source -> metric, hidden test sets.
TEST_PRF: dict[str, dict[str, dict[str, float]]] = {
    "single": {
        "allmusic": _row(".0147 .5753 .0280 .2786 .6960 .3399 .0114 .4861 .0219 "
                         ".0225 .4943 .0324 .1658 .4729 .1938 .0184 .4949 .0278"),
        "discogs": _row(".0591 .5263 .1035 .6305 .7289 .6382 .0256 .3497 .0467 "
                        ".0744 .2588 .0935 .3733 .4229 .3801 .0595 .2506 .0792"),
        "lastfm": _row(".0976 .4512 .1506 .3974 .5966 .4455 .0518 .3295 .0856 "
                       ".0732 .2330 .0947 .2321 .3484 .2546 .0572 .2213 .0786"),
        "tagtraum": _row(".0992 .5017 .1623 .2991 .6630 .4040 .0636 .4164 .1083 "
                         ".0951 .2412 .1141 .2551 .3573 .2676 .0764 .2276 .0962"),
    },
    "fusion": {
        "allmusic": _row(".1340 .4809 .1880 .5689 .6905 .5880 .0946 .3251 .1343 "
                         ".0614 .1640 .0736 .2907 .3713 .3080 .0550 .1582 .0670"),
        "discogs": _row(".2775 .5432 .3320 .6877 .7473 .6845 .1472 .3703 .1892 "
                        ".1087 .2226 .1247 .4404 .4713 .4393 .0922 .2102 .1089"),
        "lastfm": _row(".2718 .4762 .3066 .5407 .6335 .5602 .1570 .3368 .1911 "
                       ".1108 .2168 .1314 .3077 .3735 .3246 .0909 .2009 .1119"),
        "tagtraum": _row(".2972 .5127 .3451 .6061 .6885 .6243 .2022 .4148 .2465 "
                         ".1235 .2324 .1400 .2878 .3565 .3053 .1043 .2179 .1206"),
    },
    "random": {
        "allmusic": _row(".1449 .1461 .1108 .2916 .2918 .2748 .0320 .0321 .0282 "
                         ".0059 .0059 .0059 .0636 .0635 .0635 .0043 .0043 .0043"),
        "discogs": _row(".1443 .1436 .1301 .2848 .2855 .2666 .0222 .0216 .0195 "
                        ".0099 .0099 .0098 .0913 .0916 .0914 .0058 .0058 .0058"),
        "lastfm": _row(".0756 .0750 .0692 .1447 .1446 .1396 .0166 .0164 .0155 "
                       ".0071 .0071 .0071 .0376 .0375 .0376 .0040 .0040 .0040"),
        "tagtraum": _row(".1302 .1305 .1271 .2614 .2624 .2570 .0600 .0603 .0584 "
                         ".0098 .0098 .0098 .0365 .0367 .0366 .0067 .0067 .0066"),
    },
    "popularity": {
        "allmusic": _row(".5498 .1985 .2550 .5498 .4591 .4866 0 0 0 "
                         ".0007 .0013 .0009 .0262 .0476 .0338 0 0 0"),
        "discogs": _row(".4998 .1898 .2639 .4998 .4102 .4372 0 0 0 "
                        ".0016 .0032 .0021 .0333 .0667 .0444 0 0 0"),
        "lastfm": _row(".3249 .1282 .1781 .3249 .2925 .3028 0 0 0 "
                       ".0010 .0031 .0015 .0108 .0333 .0164 0 0 0"),
        "tagtraum": _row(".4936 .1646 .2452 .4936 .4686 .4769 0 0 0 "
                         ".0017 .0034 .0022 .0159 .0323 .0213 0 0 0"),
    },
}


# ---------------------------------------------------------------- dataset statistics (§7.6)

#: ISMIR 2019 Table 2: the whole release (train + validation + hidden test, 70/15/15 %).
TABLE2: dict[str, dict[str, float]] = {
    "allmusic": {"recordings": 1935991, "release_groups": 233789, "genres": 21,
                 "subgenres": 745, "genres_per_recording": 1.33, "subgenres_per_recording": 3.14},
    "discogs": {"recordings": 1290489, "release_groups": 169109, "genres": 15,
                "subgenres": 300, "genres_per_recording": 1.37, "subgenres_per_recording": 1.70},
    "lastfm": {"recordings": 806627, "release_groups": 164290, "genres": 30,
               "subgenres": 297, "genres_per_recording": 1.14, "subgenres_per_recording": 1.28},
    "tagtraum": {"recordings": 692217, "release_groups": 98333, "genres": 31,
                 "subgenres": 265, "genres_per_recording": 1.13, "subgenres_per_recording": 1.72},
}


def _matrix(rows: str) -> dict[str, dict[str, float]]:
    values = [[float(v) for v in line.split()] for line in rows.strip().splitlines()]
    return {a: dict(zip(SOURCES, row, strict=True)) for a, row in zip(SOURCES, values,
                                                                     strict=True)}


#: ISMIR 2019 Table 3: H~(X|Y), X = row, Y = column, "all_labels" = (a), "genres_only" = (b).
#: Log base and recordings are not stated in the paper.
TABLE3: dict[str, dict[str, dict[str, float]]] = {
    "all_labels": _matrix("""
        59.6 39.6 28.9 33.3
        35.4 21.2 15.1 17.8
        32.1 19.2 11.2 16.0
        29.0 17.7 11.6 10.6
    """),
    "genres_only": _matrix("""
        1.94 2.40 1.62 1.49
        2.37 2.15 1.57 1.50
        2.87 2.88 1.18 1.80
        2.09 2.00 1.17 0.67
    """),
}
