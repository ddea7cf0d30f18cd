"""Faults in the feature archives: each bad record is named in the errors TSV, nothing is lost.

Each test builds a small ``.tar.bz2`` with good records around one fault, runs the real CLI
(``abgd.convert.main``) and checks (a) the message names the archive member and the record,
(b) every input MBID is either a Parquet row or an errors line, with the stored counts agreeing.
"""

from __future__ import annotations

import math
import tarfile
import threading
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from abgd import convert as C
from abgd import members as M
from abgd.features import FEATURE_NAMES, FeatureError, parse_document
from conftest import (
    assert_nothing_lost,
    counts_of,
    document,
    dumps,
    leftovers,
    make_archive,
    mbid,
    member_name,
    parquet_mbids,
    read_errors,
    special,
)


def convert(tmp_path: Path, archive: Path) -> tuple[int, Path, Path]:
    out, errors = tmp_path / "out" / "part.parquet", tmp_path / "out" / "part.errors.tsv"
    rc = C.main(["--archive", str(archive), "--out", str(out), "--errors", str(errors),
                 "--decoder", "python", "--batch-size", "2"])
    return rc, out, errors


def one_fault(tmp_path: Path, bad: bytes) -> tuple[list[str], list[str], Path, Path]:
    """Three good records around one bad one; returns (input MBIDs, bad error row, paths)."""
    ids = [mbid(i) for i in range(4)]
    members = [(member_name(m), dumps(document(0.1 * i))) for i, m in enumerate(ids)]
    members[2] = (member_name(ids[2]), bad)
    rc, out, errors = convert(tmp_path, make_archive(tmp_path / "in.tar.bz2", members))
    assert rc == 0
    assert_nothing_lost(ids, out, errors)
    rows = read_errors(errors)
    assert [row[0] for row in rows] == [ids[2]]
    assert rows[0][1] == member_name(ids[2])
    assert parquet_mbids(out) == [ids[0], ids[1], ids[3]]
    return ids, rows[0], out, errors


# ----------------------------------------------------------------------------- the archive itself


@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_archive_fails_naming_it_and_leaves_nothing(tmp_path, capsys, keep):
    ids = [mbid(i) for i in range(6)]
    whole = make_archive(tmp_path / "whole.tar.bz2",
                         [(member_name(m), dumps(document(i))) for i, m in enumerate(ids)])
    data = whole.read_bytes()
    cut = tmp_path / "cut.tar.bz2"
    cut.write_bytes(data[: int(len(data) * keep)])
    rc, out, errors = convert(tmp_path, cut)
    assert rc == 1
    message = capsys.readouterr().err
    assert "conversion failed, no output written" in message
    assert str(cut) in message and ("truncated" in message or "corrupt" in message)
    # Nothing that looks finished: Snakemake would otherwise take it as the job's output.
    assert not out.exists() and not errors.exists()
    assert leftovers(tmp_path) == []


def test_archive_that_is_not_bzip2_fails(tmp_path, capsys):
    bogus = tmp_path / "bogus.tar.bz2"
    bogus.write_bytes(b"<html>502 Bad Gateway</html>\n")
    rc, out, errors = convert(tmp_path, bogus)
    assert rc == 1 and str(bogus) in capsys.readouterr().err
    assert not out.exists() and not errors.exists()


# ----------------------------------------------------------------------------- bad records


def test_member_that_is_not_json(tmp_path):
    _, row, _, _ = one_fault(tmp_path, b"{\"lowlevel\": [1, 2,, 3]} trailing")
    assert row[2].startswith("invalid JSON:")


def test_member_cut_short(tmp_path):
    text = dumps(document())
    _, row, _, _ = one_fault(tmp_path, text[: len(text) // 2])
    assert row[2].startswith("truncated member:")


def test_member_that_is_not_utf8(tmp_path):
    _, row, _, _ = one_fault(tmp_path, b"\xff\xfe{}")
    assert row[2].startswith(("invalid JSON:", "truncated member:"))


def test_missing_descriptor(tmp_path):
    doc = document()
    del doc["lowlevel"]["spectral_centroid"]
    _, row, _, _ = one_fault(tmp_path, dumps(doc))
    assert row[2] == "missing descriptor: lowlevel.spectral_centroid"


def test_missing_section(tmp_path):
    doc = document()
    del doc["tonal"]
    _, row, _, _ = one_fault(tmp_path, dumps(doc))
    assert row[2].startswith("missing descriptor: tonal")


def test_vector_of_the_wrong_length(tmp_path):
    doc = document()
    mfcc = doc["lowlevel"]["mfcc"]["mean"]
    assert len(mfcc) == 13
    doc["lowlevel"]["mfcc"]["mean"] = mfcc[:12]
    _, row, _, _ = one_fault(tmp_path, dumps(doc))
    assert row[2] == "wrong length: lowlevel.mfcc.mean has 12 values, expected 13"


def test_string_where_a_number_belongs(tmp_path):
    doc = document()
    doc["lowlevel"]["average_loudness"] = "0.9"
    _, row, _, _ = one_fault(tmp_path, dumps(doc))
    assert row[2] == "wrong type: lowlevel.average_loudness is str, expected a number"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity(tmp_path, value):
    doc = document()
    doc["lowlevel"]["spectral_flux"]["mean"] = value
    _, row, _, _ = one_fault(tmp_path, dumps(doc))
    assert row[2] == f"non-finite value: lowlevel.spectral_flux.mean = {value!r}"


def test_value_beyond_float32(tmp_path):
    doc = document()
    doc["lowlevel"]["spectral_flux"]["mean"] = 1e39
    _, row, _, _ = one_fault(tmp_path, dumps(doc))
    assert row[2] == "non-finite value: lowlevel.spectral_flux.mean = 1e+39 out of float32 range"


def test_unknown_key_category(tmp_path):
    doc = document()
    doc["tonal"]["key_key"] = "Bb"  # Essentia writes sharps only
    _, row, _, _ = one_fault(tmp_path, dumps(doc))
    assert row[2].startswith("unknown category: tonal.key_key = 'Bb'")


def test_duplicate_mbid_keeps_the_first_and_reports_the_second(tmp_path):
    ids = [mbid(i) for i in range(3)]
    members = [(member_name(m), dumps(document(i))) for i, m in enumerate(ids)]
    members.append((f"elsewhere/{ids[1]}.json", dumps(document(9.0))))
    rc, out, errors = convert(tmp_path, make_archive(tmp_path / "in.tar.bz2", members))
    assert rc == 0
    rows = read_errors(errors)
    assert rows == [[ids[1], f"elsewhere/{ids[1]}.json",
                     f"duplicate mbid: first kept from {member_name(ids[1])}"]]
    assert parquet_mbids(out) == ids
    # The duplicate is a record read and reported: read = converted + errored.
    assert_nothing_lost([*ids, ids[1]], out, errors)


def test_member_larger_than_the_limit_is_reported_unread(tmp_path):
    ids = [mbid(i) for i in range(2)]
    members = [(member_name(m), dumps(document(i))) for i, m in enumerate(ids)]
    members.append((member_name(mbid(7)), b" " * 4096))
    archive = make_archive(tmp_path / "in.tar.bz2", members)
    out, errors = tmp_path / "p.parquet", tmp_path / "p.errors.tsv"
    assert C.main(["--archive", str(archive), "--out", str(out), "--errors", str(errors),
                   "--decoder", "python", "--max-member-bytes", "1000000"]) == 0
    rows = read_errors(errors)
    assert [r[0] for r in rows] == [mbid(7)]
    assert rows[0][2].startswith("truncated member:")  # only blanks: the document never began
    out2, errors2 = tmp_path / "q.parquet", tmp_path / "q.errors.tsv"
    assert C.main(["--archive", str(archive), "--out", str(out2), "--errors", str(errors2),
                   "--decoder", "python", "--max-member-bytes", "2048"]) == 0
    rows = read_errors(errors2)
    assert {r[0] for r in rows} == {*ids, mbid(7)}  # real documents are far above 2 kB
    assert all(r[2].startswith("member too large:") for r in rows)
    assert_nothing_lost([*ids, mbid(7)], out2, errors2)


# ----------------------------------------------------------------------------- unsafe members


def test_unsafe_members_are_rejected_and_nothing_is_written_outside(tmp_path, capsys):
    good = [mbid(i) for i in range(2)]
    evil = {
        "absolute": (mbid(10), f"/tmp/{mbid(10)}.json"),
        "dotdot": (mbid(11), f"features/../../{mbid(11)}.json"),
        "symlink": (mbid(12), f"features/{mbid(12)}.json"),
        "hardlink": (mbid(13), f"features/{mbid(13)}.json"),
        "chardev": (mbid(14), f"features/{mbid(14)}.json"),
        "blockdev": (mbid(15), f"features/{mbid(15)}.json"),
        "fifo": (mbid(16), f"features/{mbid(16)}.json"),
    }
    payload = dumps(document())
    members: list = [(member_name(m), dumps(document(i))) for i, m in enumerate(good)]
    members.append((evil["absolute"][1], payload))
    members.append((evil["dotdot"][1], payload))
    members.append((special(evil["symlink"][1], tarfile.SYMTYPE, "/etc/passwd"), None))
    members.append((special(evil["hardlink"][1], tarfile.LNKTYPE, member_name(good[0])), None))
    members.append((special(evil["chardev"][1], tarfile.CHRTYPE), None))
    members.append((special(evil["blockdev"][1], tarfile.BLKTYPE), None))
    members.append((special(evil["fifo"][1], tarfile.FIFOTYPE), None))
    members.append((special("features/innocent-name", tarfile.SYMTYPE, "../../x"), None))
    archive = make_archive(tmp_path / "in.tar.bz2", members)
    before = set(tmp_path.rglob("*"))
    rc, out, errors = convert(tmp_path, archive)
    assert rc == 0
    rows = {row[0]: row for row in read_errors(errors)}
    assert set(rows) == {m for m, _ in evil.values()}
    for kind, (m, name) in evil.items():
        assert rows[m][1] == name, kind
        assert rows[m][2].startswith("rejected member:"), kind
    assert "absolute path or '..'" in rows[mbid(10)][2]
    assert "absolute path or '..'" in rows[mbid(11)][2]
    assert "/etc/passwd" in rows[mbid(12)][2]
    assert "device or fifo" in rows[mbid(14)][2]
    # A link whose name is not <uuid>.json carries no record: logged, counted, not an error row.
    assert "rejected member 'features/innocent-name'" in capsys.readouterr().err
    assert counts_of(out)["rejected"] == len(evil) + 1
    assert_nothing_lost([*good, *(m for m, _ in evil.values())], out, errors)
    # Streaming never extracts: the only new files are the two outputs (and the archive).
    after = set(tmp_path.rglob("*"))
    assert after - before == {out, errors, out.parent}
    assert not Path(f"/tmp/{mbid(10)}.json").exists()


# ----------------------------------------------------------------------------- decoder thread


def _mixed_archive(tmp_path: Path, n: int = 30) -> tuple[Path, list[str]]:
    """Good records, one bad record, one duplicate and a skipped file, in one archive."""
    ids = [mbid(i) for i in range(n)]
    members: list[tuple[str | tarfile.TarInfo, bytes | None]] = [
        (member_name(m), dumps(document(0.01 * i))) for i, m in enumerate(ids)]
    members[5] = (member_name(ids[5]), b"{not json")
    members.insert(9, ("features/.DS_Store", b"junk"))
    members.append((member_name(ids[3]), dumps(document(9.0))))  # duplicate of a converted one
    return make_archive(tmp_path / "mixed.tar.bz2", members), ids


def _convert_with(tmp_path: Path, archive: Path, name: str, threads: int) -> tuple[Path, Path]:
    out, errors = tmp_path / name / "part.parquet", tmp_path / name / "part.errors.tsv"
    rc = C.main(["--archive", str(archive), "--out", str(out), "--errors", str(errors),
                 "--decoder", "python", "--batch-size", "7", "--threads", str(threads)])
    assert rc == 0
    return out, errors


def test_decoder_thread_gives_the_same_table_as_decoding_inline(tmp_path, monkeypatch):
    """--threads 1 decodes in the parsing thread (the earlier code path); from 2 up a decoder
    thread hands over chunks. Tiny chunks make members straddle hand-overs. Both must give the
    same table, metadata and errors, and the rows must equal an independent read of the archive
    (tarfile's own random-access bz2 mode + parse_document per member)."""
    archive, ids = _mixed_archive(tmp_path)
    monkeypatch.setattr(M, "_CHUNK_BYTES", 777)
    monkeypatch.setattr(M, "_QUEUE_CHUNKS", 2)
    inline = _convert_with(tmp_path, archive, "inline", 1)
    threaded = _convert_with(tmp_path, archive, "threaded", 2)
    a, b = pq.read_table(inline[0]), pq.read_table(threaded[0])
    assert a.equals(b, check_metadata=True)
    assert pq.ParquetFile(inline[0]).metadata.metadata == \
        pq.ParquetFile(threaded[0]).metadata.metadata
    assert inline[1].read_bytes() == threaded[1].read_bytes()
    expected_ids, expected_rows = [], []
    with tarfile.open(archive, "r:bz2") as tar:
        for info in tar.getmembers():
            mbid_ = Path(info.name).stem
            if not info.name.endswith(".json") or mbid_ in expected_ids:
                continue
            try:
                row, _ = parse_document(tar.extractfile(info).read())
            except FeatureError:
                continue
            expected_ids.append(mbid_)
            expected_rows.append(row)
    assert b.column("mbid").to_pylist() == expected_ids == [m for m in ids if m != ids[5]]
    got = np.column_stack([b.column(name).to_numpy() for name in FEATURE_NAMES])
    np.testing.assert_array_equal(got, np.stack(expected_rows))


def test_decoder_thread_failing_mid_stream_names_the_archive(tmp_path, monkeypatch, capsys):
    """The decoder dies after some output (a disk error, say): the job fails, nothing is kept,
    and the decoder thread is gone afterwards."""
    archive, _ = _mixed_archive(tmp_path)
    real = M.bz2.BZ2Decompressor
    given = [0]

    class Dying:
        def __init__(self):
            self.inner = real()

        def __getattr__(self, name):  # eof, needs_input, unused_data
            return getattr(self.inner, name)

        def decompress(self, data, max_length=-1):
            if given[0] > 20_000:
                raise OSError("Input/output error")
            out = self.inner.decompress(data, max_length)
            given[0] += len(out)
            return out

    monkeypatch.setattr(M.bz2, "BZ2Decompressor", Dying)
    monkeypatch.setattr(M, "_RAW_BYTES", 512)
    monkeypatch.setattr(M, "_CHUNK_BYTES", 4096)
    before = threading.active_count()
    out, errors = tmp_path / "o" / "part.parquet", tmp_path / "o" / "part.errors.tsv"
    rc = C.main(["--archive", str(archive), "--out", str(out), "--errors", str(errors),
                 "--decoder", "python", "--threads", "2"])
    assert rc == 1
    message = capsys.readouterr().err
    assert str(archive) in message and "Input/output error" in message
    assert not out.exists() and not errors.exists() and leftovers(tmp_path / "o") == []
    assert threading.active_count() == before
