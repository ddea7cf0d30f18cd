"""The publication bundle holds the results, the config, the environment and input checksums."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from abgd.archive import main, verify, write_bundle


def _results(tmp_path: Path) -> Path:
    results = tmp_path / "results" / "demo"
    (results / "evaluation" / "single").mkdir(parents=True)
    (results / "evaluation" / "summary.json").write_text('{"single": {}}\n')
    (results / "evaluation" / "single" / "lastfm-validation.json").write_text("{}\n")
    (results / "runs" / "single").mkdir(parents=True)
    (results / "runs" / "single" / "lastfm-validation.tsv").write_text("a\tb\n")
    (results / "models" / "single" / "lastfm").mkdir(parents=True)
    (results / "models" / "single" / "lastfm" / "model.ckpt").write_bytes(b"weights")
    (results / "models" / "single" / "lastfm" / "labels.json").write_text('["rock"]\n')
    (results / "splits").mkdir()
    (results / "splits" / "lastfm.tsv").write_text("mbid\tpart\nm1\tfit\nm2\tholdout\n")
    (results / "thresholds" / "single").mkdir(parents=True)
    (results / "thresholds" / "single" / "lastfm.json").write_text('{"rock": 0.5}\n')
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
    for member in ("splits/lastfm.tsv", "models/single/lastfm/labels.json",
                   "thresholds/single/lastfm.json"):
        assert f"abgd-demo/{member}" in names
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


def _bundle(tmp_path: Path, models: bool = False) -> Path:
    results = _results(tmp_path)
    release = tmp_path / "acousticbrainz-mediaeval-lastfm-train.tsv.bz2"
    release.write_bytes(b"abc")
    out = tmp_path / "abgd-demo-c0ffee.tar.gz"
    write_bundle(out, "demo", results, "c0ffee", '{"dataset": "demo", "seeds": [7]}', [release],
                 "numpy==2.4.6\n", mtime=0, models=models)
    return out


def _rewrite(bundle: Path, out: Path, change) -> Path:
    """Copy `bundle` member by member, letting `change(name, data)` alter or drop members."""
    with tarfile.open(bundle) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            if data is None:
                continue
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))
    return out


def test_readme_lists_every_other_member_with_its_md5(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    with tarfile.open(bundle) as tar:
        names = sorted(n.removeprefix("abgd-demo/") for n in tar.getnames())
        readme = tar.extractfile("abgd-demo/README.md").read().decode()
        split = tar.extractfile("abgd-demo/splits/lastfm.tsv").read()
    assert f"{hashlib.md5(split).hexdigest()}  splits/lastfm.tsv" in readme
    listed = [line.split("  ", 1)[1] for line in readme.split("```")[-2].splitlines() if line]
    assert sorted(listed) == [name for name in names if name != "README.md"]


def test_verify_accepts_the_bundle_and_returns_its_claims(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    bundle = _bundle(tmp_path)
    claims = verify(bundle)
    assert claims["commit"] == "c0ffee" and claims["dataset"] == "demo"
    assert claims["inputs"] == {"acousticbrainz-mediaeval-lastfm-train.tsv.bz2":
                                hashlib.md5(b"abc").hexdigest()}
    assert main(["--verify", str(bundle)]) == 0
    printed = capsys.readouterr().out
    assert "c0ffee" in printed and hashlib.md5(b"abc").hexdigest() in printed


@pytest.mark.parametrize(("change", "named"), [
    (lambda name, data: b"0\n" if name.endswith("splits/lastfm.tsv") else data,
     "splits/lastfm.tsv has md5"),
    (lambda name, data: None if name.endswith("runs/single/lastfm-validation.tsv") else data,
     "runs/single/lastfm-validation.tsv is listed in README.md but missing"),
])
def test_verify_names_the_tampered_file(tmp_path: Path, change, named: str) -> None:
    tampered = _rewrite(_bundle(tmp_path), tmp_path / "tampered.tar.gz", change)
    with pytest.raises(ValueError, match=re.escape(named)):
        verify(tampered)
    assert main(["--verify", str(tampered)]) == 1


def test_a_member_added_later_is_reported(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    out = tmp_path / "extra.tar.gz"
    with tarfile.open(bundle) as src, tarfile.open(out, "w:gz") as dst:
        for member in src.getmembers():
            dst.addfile(member, src.extractfile(member))
        info = tarfile.TarInfo("abgd-demo/runs/single/extra.tsv")
        info.size = 1
        dst.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match=re.escape("runs/single/extra.tsv is not listed")):
        verify(out)


def test_models_are_opt_in(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, models=True)
    with tarfile.open(bundle) as tar:
        weights = tar.extractfile("abgd-demo/models/single/lastfm/model.ckpt").read()
    assert weights == b"weights"
    assert verify(bundle)["files"] > 0
