"""abgd.tag on small networks built here and a dump-format archive with bad members.

The expected scores come from the path ``predict`` and ``embed`` take (``parse_document`` →
``score_rows``), not from the tagger's own batching.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from scipy import sparse

from abgd import demo
from abgd import tag as T
from abgd.features import N_FEATURES, parse_document
from abgd.inference import score_rows
from abgd.members import Counts
from abgd.nets import GenreNet
from abgd.runs import check_run, check_vocabulary, read_run, run_lines

LABELS = {"a": ["jazz", "rock", "rock---punk"], "b": ["Pop", "Rock"]}


@pytest.fixture(scope="module")
def docs() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(3)
    out = []
    for _ in range(7):
        doc = demo.make_document(rng)
        out.append((demo.documents._uuid(rng), demo.dumps_document(doc)))
    return sorted(out)


@pytest.fixture(scope="module")
def dump(tmp_path_factory, docs) -> Path:
    """The demo's dump writer, fed with a release-format archive of ``docs``."""
    folder = tmp_path_factory.mktemp("dump")
    archive = folder / "acousticbrainz-mediaeval-features-validation-01234567.tar.bz2"
    with tarfile.open(archive, "w:bz2") as tar:
        for mbid, data in docs:
            info = tarfile.TarInfo(f"validation/{mbid[:2]}/{mbid}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = folder / "dump.tar.zst"
    demo.write_dump([archive], path, seed=5)
    return path


def network(n_inputs: int, labels: list[str], seed: int, **options) -> GenreNet:
    torch.manual_seed(seed)
    net = GenreNet(n_inputs, labels, **options).eval()
    net.set_scaler(np.full(n_inputs, 0.1, np.float32), np.full(n_inputs, 50.0, np.float32))
    return net


@pytest.fixture(scope="module")
def study() -> T.Study:
    systems = []
    for i, (source, labels) in enumerate(LABELS.items()):
        systems.append(T.System("single", source, network(N_FEATURES, labels, i, hidden=8),
                                labels, 0.5, None, labels))
    for i, (source, labels) in enumerate(LABELS.items()):
        net = network(16, labels, 10 + i, hidden=0, l2_blocks=2)
        net.set_scaler(np.zeros(16, np.float32), np.ones(16, np.float32))
        systems.append(T.System("fusion", source, net, labels, 0.5, None, labels))
    return T.Study(sources=list(LABELS), systems=systems, decoding="per_label", hierarchy="none")


def test_bad_members_go_to_errors_and_the_dump_goes_on(dump, docs, study, tmp_path):
    counts = T.tag([dump], study, tmp_path, batch_size=3)
    errors = pd.read_csv(tmp_path / "errors.tsv", sep="\t")
    assert len(errors) == 3 and counts["errored"] == 3
    assert {r.split(":")[0] for r in errors["reason"]} == {
        "truncated member", "invalid JSON", "missing descriptor"}
    assert all(m.startswith(demo.DUMP_ROOT + "/lowlevel/") for m in errors["member"])
    assert counts["skipped"] == 1  # the README member
    table = pq.read_table(tmp_path / "scores" / "single" / "a.parquet").to_pandas()
    assert sorted(set(table["mbid"])) == [m for m, _ in docs]  # every good document
    assert counts["converted"] == len(table) and counts["recordings"] == len(docs)
    for system in ("single", "fusion"):
        for source, labels in LABELS.items():
            ids, label_lists = read_run(tmp_path / "runs" / system / f"{source}.tsv")
            assert sorted(ids) == [m for m, _ in docs]  # one line per MBID
            assert all(set(row) <= set(labels) and row for row in label_lists)
            # what the tagger no longer reads back itself: the full check.R rules hold
            run = tmp_path / "runs" / system / f"{source}.tsv"
            assert check_run(run, labels, [m for m, _ in docs]) == len(docs)


def test_scores_follow_predict_and_embed(dump, docs, study, tmp_path):
    T.tag([dump], study, tmp_path, batch_size=4)
    x = np.stack([parse_document(data)[0] for _, data in docs])
    singles = {s.source: s.network for s in study.systems if s.name == "single"}
    embeddings = np.concatenate([score_rows(singles[s], x, output="embed")
                                 for s in study.sources], axis=1)
    for system in study.systems:
        expected = score_rows(system.network, x if system.name == "single" else embeddings)
        table = pq.read_table(tmp_path / "scores" / system.name / f"{system.source}.parquet"
                              ).to_pandas()
        first = table[table["submission"] == 0].set_index("mbid").loc[[m for m, _ in docs]]
        assert list(table.columns) == ["mbid", "submission", *system.labels]
        np.testing.assert_allclose(first[system.labels].to_numpy(), expected,
                                   rtol=1e-5, atol=1e-6)


def test_row_groups_split_the_scores_and_change_nothing_else(dump, study, tmp_path):
    """Scores are buffered a row group at a time: a group boundary inside a batch, between
    batches, and a last partial group give the same tables and run files as one group."""
    T.tag([dump], study, tmp_path / "one", batch_size=4)
    T.tag([dump], study, tmp_path / "small", batch_size=4, row_group_rows=3)
    for system in study.systems:
        name = Path("scores") / system.name / f"{system.source}.parquet"
        one = pq.ParquetFile(tmp_path / "one" / name)
        small = pq.ParquetFile(tmp_path / "small" / name)
        rows = one.metadata.num_rows
        assert one.metadata.num_row_groups == 1
        assert [small.metadata.row_group(i).num_rows for i in range(small.metadata.num_row_groups)
                ] == [3] * (rows // 3) + ([rows % 3] if rows % 3 else [])
        assert small.read().equals(one.read())
        run = Path("runs") / system.name / f"{system.source}.tsv"
        assert (tmp_path / "small" / run).read_bytes() == (tmp_path / "one" / run).read_bytes()
    with pytest.raises(ValueError, match="row_group_rows"):
        T.tag([dump], study, tmp_path / "none", row_group_rows=0)


@pytest.mark.parametrize("option", ["--row-group-rows", "--batch-size"])
def test_counts_below_one_are_refused_by_the_parser(option, dump, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        T.main([str(dump), "--study", str(tmp_path), "--out", str(tmp_path / "out"), option, "0"])
    assert info.value.code == 2
    assert f"{option}: expected a positive integer, got 0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_files_and_folders_are_inputs_too(docs, tmp_path):
    folder = tmp_path / "in" / "deep" / "er"
    folder.mkdir(parents=True)
    for n, (mbid, data) in enumerate(docs[:3]):
        (folder / f"{mbid}-{n}.json").write_bytes(data)
    (folder / "notes.json").write_text("{}")  # not a document name: skipped
    single = tmp_path / "odd-name.json"
    single.write_bytes(docs[3][1])
    counts = Counts()
    found = list(T.iter_documents([tmp_path / "in", single], counts))
    assert [(m, n) for m, n, *_ in found[:3]] == [(m, n) for n, (m, _) in enumerate(docs[:3])]
    assert found[3][4] is not None and "not a <uuid>" in found[3][4]  # named, not dropped
    assert counts.skipped == 1


def test_submission_names():
    mbid = "0123abcd-0000-4000-8000-00000000abcd"
    assert T.submission_of(f"x/y/{mbid}-12.json") == (mbid, 12)
    assert T.submission_of(f"{mbid.upper()}.json") == (mbid, 0)
    assert T.submission_of(f"{mbid}-x.json") is None


def test_user_tools_import_no_workflow_step():
    """``abgd.dataset``, ``score``, ``check`` and ``tag`` stand on library modules only."""
    import subprocess
    import sys

    from abgd.cli import STEPS

    code = ("import sys, abgd.dataset, abgd.score, abgd.check, abgd.tag; "
            "print(' '.join(m for m in sys.modules if m.startswith('abgd.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert not {f"abgd.{step}" for step in STEPS} & set(loaded), loaded


@pytest.mark.parametrize(("vocabulary", "message"), [
    (["jazz", "rock\tpunk"], "unusable"), (["jazz", ""], "unusable"),
    (["jazz", "new\nline"], "unusable"), (["jazz", "jazz"], "duplicate labels"),
])
def test_a_vocabulary_that_would_break_run_lines_is_refused(vocabulary, message):
    with pytest.raises(ValueError, match=f"runs/x.tsv: .*{message}"):
        check_vocabulary(vocabulary, "runs/x.tsv")


def test_a_line_without_labels_is_refused_naming_it():
    """Lines are written sorted by id within a batch: the message gives the file's line."""
    pred = sparse.csr_matrix(np.array([[1, 0], [0, 0], [0, 1]], dtype=bool))
    T.check_rows(["c", "a", "b"], sparse.csr_matrix(np.eye(3, dtype=bool)), 5, "r.tsv")
    with pytest.raises(ValueError, match=r"r\.tsv, line 7: no labels for 'a'"):
        T.check_rows(["c", "a", "b"], pred, 6, "r.tsv")  # lines 7-9 are a, b, c


def test_a_bad_vocabulary_leaves_no_output(dump, study, tmp_path):
    broken = T.Study(sources=study.sources, systems=[
        T.System(s.name, s.source, s.network, s.labels, s.thresholds, s.parent_ratio,
                 [*s.vocabulary[:-1], "bad\tlabel"] if s.name == "fusion" else s.vocabulary)
        for s in study.systems], decoding=study.decoding, hierarchy=study.hierarchy)
    with pytest.raises(ValueError, match="unusable in a run file"):
        T.tag([dump], broken, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any(
        p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_run_lines_follow_the_vocabulary_order(dump, docs, study, tmp_path):
    """A threshold file may list its labels in another order than the network's outputs."""
    flipped = T.Study(sources=study.sources, systems=[
        T.System(s.name, s.source, s.network, s.labels, 0.0, s.parent_ratio, s.vocabulary[::-1])
        for s in study.systems], decoding=study.decoding, hierarchy=study.hierarchy)
    T.tag([dump], flipped, tmp_path)
    for system in flipped.systems:
        lines = (tmp_path / "runs" / system.name / f"{system.source}.tsv").read_text()
        # threshold 0: every label is predicted, listed in vocabulary order
        assert {line.split("\t", 1)[1] for line in lines.splitlines()} == {
            "\t".join(system.vocabulary)}


def test_run_lines_with_a_given_order_are_the_plain_ones():
    rng = np.random.default_rng(0)
    ids = [f"{rng.integers(1000):04d}-x" for _ in range(30)]
    labels = [f"g{j}" for j in range(12)]
    dense = rng.random((30, 12)) < 0.3
    pred = sparse.csr_matrix(dense)[:, rng.permutation(12)]  # column shuffle: unsorted indices
    order = np.argsort(np.asarray(ids, dtype=str), kind="stable").tolist()
    csr = sparse.csr_matrix(pred)
    expected = ["\t".join([ids[r], *(labels[c] for c in sorted(csr[r].indices))]) + "\n"
                for r in sorted(range(len(ids)), key=lambda r: ids[r])]  # a stable sort
    assert run_lines(ids, np.asarray(labels, dtype=object), pred, order) == expected
    assert run_lines(ids, labels, pred) == expected
