"""LightGBM system: chunked training (``train_lgbm``) and reassembly (``merge_scores``)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from abgd import lgbm, merge_scores, train_lgbm
from abgd.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION

# Sorted as the split step sorts them; names with the awkward characters labels may carry.
LABELS = ["blues", "blues---electric blues", "never in fit", "r&b, soul", "stage & screen"]
SIGNAL = {"blues": 0, "blues---electric blues": 1, "r&b, soul": 2, "stage & screen": 3}
FAST = ["--num-boost-round", "40", "--early-stopping", "8", "--num-leaves", "4",
        "--min-data-in-leaf", "5", "--max-bin", "31", "--feature-fraction", "0.5",
        "--threads", "1"]


def mbid(i: int) -> str:
    return f"{i:08x}-aaaa-bbbb-cccc-dddddddddddd"


def write_table(path, ids, x, prefix="e"):
    arrays = [pa.array(ids)] + [pa.array(x[:, j]) for j in range(x.shape[1])]
    pq.write_table(pa.Table.from_arrays(
        arrays, names=["mbid", *(f"{prefix}{j:03d}" for j in range(x.shape[1]))]), path)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """400 training (300 fit, 100 holdout) and 120 validation recordings.

    Four embedding files of width 4; label k is positive where the first coordinate of file k
    is above 0.3 (a direction survives L2 normalisation). "never in fit" is positive on a few
    holdout rows only.
    """
    root = tmp_path_factory.mktemp("lgbm")
    rng = np.random.default_rng(11)
    n_train, n_val = 400, 120
    ids = [mbid(i) for i in range(n_train + n_val)]
    blocks = [rng.standard_normal((len(ids), 4)).astype(np.float32) for _ in range(4)]
    for k, block in enumerate(blocks):
        write_table(root / f"emb{k}.parquet", ids[::-1], block[::-1])  # unsorted on purpose
    truth = []
    for i in range(len(ids)):
        labels = [lab for lab, k in SIGNAL.items()
                  if blocks[k][i, 0] / np.linalg.norm(blocks[k][i]) > 0.3]
        part = "holdout" if i % 4 == 0 else "fit"
        if part == "holdout" and i % 20 == 0 and i < n_train:
            labels.append("never in fit")
        truth.append(sorted(labels))  # may be empty: only the targets matter here
    train_ids, val_ids = ids[:n_train], ids[n_train:]
    pq.write_table(pa.table({"mbid": train_ids, "release_group": train_ids,
                             "labels": truth[:n_train]}), root / "train.parquet")
    pq.write_table(pa.table({"mbid": val_ids, "release_group": val_ids,
                             "labels": truth[n_train:]}), root / "validation.parquet")
    with open(root / "split.tsv", "w") as handle:
        handle.write("mbid\trelease_group\tpart\n")
        for i, m in enumerate(train_ids):
            handle.write(f"{m}\t{m}\t{'holdout' if i % 4 == 0 else 'fit'}\n")
    (root / "split.json").write_text(json.dumps({"labels": LABELS}))
    return {"root": root, "ids": ids, "truth": truth, "n_train": n_train}


def run_chunks(data, out, chunks: int, seed: int = 3, extra: tuple[str, ...] = ()):
    root = data["root"]
    parts = {"holdout": [], "validation": []}
    for chunk in range(chunks):
        paths = {p: out / f"{p}-{chunk}.parquet" for p in parts}
        assert train_lgbm.main([
            "--kind", "fusion", "--embeddings", *(str(root / f"emb{k}.parquet") for k in range(4)),
            "--groundtruth", str(root / "train.parquet"),
            "--validation-groundtruth", str(root / "validation.parquet"),
            "--split", str(root / "split.tsv"), "--split-summary", str(root / "split.json"),
            "--chunk", str(chunk), "--chunks", str(chunks),
            "--out-holdout", str(paths["holdout"]), "--out-validation", str(paths["validation"]),
            "--seed", str(seed), *FAST, *extra]) == 0
        for p in parts:
            parts[p].append(str(paths[p]))
    merged = {}
    for p, files in parts.items():
        target = out / f"{p}.parquet"
        assert merge_scores.main(["--parts", *files[::-1], "--labels",
                                  str(root / "split.json"), "--out", str(target)]) == 0
        merged[p] = lgbm.read_score_table(out / f"{p}.parquet")
    return merged


@pytest.fixture(scope="module")
def one_chunk(data, tmp_path_factory):
    return run_chunks(data, tmp_path_factory.mktemp("k1"), 1)


def test_planted_signal_is_learned(data, one_chunk):
    ids, truth = data["ids"], data["truth"]
    holdout = one_chunk["holdout"]
    assert holdout.mbids == sorted(ids[i] for i in range(data["n_train"]) if i % 4 == 0)
    row = {m: i for i, m in enumerate(ids)}
    for label in SIGNAL:
        y = [label in truth[row[m]] for m in holdout.mbids]
        assert roc_auc_score(y, holdout.scores[:, LABELS.index(label)]) > 0.8, label
    validation = one_chunk["validation"]
    assert validation.mbids == sorted(ids[data["n_train"]:])
    y = ["blues" in truth[row[m]] for m in validation.mbids]
    assert roc_auc_score(y, validation.scores[:, 0]) > 0.8


def test_output_layout(one_chunk):
    merged = one_chunk["holdout"]
    assert merged.labels == LABELS
    assert merged.scores.dtype == np.float32
    assert ((merged.scores >= 0) & (merged.scores <= 1)).all()
    assert set(merged.best_iterations) == set(LABELS)
    assert all(1 <= merged.best_iterations[lab] <= 40 for lab in SIGNAL)


def test_label_without_positive_in_fit_is_constant_zero(one_chunk):
    for part in ("holdout", "validation"):
        merged = one_chunk[part]
        column = merged.scores[:, LABELS.index("never in fit")]
        assert (column == 0.0).all()
        assert merged.best_iterations["never in fit"] == 0


def test_chunks_reassemble_to_the_one_chunk_matrix(data, one_chunk, tmp_path):
    three = run_chunks(data, tmp_path, 3)
    for part in ("holdout", "validation"):
        assert three[part].labels == LABELS
        assert three[part].mbids == one_chunk[part].mbids
        np.testing.assert_array_equal(three[part].scores, one_chunk[part].scores)
        assert three[part].best_iterations == one_chunk[part].best_iterations


def test_same_seed_same_scores(data, one_chunk, tmp_path):
    again = run_chunks(data, tmp_path, 1)
    np.testing.assert_array_equal(again["validation"].scores, one_chunk["validation"].scores)
    other = run_chunks(data, tmp_path / "other", 1, seed=4)
    assert not np.array_equal(other["validation"].scores, one_chunk["validation"].scores)


def test_scores_inputs_need_not_be_normalised(data, tmp_path):
    """--scores stacks tables of any widths; a file lacking a recording is an error."""
    root = data["root"]
    common = ["--kind", "fusion", "--groundtruth", str(root / "train.parquet"),
              "--validation-groundtruth", str(root / "validation.parquet"),
              "--split", str(root / "split.tsv"), "--split-summary", str(root / "split.json"),
              "--chunk", "0", "--chunks", "2", "--out-holdout", str(tmp_path / "h.parquet"),
              "--out-validation", str(tmp_path / "v.parquet"), *FAST]
    assert train_lgbm.main([*common, "--scores", str(root / "emb0.parquet"),
                            str(root / "emb1.parquet")]) == 0
    table = lgbm.read_score_table(tmp_path / "h.parquet")
    assert table.labels == LABELS[:3]
    ids = data["ids"][:-1]
    write_table(tmp_path / "short.parquet", ids, np.zeros((len(ids), 2), np.float32))
    with pytest.raises(ValueError, match="have no scores"):
        train_lgbm.main([*common, "--scores", str(tmp_path / "short.parquet")])


def test_single_kind_reads_features(tmp_path):
    """The --features path with the real 2669-column layout, on a tiny problem."""
    rng = np.random.default_rng(2)
    n = 80
    ids = [mbid(i) for i in range(n)]
    x = rng.standard_normal((n, len(FEATURE_NAMES))).astype(np.float32)
    arrays = [pa.array(ids)] + [pa.array(x[:, j]) for j in range(x.shape[1])]
    table = pa.Table.from_arrays(arrays, names=["mbid", *FEATURE_NAMES]).replace_schema_metadata(
        {"abgd.feature_schema_version": str(FEATURE_SCHEMA_VERSION)})
    pq.write_table(table, tmp_path / "features.parquet")
    labels = [["a"] if x[i, 5] > 0 else ["b"] for i in range(n)]
    pq.write_table(pa.table({"mbid": ids[:60], "release_group": ids[:60], "labels": labels[:60]}),
                   tmp_path / "train.parquet")
    pq.write_table(pa.table({"mbid": ids[60:], "release_group": ids[60:], "labels": labels[60:]}),
                   tmp_path / "val.parquet")
    with open(tmp_path / "split.tsv", "w") as handle:
        handle.write("mbid\trelease_group\tpart\n")
        for i in range(60):
            handle.write(f"{ids[i]}\tg{i}\t{'holdout' if i % 3 == 0 else 'fit'}\n")
    (tmp_path / "split.json").write_text(json.dumps({"labels": ["a", "b"]}))
    assert train_lgbm.main([
        "--kind", "single", "--features", str(tmp_path / "features.parquet"),
        "--groundtruth", str(tmp_path / "train.parquet"),
        "--validation-groundtruth", str(tmp_path / "val.parquet"),
        "--split", str(tmp_path / "split.tsv"), "--split-summary", str(tmp_path / "split.json"),
        "--chunk", "1", "--chunks", "2", "--out-holdout", str(tmp_path / "h.parquet"),
        "--out-validation", str(tmp_path / "v.parquet"), "--num-boost-round", "3",
        "--min-data-in-leaf", "3", "--threads", "1"]) == 0
    validation = lgbm.read_score_table(tmp_path / "v.parquet")
    assert validation.labels == ["b"]
    assert validation.mbids == ids[60:]
    assert (validation.scores >= 0).all() and (validation.scores <= 1).all()


def test_kind_and_inputs_must_agree(data):
    with pytest.raises(SystemExit):
        train_lgbm.main(["--kind", "single", "--embeddings", "e.parquet", "--groundtruth", "g",
                         "--validation-groundtruth", "v", "--split", "s", "--split-summary", "j",
                         "--chunk", "0", "--chunks", "1", "--out-holdout", "h",
                         "--out-validation", "o"])


# --- library functions ------------------------------------------------------------------------

@given(st.integers(0, 60), st.integers(1, 12), st.data())
def test_chunk_slice_is_array_split(n_labels, chunks, draw):
    chunk = draw.draw(st.integers(0, chunks - 1))
    expected = np.array_split(np.arange(n_labels), chunks)[chunk]
    assert list(lgbm.chunk_slice(n_labels, chunks, chunk)) == expected.tolist()


@pytest.mark.parametrize(("chunks", "chunk"), [(0, 0), (3, 3), (3, -1)])
def test_chunk_slice_rejects_bad_indices(chunks, chunk):
    with pytest.raises(ValueError, match="--chunk"):
        lgbm.chunk_slice(10, chunks, chunk)


def test_l2_normalise_blocks_by_hand():
    x = np.array([[3, 4, 0, 0], [1, 0, 0, 2]], dtype=np.float32)
    out = lgbm.l2_normalise_blocks(x, 2)
    np.testing.assert_allclose(out, [[0.6, 0.8, 0, 0], [1, 0, 0, 1]], rtol=1e-6)
    assert x[0, 0] == 3  # the input is left alone
    with pytest.raises(ValueError, match="blocks"):
        lgbm.l2_normalise_blocks(x, 3)


def test_label_seed_depends_on_name_not_position():
    assert lgbm.label_seed(1, "blues") == lgbm.label_seed(1, "blues")
    assert lgbm.label_seed(1, "blues") != lgbm.label_seed(1, "jazz")
    assert lgbm.label_seed(1, "blues") != lgbm.label_seed(2, "blues")


def test_datasets_are_reused_across_labels():
    """lgb.train silently rebuilds a Dataset whose parameters differ: that must not happen."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    config = lgbm.BoostConfig(num_boost_round=5, min_data_in_leaf=5, threads=1)
    fit, holdout = lgbm.make_datasets(x[:200], x[200:], config)
    handles = fit._handle.value, holdout._handle.value
    for label, column in (("a", 0), ("b", 1)):
        y = (x[:, column] > 0).astype(np.uint8)
        lgbm.fit_label(fit, holdout, y[:200], y[200:], label, config)
        assert (fit._handle.value, holdout._handle.value) == handles


def test_all_positive_label_gets_prevalence_one():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 3)).astype(np.float32)
    y = np.ones((50, 1), dtype=np.uint8)
    result = lgbm.train_labels(x[:40], y[:40], x[40:], y[40:], ["all"], [x[40:]],
                               lgbm.BoostConfig(num_boost_round=3, threads=1))
    assert (result.scores[0] == 1.0).all()
    assert result.constant_labels == {"all": 1.0}


# --- merging ----------------------------------------------------------------------------------

def chunk_file(tmp_path, name, labels, ids=("b", "c"), value=0.5):
    path = tmp_path / name
    scores = np.full((len(ids), len(labels)), value, dtype=np.float32)
    lgbm.write_score_table(path, list(ids), labels, scores, dict.fromkeys(labels, 7))
    return str(path)


def merge(tmp_path, parts, labels=("x", "y", "z")):
    (tmp_path / "s.json").write_text(json.dumps({"labels": list(labels)}))
    return merge_scores.main(["--parts", *parts, "--labels", str(tmp_path / "s.json"),
                              "--out", str(tmp_path / "out.parquet")])


def test_merge_orders_columns_and_keeps_iterations(tmp_path):
    parts = [chunk_file(tmp_path, "p1.parquet", ["z"], value=0.25),
             chunk_file(tmp_path, "p0.parquet", ["x", "y"], value=0.75)]
    assert merge(tmp_path, parts) == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == ["mbid", "x", "y", "z"]
    assert table.column("z").to_pylist() == [0.25, 0.25]
    assert table.column("x").to_pylist() == [0.75, 0.75]
    meta = json.loads(table.schema.metadata[b"abgd.best_iterations"])
    assert meta == {"x": 7, "y": 7, "z": 7}


def test_merge_refuses_a_missing_label(tmp_path):
    parts = [chunk_file(tmp_path, "p0.parquet", ["x", "y"])]
    with pytest.raises(ValueError, match=r"label\(s\) in no part.*'z'"):
        merge(tmp_path, parts)


def test_merge_refuses_a_duplicated_label_naming_the_file(tmp_path):
    parts = [chunk_file(tmp_path, "p0.parquet", ["x", "y"]),
             chunk_file(tmp_path, "p1.parquet", ["y", "z"])]
    with pytest.raises(ValueError, match=r"p1\.parquet: label 'y' is also in .*p0\.parquet"):
        merge(tmp_path, parts)


def test_merge_refuses_an_unknown_label(tmp_path):
    parts = [chunk_file(tmp_path, "p0.parquet", ["x", "y", "z", "w"])]
    with pytest.raises(ValueError, match=r"p0\.parquet: label 'w' is not a model label"):
        merge(tmp_path, parts)


def test_merge_refuses_different_mbids(tmp_path):
    parts = [chunk_file(tmp_path, "p0.parquet", ["x", "y"]),
             chunk_file(tmp_path, "p1.parquet", ["z"], ids=("b", "d"))]
    with pytest.raises(ValueError, match=r"p1\.parquet: its mbid column differs"):
        merge(tmp_path, parts)


def test_write_refuses_unsorted_mbids(tmp_path):
    with pytest.raises(ValueError, match="sorted"):
        lgbm.write_score_table(tmp_path / "x.parquet", ["b", "a"], ["x"],
                               np.zeros((2, 1), np.float32), {})
