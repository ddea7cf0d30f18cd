"""Random baseline: seeded, P ≈ R in expectation; popularity: the top genre."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from abgd import baselines as B
from abgd.metrics import evaluate_lists
from abgd.runs import read_run


def _sample_labels(rng: np.random.Generator, n: int) -> list[list[str]]:
    genres = ["blues", "jazz", "pop", "rock"]
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    rows = []
    for _ in range(n):
        g = rng.choice(genres, p=weights)
        subs = [f"{g}---s{j}" for j in range(4) if rng.random() < 0.4]
        rows.append([g, *subs])
    return rows


def test_random_is_seeded_and_copies_training_sets():
    train = [["a"], ["b", "b---x"], ["c"]]
    one, two = B.random_run(train, 50, 7), B.random_run(train, 50, 7)
    assert one == two
    assert B.random_run(train, 50, 8) != one
    assert all(row in train for row in one)


def test_random_precision_close_to_recall():
    rng = np.random.default_rng(0)
    train = _sample_labels(rng, 4000)
    truth = _sample_labels(rng, 4000)  # same distribution as the training set
    run = B.random_run(train, len(truth), seed=1)
    ids = [str(i) for i in range(len(truth))]
    out = evaluate_lists(ids, truth, ids, run)
    # E[|TP|/|P|] and E[|TP|/|T|] agree when P and T are exchangeable draws; with 4000
    # recordings the standard error of each mean is ~0.005.
    assert abs(out["Ptrackall"] - out["Rtrackall"]) < 0.02
    assert abs(out["Plabelall"] - out["Rlabelall"]) < 0.03
    # and it must beat nothing by chance: expected genre precision = sum(w^2) = 0.30
    assert out["Ptrackgen"] == pytest.approx(0.30, abs=0.03)


def test_popularity_predicts_top_genre_with_alphabetic_ties():
    train = [["rock", "rock---a", "rock---b"], ["pop"], ["pop---x", "pop"], ["rock"], ["jazz"]]
    assert B.most_popular_genre(train) == "pop"  # pop 2, rock 2 (subgenres not counted)
    assert B.popularity_run(train, 3) == [["pop"]] * 3


def test_cli_writes_exactly_the_evaluated_ids(tmp_path):
    train = pd.DataFrame({"mbid": ["t1", "t2", "t3"], "release_group": ["r"] * 3,
                          "labels": [["rock"], ["rock", "rock---punk"], ["jazz"]]})
    evalset = pd.DataFrame({"mbid": ["e2", "e1"], "release_group": ["r"] * 2,
                            "labels": [["jazz"], ["pop"]]})
    train.to_parquet(tmp_path / "train.parquet")
    evalset.to_parquet(tmp_path / "eval.parquet")
    for kind in ("random", "popularity"):
        out = tmp_path / f"{kind}.tsv"
        assert B.main(["--train-groundtruth", str(tmp_path / "train.parquet"), "--groundtruth",
                       str(tmp_path / "eval.parquet"), "--kind", kind, "--seed", "3",
                       "--out", str(out)]) == 0
        ids, labels = read_run(out)
        assert ids == ["e1", "e2"]
        if kind == "popularity":
            assert labels == [["rock"], ["rock"]]
        else:
            assert all(row in train["labels"].map(list).tolist() for row in labels)
