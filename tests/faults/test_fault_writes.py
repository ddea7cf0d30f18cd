"""Writes that fail (disk full) and downloads that do not match their md5 leave nothing final.

Two kinds of interruption are simulated for the steps' writers:

* mid-write: the library call that writes the bytes (Parquet writer, ``torch.save``, a text
  write, the download loop) puts some bytes down and then raises ``OSError(ENOSPC)``;
* before publishing: every byte is written, then the last step of ``abgd.io.atomic_path``
  (``os.chmod`` just before the rename) raises ``ENOSPC``.

Either way the final path must not exist (Snakemake would take it as a finished output) and no
temporary ``.*.tmp`` file may be left beside it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from abgd import convert, demo, download, groundtruth, io, manifest, predict, split, training
from abgd.lit_module import GenreClassifier
from conftest import (
    ROOT,
    document,
    dumps,
    leftovers,
    make_archive,
    mbid,
    member_name,
    tiny_study,
    tsv,
    write_features,
)


def enospc(*_: Any, **__: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def partial_then_enospc(path_arg: int) -> Callable[..., None]:
    """A stand-in writer that leaves half a file at its target path, then fails."""
    def writer(*args: Any, **_: Any) -> None:
        Path(args[path_arg]).write_bytes(b"PAR1 half a file")
        enospc()
    return writer


@pytest.fixture
def publish_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io.os, "chmod", enospc)


def assert_absent(*paths: Path) -> None:
    for path in paths:
        assert not path.exists(), f"{path} left at its final path"
        assert leftovers(path.parent) == [] if path.parent.exists() else True


# ----------------------------------------------------------------------------- convert


def small_archive(tmp_path: Path, n: int = 5) -> Path:
    return make_archive(tmp_path / "in.tar.bz2",
                        [(member_name(mbid(i)), dumps(document(i))) for i in range(n)])


def convert_args(tmp_path: Path) -> tuple[list[str], Path, Path]:
    out, errors = tmp_path / "out" / "p.parquet", tmp_path / "out" / "p.errors.tsv"
    return (["--archive", str(small_archive(tmp_path)), "--out", str(out), "--errors",
             str(errors), "--decoder", "python", "--batch-size", "2"], out, errors)


def test_convert_disk_full_mid_write(tmp_path, monkeypatch, capsys):
    args, out, errors = convert_args(tmp_path)
    real = pq.ParquetWriter.write_batch
    calls = []

    def write_batch(self: pq.ParquetWriter, *a: Any, **k: Any) -> None:
        calls.append(1)
        if len(calls) == 2:  # the first row group is already on disk
            enospc()
        real(self, *a, **k)

    monkeypatch.setattr(pq.ParquetWriter, "write_batch", write_batch)
    assert convert.main(args) == 1
    err = capsys.readouterr().err
    assert "conversion failed, no output written" in err and "No space left on device" in err
    assert_absent(out, errors)
    monkeypatch.undo()
    assert convert.main(args) == 0  # the rerun works and publishes both files
    assert out.exists() and errors.exists()


def test_convert_fails_before_publishing(tmp_path, publish_fails):
    args, out, errors = convert_args(tmp_path)
    assert convert.main(args) == 1
    assert_absent(out, errors)


# ----------------------------------------------------------------------------- manifest, labels


def test_manifest_fails_before_publishing(tmp_path, publish_fails):
    target = tmp_path / "train.manifest.json"
    part = write_features(tmp_path / "p.parquet", [mbid(1)], np.zeros((1, 2669), np.float32))
    with pytest.raises(OSError, match="No space left"):
        manifest.main(["--parts", str(part), "--out", str(target)])
    assert_absent(target)


def run_groundtruth(tmp_path: Path) -> list[Path]:
    text = tsv([(mbid(1), mbid(101), "rock"), (mbid(2), mbid(102), "jazz")])
    (tmp_path / "t.tsv").write_text(text)
    outs = [tmp_path / "out" / name for name in ("tr.parquet", "va.parquet", "s.json")]
    groundtruth.main(["--source", "lastfm", "--train", str(tmp_path / "t.tsv"),
                      "--validation", str(tmp_path / "t.tsv"), "--out-train", str(outs[0]),
                      "--out-validation", str(outs[1]), "--summary", str(outs[2])])
    return outs


def test_groundtruth_disk_full_mid_write(tmp_path, monkeypatch):
    monkeypatch.setattr(pq, "write_table", partial_then_enospc(1))
    with pytest.raises(OSError, match="No space left"):
        run_groundtruth(tmp_path)
    assert_absent(*(tmp_path / "out" / n for n in ("tr.parquet", "va.parquet", "s.json")))


def test_groundtruth_fails_before_publishing(tmp_path, publish_fails):
    with pytest.raises(OSError, match="No space left"):
        run_groundtruth(tmp_path)
    assert_absent(*(tmp_path / "out" / n for n in ("tr.parquet", "va.parquet", "s.json")))


def test_split_disk_full_mid_write(tmp_path, monkeypatch):
    study = tiny_study(tmp_path / "in", n=20)
    out, summary = tmp_path / "out" / "s.tsv", tmp_path / "out" / "s.json"
    real_open = open
    def failing_open(file: Any, mode: str = "r", *a: Any, **k: Any) -> Any:
        handle = real_open(file, mode, *a, **k)
        if "w" in mode and str(file).endswith(".tmp"):
            real_write = handle.write
            def write(text: str) -> int:
                real_write(text)
                enospc()
                return 0
            handle.write = write
        return handle
    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(OSError, match="No space left"):
        split.main(["--groundtruth", str(study["groundtruth"]), "--out", str(out),
                    "--summary", str(summary), "--seed", "1", "--min-fit", "1",
                    "--min-holdout", "1"])
    monkeypatch.undo()
    assert_absent(out, summary)


# ----------------------------------------------------------------------------- models, scores


def test_checkpoint_disk_full_mid_write(tmp_path, monkeypatch):
    module = GenreClassifier(n_inputs=6, labels=["a", "b"], hidden=3)
    monkeypatch.setattr(torch, "save", partial_then_enospc(1))
    target = tmp_path / "model" / "model.ckpt"
    with pytest.raises(OSError, match="No space left"):
        training.save_checkpoint(module, target)
    assert_absent(target)


def test_model_folder_without_its_completion_marker(tmp_path, monkeypatch):
    """A failure after the checkpoint leaves no ``metrics.json`` (written last, as the marker)."""
    module = GenreClassifier(n_inputs=6, labels=["a", "b"], hidden=3)
    result = training.TrainResult(module=module, epochs=[], metrics={"best_epoch": 1})
    monkeypatch.setattr(training, "write_epochs", enospc)
    with pytest.raises(OSError, match="No space left"):
        training.write_model_dir(tmp_path / "m", result, {})
    assert not (tmp_path / "m" / "metrics.json").exists()
    assert leftovers(tmp_path / "m") == []


def test_scores_disk_full_mid_write(tmp_path, monkeypatch):
    monkeypatch.setattr(pq, "write_table", partial_then_enospc(1))
    target = tmp_path / "scores" / "s.parquet"
    with pytest.raises(OSError, match="No space left"):
        predict.write_scores(target, [mbid(1)], ["a"], np.array([[0.5]], dtype=np.float32))
    assert_absent(target)


def test_demo_archive_fails_before_publishing(tmp_path, publish_fails):
    target = tmp_path / "mirror" / "x.tsv.bz2"
    with pytest.raises(OSError, match="No space left"):
        demo.archives._write_bz2(target, b"recordingmbid\treleasegroupmbid\tgenre1\n")
    assert_absent(target)


# ----------------------------------------------------------------------------- download


def source_file(tmp_path: Path, size: int = 3 << 20) -> tuple[Path, str]:
    data = bytes(range(256)) * (size // 256)
    path = tmp_path / "mirror" / "release.tar.bz2"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path, hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_md5_mismatch_removes_everything(tmp_path, capsys):
    source, actual = source_file(tmp_path)
    out = tmp_path / "resources" / "release.tar.bz2"
    wrong = "0" * 32
    rc = download.main(["--url", source.as_uri(), "--out", str(out), "--md5", wrong,
                        "--retries", "0"])
    assert rc == 1
    err = capsys.readouterr().err
    assert (f"download failed: md5 mismatch for {out}: expected {wrong}, got {actual} "
            "(the bad copy and its .part were removed)") in err
    assert_absent(out, out.with_name(out.name + ".part"))


def test_stale_file_with_the_wrong_md5_is_replaced(tmp_path, capsys):
    source, actual = source_file(tmp_path)
    out = tmp_path / "resources" / "release.tar.bz2"
    out.parent.mkdir()
    out.write_bytes(b"a truncated earlier copy")
    assert download.main(["--url", source.as_uri(), "--out", str(out), "--md5", actual]) == 0
    assert "exists with a different md5; removing it" in capsys.readouterr().err
    assert io.md5_file(out) == actual


def test_md5sums_without_an_entry_is_refused(tmp_path, capsys):
    source, actual = source_file(tmp_path, size=1024)
    sums = tmp_path / "MD5SUMS"
    sums.write_text(f"{actual}  other-file.tar.bz2\n")
    out = tmp_path / "resources" / "release.tar.bz2"
    assert download.main(["--url", source.as_uri(), "--out", str(out),
                          "--md5sums", str(sums)]) == 1
    assert f"release.tar.bz2 has no entry in md5 list {sums}" in capsys.readouterr().err
    assert not out.exists()


def test_download_disk_full_keeps_only_the_part_then_resumes(tmp_path, monkeypatch, capsys):
    source, actual = source_file(tmp_path)
    out = tmp_path / "resources" / "release.tar.bz2"
    real_append = download._Part.append

    def append(self: download._Part, handle: Any, chunk: bytes) -> None:
        if self.size >= 1 << 20:
            real_append(self, handle, chunk[: len(chunk) // 2])
            enospc()
        real_append(self, handle, chunk)

    monkeypatch.setattr(download._Part, "append", append)
    rc = download.main(["--url", source.as_uri(), "--out", str(out), "--md5", actual,
                        "--retries", "0"])
    assert rc == 1
    assert ("download failed: release.tar.bz2: OSError: [Errno 28] No space left on device "
            f"({source.as_uri()})") in capsys.readouterr().err
    assert not out.exists()
    part = out.with_name(out.name + ".part")
    assert part.stat().st_size == (1 << 20) + (1 << 19)  # kept for the resume
    monkeypatch.undo()
    assert download.main(["--url", source.as_uri(), "--out", str(out), "--md5", actual]) == 0
    assert "resuming release.tar.bz2 at byte 1572864" in capsys.readouterr().err
    assert io.md5_file(out) == actual and not part.exists()


# ----------------------------------------------------------------------------- killed writers


def test_temporary_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    """SIGKILL runs no cleanup: the rerun's write of the same file removes the dead temporary."""
    target = tmp_path / "out" / "summary.json"
    code = ("import os, signal, sys\n"
            "from abgd.io import atomic_open\n"
            "with atomic_open(sys.argv[1]) as handle:\n"
            "    handle.write('half')\n"
            "    handle.flush()\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    killed = subprocess.run([sys.executable, "-c", code, str(target)], env=env, check=False)
    assert killed.returncode == -signal.SIGKILL
    assert not target.exists()
    assert len(leftovers(tmp_path)) == 1
    # A temporary of another file whose name starts the same way belongs to someone else.
    other = target.parent / ".summary.json.extra.abcdefgh.tmp"
    other.write_text("not ours")
    io.write_json(target, {"done": True})
    assert io.read_json(target) == {"done": True}
    assert leftovers(tmp_path) == [other.name]
