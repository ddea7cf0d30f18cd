"""The publication bundle holds the results, the config, the environment and input checksums."""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from abgd.archive import main, write_bundle


def _results(tmp_path: Path) -> Path:
    results = tmp_path / "results" / "demo"
    (results / "evaluation" / "single").mkdir(parents=True)
    (results / "evaluation" / "summary.json").write_text('{"single": {}}\n')
    (results / "evaluation" / "single" / "lastfm-validation.json").write_text("{}\n")
    (results / "runs" / "single").mkdir(parents=True)
    (results / "runs" / "single" / "lastfm-validation.tsv").write_text("a\tb\n")
    (results / "models" / "single" / "lastfm").mkdir(parents=True)
    (results / "models" / "single" / "lastfm" / "model.ckpt").write_bytes(b"weights")
    return results


def test_bundle_contents(tmp_path: Path) -> None:
    results = _results(tmp_path)
    release = tmp_path / "acousticbrainz-mediaeval-lastfm-train.tsv.bz2"
    release.write_bytes(b"abc")
    out = results / "abgd-demo-1234567.tar.gz"
    write_bundle(out, "demo", results, "1234567abc", '{"dataset": "demo"}', [release],
                 "numpy==2.4.6\n", mtime=0)
    with tarfile.open(out) as tar:
        names = tar.getnames()
        config = json.load(tar.extractfile("abgd-demo/config.json"))
        md5s = tar.extractfile("abgd-demo/inputs.md5").read().decode()
        commit = tar.extractfile("abgd-demo/COMMIT").read().decode().strip()
    assert "abgd-demo/evaluation/summary.json" in names
    assert "abgd-demo/runs/single/lastfm-validation.tsv" in names
    assert "abgd-demo/README.md" in names and "abgd-demo/environment.txt" in names
    assert not any(name.endswith("model.ckpt") for name in names)  # weights stay out
    assert config == {"dataset": "demo"}
    assert md5s == f"{hashlib.md5(b'abc').hexdigest()}  {release.name}\n"
    assert commit == "1234567abc"


def test_same_results_same_bytes(tmp_path: Path) -> None:
    results = _results(tmp_path)
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    for out in (first, second):
        write_bundle(out, "demo", results, "c", "{}", [], "", mtime=86400)
    assert first.read_bytes() == second.read_bytes()


def test_cli_writes_atomically(tmp_path: Path) -> None:
    results = _results(tmp_path)
    out = tmp_path / "bundle.tar.gz"
    assert main(["--results", str(results), "--dataset", "demo", "--commit", "c",
                 "--config-json", "{}", "--out", str(out)]) == 0
    assert out.exists() and not list(tmp_path.glob(".bundle.tar.gz.*"))
