"""The publication bundle: results plus everything needed to say what made them, verifiably.

A paper cites one file. It holds the reports, summary, run files, thresholds and figures, the split
membership (which recordings were fit and which held out), the label lists, optionally the model
checkpoints, the resolved configuration, the exact Python environment (`pip freeze`), the md5 of
every input file of the release and the git commit. Its README describes the contents and lists
every other member with its md5; `python -m abgd.archive --verify BUNDLE` re-checks them and prints
what the bundle claims. Members are sorted and their times fixed, so the same results give the
same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import logging
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path

from abgd.io import atomic_path, md5_file
from abgd.progress import parse_step_args, step_parser

log = logging.getLogger("abgd.archive")

# Relative to results/<dataset>/: what a reader of the paper needs, not the models or features.
INCLUDE = (
    "evaluation/summary.json",
    "evaluation/summary.csv",
    "evaluation/tables.md",
    "evaluation/*/*.json",
    "evaluation/*/*.results_summary",
    "runs/*/*.tsv",
    "thresholds/*/*.json",
    "stats/*",
    "figures/*.png",
    "splits/*.json",
    "splits/*.tsv",
    "groundtruth/*.json",
    "models/*/*/metrics.json",
    "models/*/*/epochs.csv",
    "models/*/*/labels.json",
    "features/*.manifest.json",
)
# Opt-in (config `archive.models: true`): the trained networks' weights.
MODELS = ("models/*/*/model.ckpt",)

README = """\
# abgd results bundle: {dataset}

Made by the abgd workflow at commit {commit} on {date}.

| path | content |
|---|---|
| `evaluation/summary.json`, `summary.csv` | systems x sources: MediaEval metrics, ROC AUC |
| `evaluation/tables.md` | the paper's Tables 4-5 shape, next to the published numbers |
| `evaluation/<system>/<source>-<split>.json` | full metrics with standard deviations |
| `evaluation/<system>/*.results_summary` | the same in the official eval.R text format |
| `runs/<system>/<source>-<split>.tsv` | MediaEval run files (`mbid<TAB>label...`) |
| `thresholds/<system>/<source>.json` | decision thresholds, fitted on the holdout part |
| `stats/` | dataset statistics (Tables 2-3, Figures 1-2) |
| `figures/` | training curves, ROC curves, per-label F, thresholds |
| `splits/<source>.tsv` | split membership: every training recording and its part (fit or holdout) |
| `splits/<source>.json`, `groundtruth/` | split summaries, label lists and vocabularies |
| `models/<system>/<source>/` | label list (`labels.json`), training logs and metrics{weights} |
| `config.json` | the resolved configuration of the run |
| `environment.txt` | `pip freeze` of the environment that ran the workflow |
| `inputs.md5` | md5 of every input file of the release |
| `COMMIT` | the git commit of the workflow |

To archive the code and software environments as well, run
`snakemake --archive abgd-code.tar.gz` in the repository (it bundles the git-tracked
files and, with `--sdm conda`, the conda packages).

Check this bundle with `python -m abgd.archive --verify <bundle>.tar.gz` (any abgd checkout), or
by hand: every line below is `md5  path` of a member, relative to this folder.

## Files

```
{manifest}```
"""
MANIFEST_RE = re.compile(r"^## Files\n\n```\n(.*?)```$", re.S | re.M)


def collect(results: Path, patterns: Iterable[str] = INCLUDE) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(path for path in results.glob(pattern) if path.is_file())
    return sorted(found)


def pip_freeze() -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True, text=True, check=False,
    )
    return completed.stdout


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = mtime
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_bundle(out: Path, dataset: str, results: Path, commit: str, config_json: str,
                 inputs: list[Path], environment: str, mtime: int | None = None,
                 models: bool = False) -> list[str]:
    """Write the tar.gz atomically; return the member names."""
    mtime = int(time.time()) if mtime is None else mtime
    prefix = f"abgd-{dataset}"
    contents: dict[str, bytes] = {
        "COMMIT": (commit + "\n").encode(),
        "config.json": (json.dumps(json.loads(config_json), indent=2, sort_keys=True)
                        + "\n").encode(),
        "environment.txt": environment.encode(),
        "inputs.md5": "".join(f"{md5_file(path)}  {path.name}\n"
                              for path in sorted(inputs)).encode(),
    }
    for path in collect(results, INCLUDE + (MODELS if models else ())):
        contents[path.relative_to(results).as_posix()] = path.read_bytes()
    manifest = "".join(f"{hashlib.md5(data, usedforsecurity=False).hexdigest()}  {name}\n"
                       for name, data in sorted(contents.items()))
    contents["README.md"] = README.format(
        dataset=dataset, commit=commit, date=time.strftime("%Y-%m-%d", time.gmtime(mtime)),
        weights=" and weights (`model.ckpt`)" if models else " (not the weights)",
        manifest=manifest,
    ).encode()
    members: list[str] = []
    with atomic_path(out) as tmp, open(tmp, "wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=mtime
    ) as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(contents.items()):
            _add_bytes(tar, f"{prefix}/{name}", data, mtime)
            members.append(f"{prefix}/{name}")
    return members


def verify(bundle: Path) -> dict[str, object]:
    """Check every member against the README's list; return what the bundle claims.

    Raises ValueError naming the first member whose md5 differs, that is missing, or that the
    list does not name (a file slipped in later).
    """
    with tarfile.open(bundle) as tar:
        data: dict[str, bytes] = {}
        for member in tar.getmembers():
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            assert handle is not None
            data[member.name.split("/", 1)[-1]] = handle.read()
    if "README.md" not in data:
        raise ValueError(f"{bundle}: no README.md, not an abgd bundle")
    match = MANIFEST_RE.search(data.pop("README.md").decode())
    if match is None:
        raise ValueError(f"{bundle}: README.md has no '## Files' list")
    listed = dict(reversed(line.split("  ", 1)) for line in match.group(1).splitlines())
    for name, expected in sorted(listed.items()):
        if name not in data:
            raise ValueError(f"{bundle}: {name} is listed in README.md but missing")
        actual = hashlib.md5(data[name], usedforsecurity=False).hexdigest()
        if actual != expected:
            raise ValueError(f"{bundle}: {name} has md5 {actual}, README.md lists {expected}")
    extra = sorted(set(data) - set(listed))
    if extra:
        raise ValueError(f"{bundle}: {extra[0]} is not listed in README.md")
    config = json.loads(data["config.json"])
    return {
        "files": len(listed),
        "commit": data["COMMIT"].decode().strip(),
        "dataset": config.get("dataset"),
        "config": config,
        "inputs": dict(reversed(line.split("  ", 1))
                       for line in data["inputs.md5"].decode().splitlines()),
    }


def _print_claims(bundle: Path, claims: dict[str, object]) -> None:
    print(f"{bundle}: {claims['files']} files match README.md")
    print(f"commit   {claims['commit']}")
    print(f"dataset  {claims['dataset']}")
    config = claims["config"]
    assert isinstance(config, dict)
    print(f"seeds    {config.get('seeds')}  sources {config.get('sources')}")
    print("config   config.json (resolved configuration)")
    inputs = claims["inputs"]
    assert isinstance(inputs, dict)
    for name, md5 in sorted(inputs.items()):
        print(f"input    {md5}  {name}")


def build_parser() -> argparse.ArgumentParser:
    parser = step_parser(prog="abgd.archive", description=__doc__.split("\n")[0])
    parser.add_argument("--verify", type=Path, metavar="BUNDLE",
                        help="check a bundle against its README and print what it claims")
    parser.add_argument("--results", type=Path, help="results/<dataset> folder")
    parser.add_argument("--dataset")
    parser.add_argument("--commit", help="git commit of the workflow")
    parser.add_argument("--config-json", help="the resolved configuration as JSON")
    parser.add_argument("--inputs", nargs="*", default=[], type=Path,
                        help="input files of the release, listed with their md5")
    parser.add_argument("--models", action="store_true", help="bundle the model checkpoints")
    parser.add_argument("--out", type=Path, help="the .tar.gz to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse_step_args(parser, argv)
    if args.verify:
        try:
            claims = verify(args.verify)
        except (ValueError, OSError, tarfile.TarError) as error:
            log.error("verification failed: %s", error)
            return 1
        _print_claims(args.verify, claims)
        return 0
    missing = [flag for flag in ("results", "dataset", "commit", "config_json", "out")
               if getattr(args, flag) is None]
    if missing:
        parser.error("without --verify, these are required: "
                     + ", ".join("--" + flag.replace("_", "-") for flag in missing))
    members = write_bundle(
        args.out, args.dataset, args.results, args.commit, args.config_json, args.inputs,
        pip_freeze(), models=args.models,
    )
    log.info("wrote %s with %d members", args.out, len(members))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
