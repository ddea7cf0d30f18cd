"""Tests of the pure ``train()``: learning, determinism, best-weight restore, scaler, files."""

from __future__ import annotations

import csv
import os
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from abgd.inference import configure_torch, score_rows
from abgd.inputs import read_matrix, training_set
from abgd.io import read_json
from abgd.metrics import macro_roc_auc
from abgd.training import (
    TrainConfig,
    load_model,
    save_checkpoint,
    train,
    write_model_dir,
)

LABELS = ["a", "b", "c---d", "e"]


def planted(n: int = 600, width: int = 20, seed: int = 0):
    """Labels are thresholds of the first four columns: learnable, hidden among noise columns."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, width)).astype(np.float32)
    y = (x[:, :4] > 0.6).astype(np.uint8)
    rows = rng.permutation(n)
    return x, y, np.sort(rows[: int(0.8 * n)]), np.sort(rows[int(0.8 * n):])


def quick(seed: int = 0, **overrides) -> TrainConfig:
    values = {"seed": seed, "max_epochs": 12, "threads": 1, "accelerator": "cpu"}
    return TrainConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def trained():
    x, y, fit, holdout = planted()
    return (x, y, fit, holdout), train(x, y, fit, holdout, LABELS, {"hidden": 16}, quick())


def test_planted_signal_is_learned(trained):
    (x, y, _, holdout), result = trained
    assert result.metrics["holdout_macro_roc_auc"] > 0.8
    # Independent check with sklearn on freshly computed scores.
    from sklearn.metrics import roc_auc_score

    scores = torch.sigmoid(result.module(torch.from_numpy(x[holdout]))).detach().numpy()
    assert roc_auc_score(y[holdout], scores, average="macro") == pytest.approx(
        result.metrics["holdout_macro_roc_auc"], abs=1e-6)
    assert result.epochs[-1]["train_loss"] < result.epochs[0]["train_loss"]


def test_same_seed_is_bitwise_identical_and_other_seed_differs(trained):
    (x, y, fit, holdout), first = trained
    again = train(x, y, fit, holdout, LABELS, {"hidden": 16}, quick())
    other = train(x, y, fit, holdout, LABELS, {"hidden": 16}, quick(seed=1))
    a, b, c = (score_rows(r.module, x) for r in (first, again, other))
    assert np.array_equal(a, b)
    assert [e["holdout_loss"] for e in first.epochs] == [e["holdout_loss"] for e in again.epochs]
    assert not np.array_equal(a, c)


def test_early_stopping_restores_the_best_epoch():
    # Few rows, many noise columns, no dropout and a high learning rate: it overfits fast.
    x, y, fit, holdout = planted(n=200, width=200, seed=3)
    config = quick(max_epochs=60, patience=3, batch_size=8)
    params = {"hidden": 64, "dropout": 0.0, "input_dropout": 0.0, "lr": 0.01}
    result = train(x, y, fit, holdout, LABELS, params, config)
    losses = [e["holdout_loss"] for e in result.epochs]
    best = int(np.argmin(losses)) + 1
    assert result.metrics["best_epoch"] == best
    assert result.metrics["stopped_early"]
    assert len(losses) == best + 3  # patience epochs without improvement after the best
    # The returned weights give the best epoch's holdout loss, not the last one's.
    logits = result.module(torch.from_numpy(x[holdout])).detach()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.from_numpy(y[holdout]).float()).item()
    assert loss == pytest.approx(min(losses), rel=1e-5)
    assert loss != pytest.approx(losses[-1], rel=1e-3)


def test_standardisation_uses_the_fit_part_only():
    x, y, fit, holdout = planted(n=300, width=6)
    x[holdout] += 5.0  # the holdout has another mean
    x[:, 5] = 2.0  # a constant column
    result = train(x, y, fit, holdout, LABELS, {"hidden": 8}, quick(max_epochs=1))
    mean = result.module.feature_mean.numpy()
    scale = result.module.feature_scale.numpy()
    np.testing.assert_allclose(mean, x[fit].astype(np.float64).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(scale[:5], x[fit, :5].astype(np.float64).std(axis=0), rtol=1e-6)
    assert scale[5] == 1.0


def test_checkpoint_reloads_to_identical_predictions(trained, tmp_path):
    (x, _, _, _), result = trained
    write_model_dir(tmp_path, result, {"extra": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epochs.csv", "labels.json", "metrics.json", "model.ckpt"]
    reloaded = load_model(tmp_path)
    assert np.array_equal(score_rows(reloaded, x), score_rows(result.module, x))
    assert reloaded.labels == LABELS
    assert read_json(tmp_path / "labels.json") == LABELS
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["best_epoch"] == result.metrics["best_epoch"] and metrics["extra"] == 1
    with open(tmp_path / "epochs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == list(range(1, len(result.epochs) + 1))
    assert [float(r["holdout_loss"]) for r in rows] == [e["holdout_loss"] for e in result.epochs]


def test_macro_roc_auc_skips_single_class_labels():
    truth = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    scores = np.array([[0.9, 0.1, 0.2], [0.2, 0.3, 0.1], [0.4, 0.5, 0.3], [0.3, 0.2, 0.9]])
    # Label 0: positives 0.9 and 0.4 vs negatives 0.2 and 0.3 -> perfectly ranked.
    assert macro_roc_auc(truth, scores) == (1.0, 1)


def test_bad_inputs_are_rejected():
    x, y, fit, holdout = planted(n=50, width=4)
    with pytest.raises(ValueError, match="holdout"):
        train(x, y, fit, holdout[:0], LABELS, {}, quick())
    with pytest.raises(ValueError, match="labels matrix"):
        train(x, y[:, :2], fit, holdout, LABELS, {}, quick())


def test_training_set_and_matrix_reader(tmp_path):
    mbids = [f"{i:08d}-0000-0000-0000-000000000000" for i in range(4)]
    gt = pa.table({"mbid": mbids, "release_group": ["r1", "r1", "r2", "r3"],
                   "labels": [["a"], ["b", "zz"], ["a", "e"], []]})
    pq.write_table(gt, tmp_path / "gt.parquet")
    split = pd.DataFrame({"mbid": mbids[::-1][:3], "release_group": ["r3", "r2", "r1"],
                          "part": ["holdout", "fit", "fit"]})
    split.to_csv(tmp_path / "split.tsv", sep="\t", index=False)
    (tmp_path / "split.json").write_text('{"labels": ["a", "b", "e"]}')
    data = training_set(tmp_path / "gt.parquet", tmp_path / "split.tsv", tmp_path / "split.json")
    assert data.mbids == mbids[1:]
    assert data.y.tolist() == [[0, 1, 0], [1, 0, 1], [0, 0, 0]]
    assert data.fit_rows.tolist() == [0, 1] and data.holdout_rows.tolist() == [2]
    assert data.outside_labels == {"zz": 1}
    values = pa.table({"mbid": [mbids[2], mbids[0]], "v0": [1.5, 2.5], "v1": [3.0, 4.0]})
    pq.write_table(values, tmp_path / "values.parquet")
    matrix, found = read_matrix([tmp_path / "values.parquet"], [mbids[0], mbids[1], mbids[2]])
    assert found.tolist() == [True, False, True]
    assert matrix.dtype == np.float32
    assert matrix[[0, 2]].tolist() == [[2.5, 4.0], [1.5, 3.0]]


# --- the wide architecture, GPU settings ----------------------------------------------------------

WIDE = {"architecture": "wide", "branch_width": 16, "hidden": 32}


@pytest.fixture(scope="module")
def trained_wide():
    x, y, fit, holdout = planted()
    return (x, y, fit, holdout), train(x, y, fit, holdout, LABELS, WIDE, quick())


def test_wide_learns_embeds_and_reloads_identically(trained_wide, tmp_path):
    (x, y, fit, holdout), result = trained_wide
    assert result.metrics["holdout_macro_roc_auc"] > 0.8
    assert result.metrics["model"]["architecture"] == "wide"
    assert result.metrics["model"]["branch_activations"] == ["relu", "tanh", "sigmoid"]
    embedding = score_rows(result.module, x, output="embed")
    assert embedding.shape == (len(x), 32) and (embedding >= 0).all()
    write_model_dir(tmp_path, result, {})
    reloaded = load_model(tmp_path)
    assert isinstance(reloaded.net[4], torch.nn.BatchNorm1d)
    assert torch.equal(reloaded.net[4].running_var, result.module.net[4].running_var)
    assert np.array_equal(score_rows(reloaded, x), score_rows(result.module, x))
    assert np.array_equal(score_rows(reloaded, x, output="embed"), embedding)
    again = train(x, y, fit, holdout, LABELS, WIDE, quick())
    assert np.array_equal(score_rows(again.module, x), score_rows(result.module, x))


def test_batch_norm_trains_when_one_row_is_left_over():
    # 65 fit rows at batch 32: without merging, the last batch of one row breaks BatchNorm.
    x, y, fit, holdout = planted(n=200)
    torch.use_deterministic_algorithms(False)
    result = train(x, y, fit[:65], holdout, LABELS, WIDE, quick(max_epochs=2, batch_size=32))
    assert result.metrics["epochs_run"] == 2
    # Lightning's deterministic=True is switched back off once training is over.
    assert not torch.are_deterministic_algorithms_enabled()
    with pytest.raises(ValueError, match="at least 2 fit rows"):
        train(x, y, fit[:1], holdout, LABELS, WIDE, quick())


def test_paper_checkpoint_without_architecture_loads_as_paper(trained, tmp_path):
    (x, _, _, _), result = trained
    save_checkpoint(result.module, tmp_path / "model.ckpt")
    checkpoint = torch.load(tmp_path / "model.ckpt", weights_only=False)
    del checkpoint["hyper_parameters"]["architecture"]  # as written before the option existed
    torch.save(checkpoint, tmp_path / "model.ckpt")
    reloaded = load_model(tmp_path)
    assert reloaded.hparams["architecture"] == "paper"
    assert np.array_equal(score_rows(reloaded, x), score_rows(result.module, x))


def test_a_slurm_job_trains_as_one_local_process(trained, monkeypatch, tmp_path, caplog):
    """Inside a SLURM job (srun on PATH, the job's variables set) training neither warns that
    srun "is not used", nor installs Lightning's auto-requeue (Snakemake owns retries), nor
    behaves differently: same weights as outside."""
    srun = tmp_path / "srun"
    srun.write_text("#!/bin/sh\nexit 0\n")
    srun.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    for name, value in {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "abgd-train",
                        "SLURM_JOB_ID": "42", "SLURM_PROCID": "0", "SLURM_LOCALID": "0",
                        "SLURM_NODEID": "0"}.items():
        monkeypatch.setenv(name, value)
    (x, y, fit, holdout), expected = trained
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(x, y, fit, holdout, LABELS, {"hidden": 16}, quick())
    assert not [w for w in caught if "srun" in str(w.message)]
    assert "auto-requeueing" not in caplog.text
    assert np.array_equal(score_rows(result.module, x), score_rows(expected.module, x))


def test_cublas_workspace_is_set_unless_cpu(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    configure_torch(None, "cpu")
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    for accelerator in ("auto", "gpu", "cuda"):
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
        configure_torch(None, accelerator)
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")  # the other deterministic setting
    configure_torch(None, "auto")
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":0:0")
    configure_torch(None, "gpu")
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
