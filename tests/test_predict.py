"""Tests of ``python -m abgd.predict``: score tables, part restriction, refusal of gaps."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from abgd import predict
from abgd.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from abgd.lit_module import GenreClassifier
from abgd.training import save_checkpoint

LABELS = ["blues", "electronic---idm", "r&b, soul"]


def mbid(i: int) -> str:
    return f"{i:08x}-aaaa-bbbb-cccc-dddddddddddd"


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(5)
    n = 30
    x = rng.standard_normal((n, len(FEATURE_NAMES))).astype(np.float32)
    ids = [mbid(i) for i in range(n)]
    arrays = [pa.array(ids)] + [pa.array(x[:, j]) for j in range(x.shape[1])]
    table = pa.Table.from_arrays(arrays, names=["mbid", *FEATURE_NAMES])
    table = table.replace_schema_metadata(
        {"abgd.feature_schema_version": str(FEATURE_SCHEMA_VERSION)})
    pq.write_table(table, tmp_path / "features.parquet")
    # Ground truth in reverse order, to check the output is sorted by MBID.
    pq.write_table(pa.table({"mbid": ids[::-1], "release_group": ["g"] * n,
                             "labels": [["blues"]] * n}), tmp_path / "gt.parquet")
    with open(tmp_path / "split.tsv", "w") as handle:
        handle.write("mbid\trelease_group\tpart\n")
        for i, m in enumerate(ids):
            handle.write(f"{m}\tg{i}\t{'holdout' if i % 3 == 0 else 'fit'}\n")
    torch.manual_seed(0)
    module = GenreClassifier(len(FEATURE_NAMES), LABELS, hidden=4)
    module.set_scaler(x.mean(axis=0), x.std(axis=0))
    save_checkpoint(module, tmp_path / "model" / "model.ckpt")
    return tmp_path, x, ids, module.eval()


def args(tmp_path, *extra: str) -> list[str]:
    return ["--model-dir", str(tmp_path / "model"), "--kind", "single", "--features",
            str(tmp_path / "features.parquet"), "--groundtruth", str(tmp_path / "gt.parquet"),
            "--out", str(tmp_path / "scores.parquet"), "--threads", "1", *extra]


def test_scores_match_the_model_and_are_sorted(setup):
    tmp_path, x, ids, module = setup
    assert predict.main(args(tmp_path)) == 0
    table = pq.read_table(tmp_path / "scores.parquet")
    assert table.column_names == ["mbid", *LABELS]
    assert table.column("mbid").to_pylist() == sorted(ids)
    assert all(table.schema.field(label).type == pa.float32() for label in LABELS)
    scores = np.column_stack([table.column(label).to_numpy() for label in LABELS])
    with torch.inference_mode():
        # Independent path: standardise by hand, run the layers one by one.
        z = (torch.from_numpy(x) - module.feature_mean) / module.feature_scale
        hidden = torch.relu(module.net[1](z))
        expected = torch.sigmoid(module.net[4](hidden)).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)


def test_split_part_restricts_the_rows(setup):
    tmp_path, _, ids, _ = setup
    split = str(tmp_path / "split.tsv")
    assert predict.main(args(tmp_path, "--split", split, "--part", "holdout")) == 0
    got = pq.read_table(tmp_path / "scores.parquet").column("mbid").to_pylist()
    assert got == [ids[i] for i in range(0, 30, 3)]


def test_missing_features_fail_with_count_and_examples(setup):
    tmp_path, _, ids, _ = setup
    extra = [*ids, mbid(999), mbid(998)]
    pq.write_table(pa.table({"mbid": extra, "release_group": ["g"] * len(extra),
                             "labels": [["blues"]] * len(extra)}), tmp_path / "gt.parquet")
    with pytest.raises(ValueError, match=r"2 of 32 recordings have no features.*000003e6"):
        predict.main(args(tmp_path))
    assert not (tmp_path / "scores.parquet").exists()


def test_wrong_kind_is_refused(setup):
    tmp_path, _, _, _ = setup
    with pytest.raises(ValueError, match="a single model, not --kind fusion"):
        predict.main(["--model-dir", str(tmp_path / "model"), "--kind", "fusion",
                      "--embeddings", "e.parquet", "--groundtruth", str(tmp_path / "gt.parquet"),
                      "--out", str(tmp_path / "s.parquet")])
    with pytest.raises(SystemExit):
        predict.main(args(tmp_path, "--part", "holdout"))


def test_wide_model_scores_match_a_hand_computed_forward_pass(setup):
    tmp_path, x, _, _ = setup
    torch.manual_seed(3)
    module = GenreClassifier(len(FEATURE_NAMES), LABELS, hidden=6, architecture="wide",
                             branch_width=5, branch_activations=["tanh", "relu"],
                             batch_norm="all")
    module.set_scaler(x.mean(axis=0), x.std(axis=0))
    for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm1d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    save_checkpoint(module, tmp_path / "model" / "model.ckpt")
    assert predict.main(args(tmp_path)) == 0
    table = pq.read_table(tmp_path / "scores.parquet")
    scores = np.column_stack([table.column(label).to_numpy() for label in LABELS])

    def norm(bn, h):  # BatchNorm1d in eval mode, written out
        return (h - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight + bn.bias

    with torch.inference_mode():
        z = (torch.from_numpy(x) - module.feature_mean) / module.feature_scale
        (lin_a, bn_a, _), (lin_b, bn_b, _) = module.net[1].blocks
        h = torch.cat([torch.tanh(norm(bn_a, lin_a(z))), torch.relu(norm(bn_b, lin_b(z)))], 1)
        top = torch.relu(norm(module.net[4], module.net[3](h)))
        expected = torch.sigmoid(module.net[-1](top)).numpy()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
