"""Archive streaming → Parquet, errors TSV, counts, atomicity; and the split manifest."""

from __future__ import annotations

import bz2
import copy
import io
import json
import shutil
import sys
import tarfile
import threading
import uuid
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abgd import convert as C
from abgd import features as F
from abgd import manifest as M
from abgd import members

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
JSON_DIR = DATA / "lowlevel_json"
ARCHIVES = DATA / "archives"
DECODERS = ["python"] + [d for d in ("lbzip2", "pbzip2") if shutil.which(d)]


def mbid(i: int) -> str:
    return str(uuid.UUID(int=0x1234_5678_9ABC_4DEF_8000_0000_0000_0000 + i))


@pytest.fixture(scope="module")
def real_doc() -> dict:
    path = JSON_DIR / "be9e01e5-8f93-494d-bbaa-ddcc5a52f629.json"
    if not path.is_file():
        pytest.skip("../shared/data/lowlevel_json absent")
    return json.loads(path.read_text())


def variant(doc: dict, k: float) -> dict:
    """A distinct valid document: same layout, a marker value that identifies it."""
    doc = copy.deepcopy(doc)
    doc["lowlevel"]["average_loudness"] = k
    return doc


def make_archive(path: Path, members: list) -> Path:
    """members: (name, bytes) for files, or a ready TarInfo (links, dirs) as (TarInfo, None)."""
    with tarfile.open(path, "w:bz2") as tar:
        for name, data in members:
            if isinstance(name, tarfile.TarInfo):
                tar.addfile(name)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def read_errors(path: Path) -> list[list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "mbid\tmember\treason"
    return [line.split("\t") for line in lines[1:]]


def counts_of(path: Path) -> dict:
    return json.loads(pq.ParquetFile(path).metadata.metadata[b"abgd.counts"])


def run(tmp_path: Path, archives: list[Path], *extra: str) -> tuple[int, Path, Path]:
    out, errors = tmp_path / "part.parquet", tmp_path / "part.errors.tsv"
    argv = [a for arch in archives for a in ("--archive", str(arch))]
    code = C.main([*argv, "--out", str(out), "--errors", str(errors), *extra])
    return code, out, errors


# ----------------------------------------------------------------------------- member policy


@pytest.mark.parametrize(("name", "kind", "action"), [
    ("acousticbrainz-mediaeval-train/01/01a0a332-d340-4806-a88b-cb60a05355c0.json",
     tarfile.REGTYPE, "record"),
    ("x/01A0A332-D340-4806-A88B-CB60A05355C0.json", tarfile.REGTYPE, "record"),
    ("x/01/._01a0a332-d340-4806-a88b-cb60a05355c0.json", tarfile.REGTYPE, "skip"),
    ("x/.DS_Store", tarfile.REGTYPE, "skip"),
    ("x/01", tarfile.DIRTYPE, "skip"),
    ("x/readme.json", tarfile.REGTYPE, "skip"),
    ("x/01a0a332-d340-4806-a88b-cb60a05355c0.json.bak", tarfile.REGTYPE, "skip"),
    ("../01a0a332-d340-4806-a88b-cb60a05355c0.json", tarfile.REGTYPE, "reject"),
    ("x/../../etc", tarfile.DIRTYPE, "reject"),
    ("/abs/01a0a332-d340-4806-a88b-cb60a05355c0.json", tarfile.REGTYPE, "reject"),
    ("x/01a0a332-d340-4806-a88b-cb60a05355c0.json", tarfile.SYMTYPE, "reject"),
    ("x/01a0a332-d340-4806-a88b-cb60a05355c0.json", tarfile.LNKTYPE, "reject"),
    ("x/dev", tarfile.CHRTYPE, "reject"),
    ("x/fifo", tarfile.FIFOTYPE, "reject"),
])
def test_classify_member(name, kind, action):
    info = tarfile.TarInfo(name)
    info.type = kind
    got, detail = members.classify_member(info)
    assert got == action
    if action == "record":
        assert detail == "01a0a332-d340-4806-a88b-cb60a05355c0"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="/.ab_", max_size=12))
def test_member_base_names_are_those_of_pure_posix_paths(name):
    """classify_member splits names itself (PurePosixPath cost 10 µs per member of a dump)."""
    parts = name.split("/")
    assert members._base_name(parts) == PurePosixPath(name).name
    assert (".." in parts) == (".." in PurePosixPath(name).parts)


def test_help_exits_cleanly():
    with pytest.raises(SystemExit) as info:
        C.main(["--help"])
    assert info.value.code == 0


# ----------------------------------------------------------------------------- real fixtures


@pytest.mark.parametrize("decoder", DECODERS)
def test_mirdata_fixture_archives_convert(tmp_path, decoder):
    archives = sorted(ARCHIVES.glob("*.tar.bz2")) if ARCHIVES.is_dir() else []
    if len(archives) != 2:
        pytest.skip("../shared/data/archives absent")
    code, out, errors = run(tmp_path, archives, "--decoder", decoder)
    assert code == 0
    table = pq.read_table(out)
    expected_ids = ["01a0a332-d340-4806-a88b-cb60a05355c0", "01a1a77a-f81e-49a5-9fea-7060394409ec"]
    assert table.column("mbid").to_pylist() == expected_ids
    assert table.schema.names == ["mbid", *F.FEATURE_NAMES]
    assert all(str(t) == "float" for t in table.schema.types[1:])
    assert read_errors(errors) == []
    counts = counts_of(out)
    # train: 2 dirs + 2 .DS_Store + 2 ._.DS_Store; validation: the same + one ._<uuid>.json
    assert counts["read"] == 2 and counts["converted"] == 2 and counts["errored"] == 0
    assert counts["skipped"] == 13 and counts["rejected"] == 0
    for i, mbid_ in enumerate(expected_ids):
        source = JSON_DIR / f"{mbid_}.json"
        if source.is_file():
            row = np.array([table.column(n)[i].as_py() for n in F.FEATURE_NAMES], np.float32)
            np.testing.assert_array_equal(row, F.parse_document(source.read_bytes())[0])


# ----------------------------------------------------------------------------- bad records


def test_bad_records_go_to_errors_and_good_ones_convert(tmp_path, real_doc, capsys):
    def dumps(doc):
        return json.dumps(doc).encode()

    no_hfc = variant(real_doc, 3.0)
    del no_hfc["lowlevel"]["hfc"]
    short = variant(real_doc, 4.0)
    short["tonal"]["hpcp"]["mean"].pop()
    key_h = variant(real_doc, 6.0)
    key_h["tonal"]["key_key"] = "H"
    no_beat = variant(real_doc, 7.0)
    no_beat["rhythm"]["beats_loudness"] = {"mean": 0, "var": 0, "min": 0, "max": 0, "dmean": 0,
                                           "dmean2": 0, "dvar": 0, "dvar2": 0}
    del no_beat["rhythm"]["beats_loudness_band_ratio"]["median"]
    nan_text = dumps(variant(real_doc, 5.0)).replace(b'"dissonance": {"dmean2": ', b'"X": {"a": ')
    nan_doc = variant(real_doc, 5.0)
    nan_doc["lowlevel"]["dissonance"]["max"] = 987.654321
    nan_text = dumps(nan_doc).replace(b"987.654321", b"NaN")
    integers = variant(real_doc, 8)
    integers["lowlevel"]["spectral_spread"]["mean"] = 5486277

    p = "acousticbrainz-mediaeval-train/12/"
    members = [
        ("acousticbrainz-mediaeval-train/", None),
        (p + f"{mbid(1)}.json", dumps(variant(real_doc, 1.0))),
        (p + f"._{mbid(1)}.json", b"\x00\x05\x16\x07 AppleDouble"),
        (p + ".DS_Store", b"\x00\x00\x00\x01Bud1"),
        (p + f"{mbid(2)}.json", b'{"lowlevel": {"average_loudness": 0.5,, }'),
        (p + f"{mbid(3)}.json", dumps(no_hfc)),
        (p + f"{mbid(4)}.json", dumps(short)),
        (p + f"{mbid(5)}.json", nan_text),
        (p + f"{mbid(6)}.json", dumps(key_h)),
        (p + f"{mbid(7)}.json", dumps(no_beat)),
        (p + f"{mbid(8)}.json", dumps(integers).replace(b'"average_loudness": 8.0', b'"average_lo'
                                                        b'udness": 8')),
        (p + f"{mbid(9)}.json", dumps(variant(real_doc, 9.0))[:-400]),
        ("acousticbrainz-mediaeval-train/13/" + f"{mbid(1)}.json", dumps(variant(real_doc, 99.0))),
    ]
    members = [(tarfile.TarInfo(n) if d is None else n, d) for n, d in members]
    members[0][0].type = tarfile.DIRTYPE
    archive = make_archive(tmp_path / "bad.tar.bz2", members)
    code, out, errors = run(tmp_path, [archive], "--batch-size", "2")
    log = capsys.readouterr().err.splitlines()
    assert code == 0

    table = pq.read_table(out)
    assert table.column("mbid").to_pylist() == [mbid(1), mbid(7), mbid(8)]
    assert table.column("lowlevel.average_loudness").to_pylist() == [1.0, 7.0, 8.0]
    assert table.column("lowlevel.spectral_spread.mean").to_pylist()[2] == 5486277.0
    assert table.column("rhythm.beats_loudness.median").to_pylist()[1] == 0.0
    assert pq.ParquetFile(out).metadata.num_row_groups == 2

    rows = read_errors(errors)
    reasons = {m: r for m, _, r in rows}
    assert [m for m, _, _ in rows] == [mbid(i) for i in (2, 3, 4, 5, 6, 9, 1)]
    assert reasons[mbid(2)].startswith("invalid JSON")
    assert reasons[mbid(3)] == "missing descriptor: lowlevel.hfc"
    assert reasons[mbid(4)].startswith("wrong length: tonal.hpcp.mean")
    assert reasons[mbid(5)].startswith("non-finite value: lowlevel.dissonance.max")
    assert reasons[mbid(6)].startswith("unknown category: tonal.key_key = 'H'")
    assert reasons[mbid(9)].startswith("truncated member")
    assert rows[-1][1] == f"acousticbrainz-mediaeval-train/13/{mbid(1)}.json"
    assert reasons[mbid(1)].startswith("duplicate mbid")

    counts = counts_of(out)
    assert counts == {"read": 10, "converted": 3, "imputed": 1, "errored": 7, "duplicates": 1,
                      "skipped": 3, "rejected": 0}
    assert counts["read"] == counts["converted"] + counts["errored"]
    final = [line.split(": ", 1)[1] for line in log if ": read=" in line]
    assert final[-1] == "read=10 converted=3 imputed=1 errored=7 skipped=3 rejected=0 duplicates=1"
    assert any("duplicate MBID" in line for line in log)
    meta = pq.ParquetFile(out).metadata.metadata
    assert meta[b"abgd.feature_schema_version"] == b"1"


def test_unsafe_members_are_rejected(tmp_path, real_doc, capsys):
    good = json.dumps(real_doc).encode()
    link = tarfile.TarInfo(f"x/{mbid(3)}.json")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    dev = tarfile.TarInfo("x/null")
    dev.type = tarfile.CHRTYPE
    archive = make_archive(tmp_path / "evil.tar.bz2", [
        (f"../{mbid(1)}.json", good),
        (f"/tmp/{mbid(2)}.json", good),
        (link, None),
        (dev, None),
        (f"x/{mbid(4)}.json", good),
    ])
    code, out, errors = run(tmp_path, [archive])
    log = capsys.readouterr().err
    assert code == 0
    assert pq.read_table(out).column("mbid").to_pylist() == [mbid(4)]
    rows = read_errors(errors)
    assert [r[0] for r in rows] == [mbid(1), mbid(2), mbid(3)]
    assert all(r[2].startswith("rejected member") for r in rows)
    assert counts_of(out)["rejected"] == 4
    assert log.count("rejected member") == 4


# ----------------------------------------------------------------------------- corrupt archives


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("cut", ["half", "tail"])
def test_truncated_archive_fails_and_leaves_nothing(tmp_path, real_doc, decoder, cut, capsys):
    members = [(f"x/{mbid(i)}.json", json.dumps(variant(real_doc, i)).encode()) for i in range(4)]
    whole = make_archive(tmp_path / "whole.tar.bz2", members).read_bytes()
    broken = tmp_path / "broken-train-01.tar.bz2"
    broken.write_bytes(whole[: len(whole) // 2] if cut == "half" else whole[:-10])
    outdir = tmp_path / "out"
    code, out, errors = run(outdir, [broken], "--decoder", decoder)
    assert code == 1
    errors_logged = [line for line in capsys.readouterr().err.splitlines() if " ERROR " in line]
    assert len(errors_logged) == 1 and "broken-train-01.tar.bz2" in errors_logged[0]
    assert not out.exists() and not errors.exists()
    assert list(outdir.iterdir()) == []  # no temporary files either


def test_not_a_bzip2_file_fails(tmp_path):
    fake = tmp_path / "fake.tar.bz2"
    fake.write_bytes(b"this is not bzip2 at all" * 100)
    code, out, _ = run(tmp_path / "o", [fake], "--decoder", "python")
    assert code == 1 and not out.exists()


def test_missing_archive_is_reported(tmp_path):
    code, out, _ = run(tmp_path, [tmp_path / "nope.tar.bz2"])
    assert code == 1 and not out.exists()


# ----------------------------------------------------------------------------- determinism


def test_batch_size_and_decoder_do_not_change_the_data(tmp_path, real_doc):
    members = [(f"x/{mbid(i)}.json", json.dumps(variant(real_doc, i)).encode()) for i in range(5)]
    archive = make_archive(tmp_path / "a.tar.bz2", members)
    tables = []
    for k, (batch, decoder) in enumerate([(2, "python"), (2048, DECODERS[-1]), (1, "python")]):
        code, out, _ = run(tmp_path / str(k), [archive], "--batch-size", str(batch),
                           "--decoder", decoder)
        assert code == 0
        tables.append(pq.read_table(out))
        assert pq.ParquetFile(out).metadata.num_row_groups == -(-5 // batch)
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])
    assert tables[0].column("lowlevel.average_loudness").to_pylist() == [0, 1, 2, 3, 4]


def test_python_decoder_reads_multistream_bzip2(tmp_path, real_doc):
    """pbzip2 writes one bzip2 stream per block; every decoder must read all of them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i in range(3):
            data = json.dumps(variant(real_doc, i)).encode()
            info = tarfile.TarInfo(f"x/{mbid(i)}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buffer.getvalue()
    third = len(raw) // 3
    archive = tmp_path / "multi.tar.bz2"
    archive.write_bytes(b"".join(bz2.compress(raw[i:i + third]) for i in range(0, len(raw), third)))
    code, out, _ = run(tmp_path, [archive], "--decoder", "python")
    assert code == 0 and pq.read_table(out).num_rows == 3


# ----------------------------------------------------------------------------- manifest


def test_manifest_lists_parts_errors_and_duplicates(tmp_path, real_doc, monkeypatch):
    good = [(f"x/{mbid(i)}.json", json.dumps(variant(real_doc, i)).encode()) for i in range(3)]
    a = make_archive(tmp_path / "a.tar.bz2", [*good[:2], (f"x/{mbid(9)}.json", b"{")])
    b = make_archive(tmp_path / "b.tar.bz2", good[1:])
    monkeypatch.chdir(tmp_path)
    for name, archive in (("a", a), ("b", b)):
        assert C.main(["--archive", str(archive), "--out", f"parts/{name}.parquet",
                       "--errors", f"parts/{name}.errors.tsv"]) == 0
    assert M.main(["--parts", "parts/a.parquet", "parts/b.parquet", "--errors",
                   "parts/a.errors.tsv", "parts/b.errors.tsv", "--out", "train.manifest.json"]) == 0
    manifest = json.loads((tmp_path / "train.manifest.json").read_text())
    assert [p["path"] for p in manifest["parts"]] == ["parts/a.parquet", "parts/b.parquet"]
    assert [p["rows"] for p in manifest["parts"]] == [2, 2]
    assert manifest["total_rows"] == 4 and manifest["unique_rows"] == 3
    assert manifest["errored_records"] == 1
    assert manifest["duplicate_mbids"] == [
        {"mbid": mbid(1), "parts": ["parts/a.parquet", "parts/b.parquet"]}]
    import hashlib
    digest = hashlib.md5((tmp_path / "parts/a.parquet").read_bytes()).hexdigest()
    assert manifest["parts"][0]["md5"] == digest
    assert manifest["parts"][0]["counts"]["errored"] == 1


def test_manifest_refuses_a_foreign_errors_file(tmp_path):
    bogus = tmp_path / "e.tsv"
    bogus.write_text("id\treason\n")
    with pytest.raises(M.ManifestError):
        M.count_errors(bogus)


# ----------------------------------------------------------------------------- thread budget


@pytest.mark.parametrize(("threads", "decoder_thread"), [(1, False), (2, True), (3, True)])
def test_python_decoder_gets_its_own_thread_from_two_threads(tmp_path, real_doc, monkeypatch,
                                                             threads, decoder_thread):
    """``--threads`` is the job's whole budget (the rule passes its ``threads: 2``): from 2 up,
    Python's bz2 decodes in a background thread while the main thread parses."""
    decoding_in: list[str] = []
    real = members._bz2_chunks

    def spy(*args, **kwargs):
        decoding_in.append(threading.current_thread().name)
        yield from real(*args, **kwargs)

    monkeypatch.setattr(members, "_bz2_chunks", spy)
    docs = [(f"x/{mbid(i)}.json", json.dumps(variant(real_doc, i)).encode()) for i in range(3)]
    archive = make_archive(tmp_path / "a.tar.bz2", docs)
    code, out, _ = run(tmp_path / "o", [archive], "--decoder", "python",
                       "--threads", str(threads))
    assert code == 0 and pq.read_table(out).num_rows == 3
    assert bool(decoding_in) == decoder_thread  # threads 1: bz2.open in the parsing thread
    assert all(name != threading.main_thread().name for name in decoding_in)


@pytest.mark.parametrize(("threads", "decoder_threads"), [(1, 1), (2, 1), (3, 2), (16, 15)])
def test_decoder_subprocess_gets_the_budget_less_the_parser(tmp_path, real_doc, monkeypatch,
                                                            threads, decoder_threads):
    """A job that reserved N CPUs runs the parser plus N - 1 decoder threads (never 0)."""
    asked: list[tuple[str, int]] = []

    def command(decoder: str, path: Path, n: int) -> list[str]:
        asked.append((decoder, n))  # decode with Python in the subprocess: no lbzip2 needed
        return [sys.executable, "-c", "import bz2, shutil, sys; "
                "shutil.copyfileobj(bz2.open(sys.argv[1]), sys.stdout.buffer)", str(path)]

    monkeypatch.setattr(members, "_decoder_command", command)
    monkeypatch.setattr(members.shutil, "which", lambda name: f"/usr/bin/{name}")
    docs = [(f"x/{mbid(i)}.json", json.dumps(variant(real_doc, i)).encode()) for i in range(2)]
    archive = make_archive(tmp_path / "a.tar.bz2", docs)
    code, out, _ = run(tmp_path / "o", [archive], "--decoder", "lbzip2",
                       "--threads", str(threads))
    assert code == 0 and pq.read_table(out).num_rows == 2
    assert asked == [("lbzip2", decoder_threads)]
