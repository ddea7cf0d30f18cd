"""The multi-task network: union assembly, the masked loss, training, and scoring one head."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from abgd.inference import load_network, score_rows
from abgd.multitask import MultitaskClassifier, train_multitask
from abgd.nets import head_columns
from abgd.training import TrainConfig, write_model_dir
from abgd.union import ABSENT, FIT, HOLDOUT, Union, assemble


def mbid(i: int) -> str:
    return f"{i:08d}-0000-0000-0000-000000000000"


def write_source(tmp_path, name, rows, labels):
    """rows: (index, release group, part, labels) tuples."""
    gt = pa.table({"mbid": [mbid(i) for i, *_ in rows],
                   "release_group": [rg for _, rg, _, _ in rows],
                   "labels": [list(ls) for *_, ls in rows]})
    pq.write_table(gt, tmp_path / f"{name}.parquet")
    pd.DataFrame({"mbid": [mbid(i) for i, *_ in rows], "release_group": [r[1] for r in rows],
                  "part": [r[2] for r in rows]}).to_csv(tmp_path / f"{name}.tsv", sep="\t",
                                                        index=False)
    (tmp_path / f"{name}.json").write_text(json.dumps({"labels": labels}))
    return [str(tmp_path / f"{name}.{ext}") for ext in ("parquet", "tsv", "json")]


def test_assemble_puts_each_source_in_its_own_columns_and_cells(tmp_path) -> None:
    a = write_source(tmp_path, "a", [(1, "r1", "fit", ["x"]), (2, "r2", "holdout", ["y"]),
                                     (3, "r3", "fit", ["x", "y"])], ["x", "y"])
    b = write_source(tmp_path, "b", [(2, "q1", "fit", ["z"]), (4, "q2", "holdout", ["z"])],
                     ["z"])
    union = assemble(["a", "b"], [a[0], b[0]], [a[1], b[1]], [a[2], b[2]])
    assert union.mbids == [mbid(i) for i in (1, 2, 3, 4)]
    assert union.labels == ["a:x", "a:y", "b:z"]
    assert union.head_of_label.tolist() == [0, 0, 1]
    assert union.y.tolist() == [[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]]
    assert union.parts.tolist() == [[FIT, ABSENT], [HOLDOUT, FIT], [FIT, ABSENT],
                                    [ABSENT, HOLDOUT]]
    assert union.rows(FIT).tolist() == [0, 1, 2] and union.rows(HOLDOUT).tolist() == [1, 3]
    assert union.crossing() == 1  # recording 2: holdout of a, fit of b
    with pytest.raises(ValueError, match="one ground truth"):
        assemble(["a", "b"], [a[0]], [a[1], b[1]], [a[2], b[2]])


def planted_union(n: int = 800, seed: int = 0) -> tuple[np.ndarray, Union]:
    """Two sources over overlapping recordings; each label is a threshold of one column."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 12)).astype(np.float32)
    y = np.column_stack([x[:, 0] > 0.5, x[:, 1] > 0.5, x[:, 2] > 0.0]).astype(np.uint8)
    parts = np.zeros((n, 2), dtype=np.uint8)
    for h in range(2):
        member = rng.random(n) < 0.7
        parts[member, h] = np.where(rng.random(member.sum()) < 0.8, FIT, HOLDOUT)
    parts[(parts == 0).all(axis=1), 0] = FIT
    union = Union(mbids=[mbid(i) for i in range(n)], y=y, labels=["a:x", "a:y", "b:z"],
                  heads=["a", "b"], head_of_label=np.array([0, 0, 1]), parts=parts,
                  outside_labels={})
    return x, union


def quick(**overrides) -> TrainConfig:
    return TrainConfig(**{"seed": 3, "max_epochs": 10, "threads": 1, "accelerator": "cpu",
                          "batch_size": 32, **overrides})


def test_masked_loss_is_the_mean_bce_over_annotated_cells() -> None:
    torch.manual_seed(0)
    module = MultitaskClassifier(4, ["a:x", "a:y", "b:z"], ["a", "b"], hidden=8)
    x = torch.randn(5, 4)
    y = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0], [1, 0, 0]], dtype=torch.float32)
    parts = torch.tensor([[FIT, ABSENT], [FIT, FIT], [HOLDOUT, FIT], [ABSENT, FIT],
                          [FIT, HOLDOUT]], dtype=torch.uint8)
    module.eval()
    with torch.no_grad():
        total, cells = module.masked_loss(x, y, parts, FIT)
    with torch.no_grad():
        p = torch.sigmoid(module(x)).numpy().astype(np.float64)
    bce = -(y.numpy() * np.log(p) + (1 - y.numpy()) * np.log(1 - p))
    mask = np.array([[1, 1, 0], [1, 1, 1], [0, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=bool)
    assert float(cells) == mask.sum()
    assert float(total) == pytest.approx(bce[mask].sum(), rel=1e-5)


def test_labels_of_unannotating_sources_never_reach_the_weights() -> None:
    """Changing targets in cells whose source lacks the recording leaves training bitwise equal."""
    x, union = planted_union(300)
    first = train_multitask(x, union, {"hidden": 8}, quick(max_epochs=3))
    noisy = np.random.default_rng(9).integers(0, 2, union.y.shape, dtype=np.uint8)
    absent = (union.parts == ABSENT)[:, union.head_of_label]
    changed = Union(**{**union.__dict__, "y": np.where(absent, noisy, union.y)})
    assert (changed.y != union.y).any()
    second = train_multitask(x, changed, {"hidden": 8}, quick(max_epochs=3))
    for key, value in first.module.state_dict().items():
        assert torch.equal(value, second.module.state_dict()[key]), key


def test_trains_on_the_union_and_each_head_scores_like_a_single_model(tmp_path) -> None:
    x, union = planted_union()
    result = train_multitask(x, union, {"hidden": 16}, quick())
    for source in ("a", "b"):
        assert result.metrics["sources"][source]["holdout_macro_roc_auc"] > 0.85
    assert result.metrics["n_fit_and_holdout"] == union.crossing()
    fit = union.rows(FIT)
    assert np.allclose(result.module.feature_mean.numpy(), x[fit].mean(axis=0), atol=1e-5)
    write_model_dir(tmp_path, result, {})
    network = load_network(tmp_path)
    assert network.hparams["heads"] == ["a", "b"]
    columns, labels = head_columns(network.labels, "b")
    assert labels == ["z"] and columns.tolist() == [2]
    scores = score_rows(network, x[:50])
    assert np.array_equal(scores, score_rows(result.module, x[:50]))
    with pytest.raises(ValueError, match="no head 'c'"):
        head_columns(network.labels, "c")
