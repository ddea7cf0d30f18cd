"""The publication bundle: results plus everything needed to say what made them.

A paper cites one file. It holds the reports, summary, run files, thresholds and figures, the
resolved configuration, the exact Python environment (`pip freeze`), the md5 of every input file
of the release and the git commit, with a README describing the contents. Members are sorted and
their times fixed to the commit, so the same results give the same member list and contents.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path

from abgd.io import atomic_path, md5_file
from abgd.progress import setup_logging

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
    "groundtruth/*.json",
    "models/*/*/metrics.json",
    "models/*/*/epochs.csv",
    "models/*/*/labels.json",
    "features/*.manifest.json",
)

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
| `splits/`, `groundtruth/` | split summaries and label vocabularies |
| `models/<system>/<source>/` | training logs and metrics (not the weights) |
| `config.json` | the resolved configuration of the run |
| `environment.txt` | `pip freeze` of the environment that ran the workflow |
| `inputs.md5` | md5 of every input file of the release |
| `COMMIT` | the git commit of the workflow |

To archive the code and software environments as well, run
`snakemake --archive abgd-code.tar.gz` in the repository (it bundles the git-tracked
files and, with `--sdm conda`, the conda packages).
"""


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
                 inputs: list[Path], environment: str, mtime: int | None = None) -> list[str]:
    """Write the tar.gz atomically; return the member names."""
    mtime = int(time.time()) if mtime is None else mtime
    prefix = f"abgd-{dataset}"
    members: list[str] = []
    generated = {
        "README.md": README.format(
            dataset=dataset, commit=commit,
            date=time.strftime("%Y-%m-%d", time.gmtime(mtime)),
        ),
        "COMMIT": commit + "\n",
        "config.json": json.dumps(json.loads(config_json), indent=2, sort_keys=True) + "\n",
        "environment.txt": environment,
        "inputs.md5": "".join(f"{md5_file(path)}  {path.name}\n" for path in sorted(inputs)),
    }
    with atomic_path(out) as tmp, open(tmp, "wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, mtime=mtime
    ) as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, text in sorted(generated.items()):
            _add_bytes(tar, f"{prefix}/{name}", text.encode(), mtime)
            members.append(f"{prefix}/{name}")
        for path in collect(results):
            name = f"{prefix}/{path.relative_to(results).as_posix()}"
            _add_bytes(tar, name, path.read_bytes(), mtime)
            members.append(name)
    return members


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abgd.archive", description=__doc__.split("\n")[0])
    parser.add_argument("--results", required=True, type=Path, help="results/<dataset> folder")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--commit", required=True, help="git commit of the workflow")
    parser.add_argument("--config-json", required=True, help="the resolved configuration as JSON")
    parser.add_argument("--inputs", nargs="*", default=[], type=Path,
                        help="input files of the release, listed with their md5")
    parser.add_argument("--out", required=True, type=Path, help="the .tar.gz to write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    log = setup_logging()
    members = write_bundle(
        args.out, args.dataset, args.results, args.commit, args.config_json, args.inputs,
        pip_freeze(),
    )
    log.info("wrote %s with %d members", args.out, len(members))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
