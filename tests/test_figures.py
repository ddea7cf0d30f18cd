"""Figure helpers compute what they plot correctly; the CLI writes four PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, roc_auc_score

from abgd.figures import macro_roc, main, per_label_f


def test_per_label_f_matches_sklearn() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random((200, 7)) < 0.3
    predicted = rng.random((200, 7)) < 0.4
    predicted[:, 3] = False  # never predicted: F 0
    expected = f1_score(truth, predicted, average=None, zero_division=0)
    np.testing.assert_allclose(per_label_f(truth, predicted), expected)


def test_macro_roc_area_close_to_mean_auc() -> None:
    rng = np.random.default_rng(1)
    truth = rng.random((2000, 5)) < 0.2
    scores = truth * 0.8 + rng.random((2000, 5))
    _, area = macro_roc(truth, scores)
    assert abs(area - roc_auc_score(truth, scores, average="macro")) < 0.01
    _, perfect = macro_roc(truth, truth.astype(float))
    assert perfect > 0.99


def test_cli_writes_four_figures(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    labels = ["rock", "rock---indie", "pop"]
    mbids = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(60)]
    args: dict[str, list[str]] = {"--epochs": [], "--scores": [], "--groundtruth": [],
                                  "--thresholds": []}
    truth = pd.DataFrame({"mbid": mbids, "release_group": mbids,
                          "labels": [list(rng.choice(labels, 2, replace=False)) for _ in mbids]})
    gt = tmp_path / "groundtruth" / "lastfm-validation.parquet"
    gt.parent.mkdir(parents=True)
    truth.to_parquet(gt)
    args["--groundtruth"].append(str(gt))
    for system in ("single", "fusion"):
        folder = tmp_path / "models" / system / "lastfm"
        folder.mkdir(parents=True)
        pd.DataFrame({"epoch": [0, 1, 2], "train_loss": [0.7, 0.5, 0.4],
                      "holdout_loss": [0.6, 0.55, 0.58], "seconds": [1, 1, 1]}).to_csv(
            folder / "epochs.csv", index=False)
        args["--epochs"].append(str(folder / "epochs.csv"))
        scores = pd.DataFrame({"mbid": mbids, **{label: rng.random(60) for label in labels}})
        path = tmp_path / "scores" / system / "lastfm-validation.parquet"
        path.parent.mkdir(parents=True)
        scores.to_parquet(path)
        args["--scores"].append(str(path))
        thresholds = tmp_path / "thresholds" / system / "lastfm.json"
        thresholds.parent.mkdir(parents=True)
        thresholds.write_text(json.dumps({"per_label": dict.fromkeys(labels, 0.5),
                                          "global": 0.5}))
        args["--thresholds"].append(str(thresholds))
    argv = [item for flag, values in args.items() for item in (flag, *values)]
    out = tmp_path / "figures"
    assert main([*argv, "--sources", "lastfm", "--systems", "single", "fusion",
                 "--out-dir", str(out)]) == 0
    for name in ("training_curves", "roc_curves", "label_f_vs_frequency",
                 "threshold_distribution"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
