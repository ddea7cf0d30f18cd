"""End to end through the CLIs: train_single → embed → train_fusion, on contract-format files."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from abgd import embed, predict, train_fusion, train_single
from abgd.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION
from abgd.inference import load_network

LABELS = ["jazz", "pop/rock", "rock---indie rock"]
N = 240


def mbid(i: int) -> str:
    return f"{i:08x}-1111-2222-3333-444444444444"


def write_features(path, ids, x) -> None:
    """A part as ``abgd.convert`` writes it: mbid + FEATURE_NAMES float32, schema metadata."""
    arrays = [pa.array(ids, pa.string())] + [pa.array(x[:, j]) for j in range(x.shape[1])]
    table = pa.Table.from_arrays(arrays, names=["mbid", *FEATURE_NAMES])
    table = table.replace_schema_metadata(
        {"abgd.feature_schema_version": str(FEATURE_SCHEMA_VERSION)})
    pq.write_table(table, path, row_group_size=64)


def make_source(tmp_path, seed: int = 0):
    """Features in two parts, ground truth with a planted signal, a split and its summary."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, len(FEATURE_NAMES))).astype(np.float32)
    ids = [mbid(i) for i in range(N)]
    y = x[:, :3] > 0.5
    write_features(tmp_path / "p1.parquet", ids[:150], x[:150])
    write_features(tmp_path / "p2.parquet", ids[150:], x[150:])
    labels = [[LABELS[j] for j in range(3) if row[j]] for row in y]
    groups = [f"rg{i // 2}" for i in range(N)]
    pq.write_table(pa.table({"mbid": ids, "release_group": groups, "labels": labels}),
                   tmp_path / "gt.parquet")
    with open(tmp_path / "split.tsv", "w") as handle:
        handle.write("mbid\trelease_group\tpart\n")
        for i in range(N):
            handle.write(f"{ids[i]}\t{groups[i]}\t{'holdout' if i % 5 == 0 else 'fit'}\n")
    (tmp_path / "split.json").write_text('{"labels": ["jazz", "pop/rock", "rock---indie rock"]}')
    return x, ids


def train_args(tmp_path, out: str, seed: int = 0) -> list[str]:
    return ["--groundtruth", str(tmp_path / "gt.parquet"), "--split", str(tmp_path / "split.tsv"),
            "--split-summary", str(tmp_path / "split.json"), "--out-dir", str(tmp_path / out),
            "--seed", str(seed), "--max-epochs", "3", "--threads", "1", "--accelerator", "cpu"]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    x, ids = make_source(tmp)
    parts = [str(tmp / "p1.parquet"), str(tmp / "p2.parquet")]
    assert train_single.main(["--features", *parts, *train_args(tmp, "single"),
                              "--hidden", "8"]) == 0
    # A second ground truth overlapping the first plus an MBID without features.
    extra = [ids[0], ids[7], mbid(10_000)]
    pq.write_table(pa.table({"mbid": extra, "release_group": ["r"] * 3,
                             "labels": [["jazz"]] * 3}), tmp / "gt2.parquet")
    assert embed.main(["--model-dir", str(tmp / "single"), "--features", *parts,
                       "--groundtruth", str(tmp / "gt2.parquet"), str(tmp / "gt.parquet"),
                       "--out", str(tmp / "emb.parquet"), "--threads", "1",
                       "--chunk-rows", "50"]) == 0
    return tmp, x, ids


def test_embeddings_cover_each_recording_once_in_mbid_order(pipeline):
    tmp, x, ids = pipeline
    table = pq.read_table(tmp / "emb.parquet")
    assert table.column_names == ["mbid"] + [f"e{i:03d}" for i in range(8)]
    assert table.column("mbid").to_pylist() == sorted(ids)  # the featureless MBID is left out
    assert all(table.schema.field(f"e{i:03d}").type == pa.float32() for i in range(8))
    module = load_network(tmp / "single")
    values = np.column_stack([table.column(f"e{i:03d}").to_numpy() for i in range(8)])
    order = [int(m[:8], 16) for m in table.column("mbid").to_pylist()]
    with torch.inference_mode():
        expected = module.embed(torch.from_numpy(x[order])).numpy()
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)
    assert (values >= 0).all()


def test_fusion_on_four_embeddings(pipeline):
    tmp, _, _ = pipeline
    embeddings = [str(tmp / "emb.parquet")] * 4
    assert train_fusion.main(["--embeddings", *embeddings, *train_args(tmp, "fusion")]) == 0
    module = load_network(tmp / "fusion")
    assert module.hparams["n_inputs"] == 4 * 8 == module.net[1].in_features
    assert module.hparams["l2_blocks"] == 4
    assert torch.count_nonzero(module.feature_mean) == 0  # no standardisation for fusion
    table = pq.read_table(tmp / "emb.parquet")
    raw = torch.from_numpy(np.column_stack(
        [table.column(f"e{i:03d}").to_numpy() for i in range(8)] * 4))
    norms = module.prepare(raw).reshape(len(raw), 4, 8).norm(dim=2)
    nonzero = raw[:, :8].norm(dim=1) > 0
    torch.testing.assert_close(norms[nonzero], torch.ones_like(norms[nonzero]))
    # The fusion model scores the recordings of a split part from the same embeddings.
    assert predict.main(["--model-dir", str(tmp / "fusion"), "--kind", "fusion",
                         "--embeddings", *embeddings, "--groundtruth", str(tmp / "gt.parquet"),
                         "--split", str(tmp / "split.tsv"), "--part", "holdout",
                         "--out", str(tmp / "scores.parquet")]) == 0
    scores = pq.read_table(tmp / "scores.parquet")
    assert scores.column_names == ["mbid", *LABELS]
    assert scores.num_rows == N // 5
    with torch.inference_mode():
        direct = torch.sigmoid(module(raw[::5])).numpy()  # holdout = every fifth, in MBID order
    np.testing.assert_allclose(scores.column(LABELS[0]).to_numpy(), direct[:, 0], rtol=1e-5)


def test_train_single_reports_missing_features(tmp_path):
    make_source(tmp_path)
    expected = r"150 of 240 recordings have no features, e.g. \[.00000000-"
    with pytest.raises(ValueError, match=expected):
        train_single.main(["--features", str(tmp_path / "p2.parquet"),
                           *train_args(tmp_path, "m")])


# --- wide single-source models ------------------------------------------------------------------

def test_column_names_keep_three_digits_and_grow_with_the_width():
    assert embed.column_names(256) == [f"e{i:03d}" for i in range(256)]  # the paper's, unchanged
    assert embed.column_names(1000)[-1] == "e999"
    wide = embed.column_names(8000)
    assert (wide[0], wide[1], wide[-1]) == ("e0000", "e0001", "e7999")
    assert embed.column_names(1001)[-1] == "e1000"
    for width in (1, 10, 999, 1000, 1001, 12000):
        names = embed.column_names(width)
        assert names == sorted(names) and len(set(map(len, names))) == 1


def test_wide_options_become_network_parameters():
    def params(*extra: str) -> dict:
        args = train_single.build_parser().parse_args(
            ["--features", "f", "--groundtruth", "g", "--split", "s", "--split-summary", "j",
             "--out-dir", "o", *extra])
        return train_single.network_params(args)

    assert params() == {"hidden": 256, "dropout": 0.5, "input_dropout": 0.5, "lr": 0.001,
                        "init": "keras"}
    assert params("--branch-width", "9") == params()  # wide options do not touch paper
    got = params("--architecture", "wide", "--branches", "5", "--branch-dropout", "0.4",
                 "--dropout", "0.6", "--batch-norm", "all")
    assert got == {"hidden": 8000, "dropout": 0.6, "input_dropout": 0.5, "lr": 0.001,
                   "init": "keras", "architecture": "wide", "branch_width": 4000,
                   "branch_activations": ["relu", "tanh", "sigmoid", "relu", "tanh"],
                   "batch_norm": "all", "branch_dropout": 0.4}
    two = params("--architecture", "wide", "--branch-activations", "elu, tanh", "--top-width",
                 "64")
    assert two["branch_activations"] == ["elu", "tanh"] and two["hidden"] == 64
    for bad in (["--branch-activations", "relu,swish"], ["--branches", "0"],
                ["--batch-norm", "yes"], ["--architecture", "deep"]):
        with pytest.raises(SystemExit):
            params(*bad)


def test_wide_model_embeds_with_its_top_width_and_feeds_fusion(tmp_path):
    x, ids = make_source(tmp_path)
    parts = [str(tmp_path / "p1.parquet"), str(tmp_path / "p2.parquet")]
    assert train_single.main(["--features", *parts, *train_args(tmp_path, "wide"),
                              "--architecture", "wide", "--branches", "3",
                              "--branch-width", "16", "--top-width", "40"]) == 0
    module = load_network(tmp_path / "wide")
    assert module.hparams["architecture"] == "wide" and module.embedding_width == 40
    assert [len(b) for b in module.net[1].blocks] == [2, 2, 2]
    assert embed.main(["--model-dir", str(tmp_path / "wide"), "--features", *parts,
                       "--groundtruth", str(tmp_path / "gt.parquet"),
                       "--out", str(tmp_path / "emb.parquet"), "--threads", "1"]) == 0
    table = pq.read_table(tmp_path / "emb.parquet")
    names = [f"e{i:03d}" for i in range(40)]
    assert table.column_names == ["mbid", *names]
    assert table.column("mbid").to_pylist() == ids == sorted(ids)
    values = np.column_stack([table.column(n).to_numpy() for n in names])
    with torch.inference_mode():
        expected = module.embed(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-6)
    embeddings = [str(tmp_path / "emb.parquet")] * 2
    assert train_fusion.main(["--embeddings", *embeddings, *train_args(tmp_path, "fusion")]) == 0
    fusion = load_network(tmp_path / "fusion")
    assert fusion.hparams["n_inputs"] == 2 * 40 == fusion.net[1].in_features
    assert predict.main(["--model-dir", str(tmp_path / "fusion"), "--kind", "fusion",
                         "--embeddings", *embeddings, "--groundtruth", str(tmp_path / "gt.parquet"),
                         "--out", str(tmp_path / "scores.parquet")]) == 0
    assert pq.read_table(tmp_path / "scores.parquet").num_rows == N
