"""The documentation's commands, run the way a reader pastes them.

Every fenced ``sh``/``bash``/``console``/``python`` block of README.md and docs/*.md is
extracted with its file and line and checked from the root of a copied checkout, started from a
plain environment (``PLAIN_ENV``: PATH=/usr/bin:/bin, no PYTHONPATH, no venv on PATH). A block
is checked in one of these ways:

- **run**: the default. Shell blocks run with ``bash -e``; Python blocks run with the venv's
  interpreter. Each command line is handled on its own: ``make run`` / ``make test`` are not run
  (they are what CI runs) but must be the Quick start's two commands and Makefile targets;
  ``pip install -e '.[extra]'`` is checked against pyproject.toml (the extra exists, and a
  version named in the line's comment is the one it pins) instead of reaching a package index.
- **dry-run**: marked ``<!-- doc-test: dry-run: reason -->`` right above the block, with the
  reason also written for readers. Every ``snakemake`` command gets ``--dry-run``, any other
  command ``--help`` (so the program and its options are checked, not its work).
- **slurm**: marked ``<!-- doc-test: slurm: reason -->``, for commands that submit to SLURM.
  They run only against a live cluster: ``tests/cluster/run_slurm_demo.sh`` (CI, after
  ``make test``) starts a one-node cluster and, once ``sinfo`` shows its node idle, runs
  ``test_slurm_block`` with ``ABGD_SLURM_LIVE=1``; that run *is* CI's cluster run. Elsewhere they
  are skipped with the marker's reason, and counted apart from the skips.
- **skip**: marked ``<!-- doc-test: skip: reason -->``, with the reason written for readers;
  counted, at most ``MAX_SKIPPED`` and none in the Quick start.

Commands run exactly as written apart from these substitutions, which the test applies:

1. ``.venv/bin/`` becomes the bin folder of the interpreter running the tests
   (``Path(sys.executable).parent``; in ``make test`` that is the checkout's own ``.venv/bin``);
2. the demo becomes the tiny study the ``study`` fixture ran: ``results/demo`` →
   ``results/tiny``, ``resources/demo`` → ``resources/tiny``, ``abgd-demo-`` → ``abgd-tiny-``,
   and a ``snakemake`` command without ``--configfile`` gets
   ``--configfile tests/config/tiny.yaml``. The copied checkout links ``results/tiny``,
   ``resources/tiny`` and ``.snakemake`` to the study's, so it looks like a clone after the
   study ran;
3. a command whose comment says ``venv activated`` runs with that bin folder first on PATH;
4. in a **slurm** block, the study is ``tests/cluster/slurm.yaml`` (the smallest study with every
   stage; ``ABGD_SLURM_CONFIG`` names another) instead of the tiny one, ``<partition>`` and
   ``<account>`` become the live cluster's (``ABGD_SLURM_PARTITION``, ``ABGD_SLURM_ACCOUNT``; an
   empty account drops the ``slurm_account=<account>`` word, for a cluster without accounts),
   and the cluster's own settings (``ABGD_SLURM_SITE_ARGS``, e.g. ``--slurm-status-command
   squeue`` where there is no ``sacct``) are appended, as a site would put them in its profile.
   The blocks run one after the other in one copied checkout (``ABGD_SLURM_DOCROOT``, kept for
   the script's checks): the first runs the whole study, and before each later one an
   evaluation file and the summary are deleted, so that every block submits a SLURM job.

The real study's command (Zenodo, 30 GB) is a dry run, and then one real ``download`` job of it
runs with the same configuration file, its URL template pointed at the tiny study's local
mirror (``file://``) and the file's md5 set to the mirror's, as the Quick start's demo does.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from studies import BIN, PLAIN_ENV, ROOT, copy_checkout

DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "console", "shell"}
CHECKED = SHELL | {"python"}
MAX_SKIPPED = 5
TINY = "tests/config/tiny.yaml"
SLURM_STUDY = "tests/cluster/slurm.yaml"
MARKER = re.compile(r"<!--\s*doc-test:\s*(skip|dry-run|slurm)\s*:\s*(.+?)\s*-->")
PINNED = re.compile(r"([A-Za-z][\w-]*)(?:==| )(\d+\.\d+[\w.]*)")
FENCE = re.compile(r"^(\s*)```\s*([\w-]*)")


@dataclass(frozen=True)
class Block:
    file: str
    line: int  # line of the opening fence, 1-based
    lang: str
    text: str
    mode: str  # run | dry-run | slurm | skip
    reason: str
    section: str  # the nearest ## heading above

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def extract(text: str, file: str) -> list[Block]:
    """Every fenced block of a Markdown text, with its line, marker and section."""
    lines = text.splitlines()
    blocks: list[Block] = []
    section = ""
    i = 0
    while i < len(lines):
        if lines[i].startswith("## "):
            section = lines[i][3:].strip()
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not lines[end].lstrip().startswith("```"):
            end += 1
        if end == len(lines):
            raise ValueError(f"{file}:{i + 1}: code fence never closed")
        above = lines[i - 1] if i else ""
        marker = MARKER.search(above)
        mode, reason = (marker.group(1), marker.group(2)) if marker else ("run", "")
        indent = len(opening.group(1))
        body = "\n".join(line[indent:] for line in lines[i + 1:end])
        blocks.append(Block(file, i + 1, opening.group(2).lower(), body, mode, reason, section))
        i = end + 1
    return blocks


def commands(text: str) -> list[str]:
    """The shell commands of a block: continuation lines joined, blank lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip()
            and not line.strip().startswith("#")]


def split_comment(command: str) -> tuple[str, str]:
    """The command and its trailing `# ...` comment ('' if none); a `#` inside quotes is text."""
    quote = ""
    for k, char in enumerate(command):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (k == 0 or command[k - 1].isspace()):
            return command[:k].rstrip(), command[k:]
    return command.rstrip(), ""


def comment(command: str) -> str:
    return split_comment(command)[1]


def words(command: str) -> list[str]:
    """The command's words, its comment left out."""
    return shlex.split(command, comments=True)


def substitute(text: str, bin_dir: Path) -> str:
    """Substitutions 1 and 2 of the module docstring (text level)."""
    for old, new in (("results/demo", "results/tiny"), ("resources/demo", "resources/tiny"),
                     ("abgd-demo-", "abgd-tiny-")):
        text = text.replace(old, new)
    return text.replace(".venv/bin/", f"{bin_dir}/")


def is_snakemake(argv: list[str]) -> bool:
    program = next((w for w in argv if "=" not in w), "")
    return Path(program).name == "snakemake"


@dataclass(frozen=True)
class Site:
    """A live SLURM cluster's values for a slurm block (substitution 4 of the docstring)."""

    partition: str
    account: str  # '' for a cluster without accounts
    args: str  # the cluster's own settings, appended
    study: str = SLURM_STUDY


def on_cluster(text: str, site: Site) -> str:
    """`<partition>` and `<account>` replaced by the cluster's (substitution 4)."""
    if site.account:
        text = text.replace("<account>", site.account)
    else:
        text = re.sub(r"\s*\bslurm_account=<account>", "", text)
    return text.replace("<partition>", site.partition)


def prepare(command: str, mode: str, bin_dir: Path, site: Site | None = None) -> str:
    """A command as the test runs it: substituted, aimed at the test's study, dry-run if asked.

    The text stays the reader's (quotes, globs); only words are inserted or appended.
    """
    text = split_comment(substitute(command, bin_dir))[0]
    if mode == "slurm":
        assert site is not None, "a slurm block needs the live cluster's values"
        text = on_cluster(text, site)
    argv = words(text)
    study = site.study if mode == "slurm" and site is not None else TINY
    if is_snakemake(argv) and not any(w.startswith("--configfile") for w in argv):
        text = re.sub(r"(\S*snakemake)(?=\s|$)", rf"\1 --configfile {study}", text, count=1)
    if mode == "dry-run":
        text += " --dry-run" if is_snakemake(argv) else " --help"
    if mode == "slurm" and site is not None and site.args.strip():
        text += " " + site.args.strip()
    return text


def live_cluster() -> Site | None:
    """The live cluster's values when ``ABGD_SLURM_LIVE=1`` (run_slurm_demo.sh), else None."""
    if os.environ.get("ABGD_SLURM_LIVE") != "1":
        return None
    missing = [tool for tool in ("sbatch", "squeue", "sinfo")
               if not shutil.which(tool, path=PLAIN_ENV["PATH"])]
    assert not missing, f"ABGD_SLURM_LIVE=1 but {missing} not on {PLAIN_ENV['PATH']}"
    return Site(partition=os.environ.get("ABGD_SLURM_PARTITION", ""),
                account=os.environ.get("ABGD_SLURM_ACCOUNT", ""),
                args=os.environ.get("ABGD_SLURM_SITE_ARGS", ""),
                study=os.environ.get("ABGD_SLURM_CONFIG") or SLURM_STUDY)


def all_blocks() -> list[Block]:
    return [b for f in DOCS for b in extract((ROOT / f).read_text(), f)]


# ------------------------------------------------------------------ extraction, on small strings


def test_extract_finds_fences_lines_markers_and_sections() -> None:
    text = ("# T\n## Quick start\n\n```sh\nmake run\n```\n## Other\n"
            "<!-- doc-test: skip: needs SLURM -->\n```bash\n  x \\\n  --y\n```\n"
            "```yaml\na: 1\n```\n   ```python\n   print(1)\n   ```\n")
    blocks = extract(text, "X.md")
    assert [(b.line, b.lang, b.mode, b.section) for b in blocks] == [
        (4, "sh", "run", "Quick start"), (9, "bash", "skip", "Other"),
        (13, "yaml", "run", "Other"), (16, "python", "run", "Other")]
    assert blocks[1].reason == "needs SLURM"
    assert blocks[3].text == "print(1)"
    assert commands(blocks[1].text) == ["x --y"]


def test_extract_rejects_an_unclosed_fence() -> None:
    with pytest.raises(ValueError, match=r"X\.md:2"):
        extract("a\n```sh\nls\n", "X.md")


def test_prepare_substitutes_and_adds_the_tiny_config() -> None:
    bin_dir = Path("/v/bin")
    run = prepare(".venv/bin/snakemake --report results/demo/report.zip  # hi", "run", bin_dir)
    assert run == f"/v/bin/snakemake --configfile {TINY} --report results/tiny/report.zip"
    dry = prepare(".venv/bin/snakemake --configfile config/x.yaml --config a='{\"b\": 1}'",
                  "dry-run", bin_dir)
    assert dry == "/v/bin/snakemake --configfile config/x.yaml --config a='{\"b\": 1}' --dry-run"
    assert prepare(".venv/bin/python -m abgd.features f/*.json  # c", "run", bin_dir) == \
        "/v/bin/python -m abgd.features f/*.json"
    assert prepare("PYTHONPATH=src .venv/bin/python x.py a", "dry-run", bin_dir) == \
        "PYTHONPATH=src /v/bin/python x.py a --help"
    submit = (".venv/bin/snakemake --profile profiles/slurm --default-resources "
              "slurm_partition=<partition> slurm_account=<account> mem_mb=2000")
    site = Site("debug", "lab", "--slurm-status-command squeue")
    assert prepare(submit, "slurm", bin_dir, site) == (
        f"/v/bin/snakemake --configfile {SLURM_STUDY} --profile profiles/slurm "
        "--default-resources slurm_partition=debug slurm_account=lab mem_mb=2000 "
        "--slurm-status-command squeue")
    assert prepare(submit, "slurm", bin_dir, Site("p", "", "")) == (
        f"/v/bin/snakemake --configfile {SLURM_STUDY} --profile profiles/slurm "
        "--default-resources slurm_partition=p mem_mb=2000")
    assert comment("pip install -e '.[a]'   # pkg 1.2 # more") == "# pkg 1.2 # more"
    assert split_comment("x '#a' \"b # c\" # d") == ("x '#a' \"b # c\"", "# d")


# ------------------------------------------------------------------ the documentation itself


def test_documents_have_blocks_and_few_skips() -> None:
    blocks = [b for b in all_blocks() if b.lang in CHECKED]
    skipped = [b for b in blocks if b.mode == "skip"]
    assert len(blocks) >= 15, [b.where for b in blocks]
    assert len(skipped) <= MAX_SKIPPED, [f"{b.where}: {b.reason}" for b in skipped]
    assert not [b for b in skipped if b.section == "Quick start"]
    on_cluster_only = [b for b in blocks if b.mode == "slurm"]
    assert not [b for b in on_cluster_only if b.section == "Quick start"]


def test_slurm_blocks_submit_the_study_through_the_profile() -> None:
    """The slurm marker is for SLURM submissions only: the README's quick version is one.

    Anything else marked so would be run by nobody but the cluster check, or by nobody at all.
    """
    marked = [b for b in all_blocks() if b.mode == "slurm"]
    assert any(b.file == "README.md" and b.section == "Running on a cluster" for b in marked)
    for block in marked:
        assert block.lang in SHELL, block.where
        for command in commands(block.text):
            argv = words(command)
            assert is_snakemake(argv) and "profiles/slurm" in argv, \
                f"{block.where}: `{command}` is not a snakemake --profile profiles/slurm command"


def test_markers_sit_above_a_checked_block() -> None:
    """A marker that no longer sits right above a command block would silently stop counting."""
    for file in DOCS:
        lines = (ROOT / file).read_text().splitlines()
        for k, line in enumerate(lines):
            if MARKER.search(line):
                below = lines[k + 1] if k + 1 < len(lines) else ""
                fence = FENCE.match(below)
                assert fence and fence.group(2) in CHECKED, \
                    f"{file}:{k + 1}: marker not right above a command block"


def test_quick_start_is_the_two_make_targets() -> None:
    quick = [b for b in all_blocks() if b.section == "Quick start" and b.lang in SHELL]
    assert [words(c) for c in commands(quick[0].text)] == [["make", "run"], ["make", "test"]], \
        quick[0].where
    targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
    assert {"run", "test"} <= set(targets)


# ------------------------------------------------------------------ running the blocks


def write_tone(path: Path, seconds: float = 3.0, rate: int = 44100, hz: float = 440.0) -> None:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * hz * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


@pytest.fixture(scope="module")
def docroot(study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copied checkout that looks like a clone after the tiny study ran in it."""
    root = copy_checkout(tmp_path_factory.mktemp("docroot"))
    for name in ("results/tiny", "resources/tiny", ".snakemake"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).symlink_to(study / name)
    write_tone(root / "song.wav")  # inputs the audio example names
    (root / "music").mkdir()
    write_tone(root / "music" / "chord.wav", hz=330.0)
    return root


def check_make(argv: list[str], block: Block) -> None:
    assert block.section == "Quick start", f"{block.where}: make outside the Quick start"
    targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
    assert argv[1] in targets, f"{block.where}: no Makefile target {argv[1]!r}"


def check_pip(command: str, block: Block) -> None:
    """`pip install -e '.[extra]'`: the extra exists; a version named in the comment is pinned."""
    argv = words(command)
    extras = re.fullmatch(r"\.\[([\w,-]+)\]", argv[-1])
    assert extras and argv[-2] == "-e", f"{block.where}: expected pip install -e '.[extra]'"
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    named = [(n, v) for n, v in PINNED.findall(comment(command)) if n.lower() != "python"]
    for extra in extras.group(1).split(","):
        assert extra in declared, f"{block.where}: no extra {extra!r} in pyproject.toml"
        pins = [p.lower() for p in declared[extra]]
        for package, version in named:
            assert f"{package.lower()}=={version}" in pins, \
                f"{block.where}: {package} {version} is not what extra {extra!r} pins ({pins})"


def run_shell(block: Block, root: Path, bin_dir: Path) -> None:
    for command in commands(block.text):
        argv = words(command)
        if not argv:
            continue
        if argv[0] == "make":
            check_make(argv, block)
            continue
        if Path(argv[0]).name == "pip" and argv[1:2] == ["install"]:
            check_pip(command, block)
            continue
        env = dict(PLAIN_ENV)
        if "venv activated" in comment(command):
            env["PATH"] = f"{bin_dir}:{env['PATH']}"
        prepared = prepare(command, block.mode, bin_dir)
        result = subprocess.run(["bash", "-e", "-c", prepared], cwd=root, env=env,
                                capture_output=True, text=True, check=False, timeout=1800)
        assert result.returncode == 0, (
            f"{block.where}: `{command}` (run as `{prepared}`) exited with "
            f"{result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")


def run_python(block: Block, root: Path, bin_dir: Path) -> None:
    code = substitute(block.text, bin_dir)
    result = subprocess.run([str(bin_dir / "python"), "-c", code], cwd=root, env=PLAIN_ENV,
                            capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, (
        f"{block.where}: the Python example failed\n{result.stdout[-2000:]}\n"
        f"{result.stderr[-5000:]}")


BLOCKS = [b for b in all_blocks() if b.lang in CHECKED and b.mode != "slurm"]
SLURM_BLOCKS = [b for b in all_blocks() if b.lang in CHECKED and b.mode == "slurm"]


@pytest.mark.parametrize("block", BLOCKS, ids=[b.where for b in BLOCKS])
def test_block(block: Block, docroot: Path) -> None:
    if block.mode == "skip":
        pytest.skip(f"{block.where}: {block.reason}")
    if block.lang == "python":
        if block.mode == "dry-run":
            pytest.skip(f"{block.where}: {block.reason}")
        run_python(block, docroot, BIN)
    else:
        run_shell(block, docroot, BIN)


# ------------------------------------------------------------------ SLURM blocks, on a live cluster


@pytest.fixture(scope="module")
def slurmroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copied checkout for the slurm blocks; ``ABGD_SLURM_DOCROOT`` keeps it for the caller."""
    where = os.environ.get("ABGD_SLURM_DOCROOT")
    root = Path(where) if where else tmp_path_factory.mktemp("slurmroot")
    root.mkdir(parents=True, exist_ok=True)
    return copy_checkout(root)


@pytest.mark.parametrize("block", SLURM_BLOCKS, ids=[b.where for b in SLURM_BLOCKS])
def test_slurm_block(block: Block, request: pytest.FixtureRequest) -> None:
    """A SLURM block as pasted, through a live cluster (substitution 4 of the docstring)."""
    site = live_cluster()
    if site is None:
        pytest.skip(f"{block.where}: {block.reason} (needs a live cluster: "
                    "tests/cluster/run_slurm_demo.sh runs it with ABGD_SLURM_LIVE=1)")
    root: Path = request.getfixturevalue("slurmroot")
    # A later block would find the study done and submit nothing. Without one evaluation and the
    # summary (a target, made locally from every evaluation) it submits that evaluation's job
    # again; the evaluation alone would not do: a missing intermediate file reruns nothing.
    done = sorted((root / "results").glob("*/evaluation/*/*-validation.json"))
    if done:
        done[0].unlink()
        (done[0].parents[1] / "summary.json").unlink(missing_ok=True)
    for command in commands(block.text):
        prepared = prepare(command, "slurm", BIN, site)
        result = subprocess.run(["bash", "-e", "-c", prepared], cwd=root, env=PLAIN_ENV,
                                capture_output=True, text=True, check=False, timeout=3600)
        with (root / "doc-test-slurm.log").open("a") as log:
            log.write(f"=== {block.where}: {prepared}\n{result.stdout}{result.stderr}\n")
        assert result.returncode == 0, (
            f"{block.where}: `{command}` (run as `{prepared}`) exited with "
            f"{result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        assert "submitted with SLURM jobid" in result.stdout + result.stderr, \
            f"{block.where}: `{prepared}` submitted no SLURM job\n{result.stderr[-3000:]}"


# ------------------------------------------------------------------ one job of the real study


def test_real_study_runs_one_download_job_against_a_local_mirror(docroot: Path, study: Path,
                                                                 ) -> None:
    """The headline command's `download` rule, for real, with only the URL and md5 changed."""
    config = yaml.safe_load((ROOT / "config" / "acousticbrainz.yaml").read_text())
    name = config["features"]["archives"]["validation"][0]
    mirror = study / "resources" / "mirror" / "tiny"  # the tiny release, as the demo serves it
    sums = dict(reversed(line.split()) for line in (mirror / "MD5SUMS").read_text().splitlines()
                if line.strip())
    assert name in config["download"]["md5"] and name in sums
    override = {"url_template": f"file://{mirror}/{{name}}", "md5": {name: sums[name]}}
    target = f"resources/acousticbrainz/{name}"
    result = subprocess.run(
        [str(BIN / "snakemake"), "--cores", "16", "--configfile", "config/acousticbrainz.yaml",
         "--config", f"download={yaml.safe_dump(override, default_flow_style=True).strip()}",
         "--allowed-rules", "download", "--", target],
        cwd=docroot, env=PLAIN_ENV, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, f"README.md: real-study download job\n{result.stderr[-5000:]}"
    assert "rule download" in result.stderr + result.stdout
    assert (docroot / target).read_bytes() == (mirror / name).read_bytes()
    os.remove(docroot / target)


# ------------------------------------------------------------------ figures quoted from the record


def record_sections(record: str) -> dict[str, str]:
    """The sections of benchmarks/RESULTS.md by benchmark name."""
    return {body.split("\n", 1)[0].strip(): body
            for body in re.split(r"^## ", record, flags=re.M)[1:]}


def readme_section(readme: str, title: str) -> str:
    """The text of one `## title` section of the README."""
    return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_quotes_the_benchmark_record() -> None:
    """The README's figures taken from benchmarks/RESULTS.md are the record's current ones.

    Rewriting the record (`make bench`) without updating the README fails here, so the two
    cannot drift apart silently.
    """
    record = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    readme = (ROOT / "README.md").read_text()
    walls = [int(s) for s in re.findall(r"^\| \w+ \| [^|]+ \| (\d+) s \|", record, flags=re.M)]
    assert walls, "no wall times in benchmarks/RESULTS.md"
    minutes = round(sum(walls) / 60)
    assert f"took {minutes} minutes" in readme, f"README.md: `make bench` took {minutes} min"
    paragraph = readme.split("**The benchmark record.**", 1)[1].split("\n\n", 1)[0]
    loads = set(re.findall(r"load average ([\d.]+) at start", record))
    assert loads, "benchmarks/RESULTS.md: no load average"
    for load in sorted(loads):  # every run the record's sections come from
        assert re.search(rf"\b{re.escape(load)}\b", paragraph), \
            f"README.md, 'The benchmark record': load average {load} of a run in the record"
    ratio = re.search(r"python\s+decode .* ratio ([\d.]+)", record)
    assert ratio and f"measures {ratio.group(1)} ×" in readme, \
        f"README.md: conversion / decode ratio of the record is {ratio and ratio.group(1)}"


def test_readme_tag_speed_is_the_records() -> None:
    """The README's tag speed paragraph quotes bench_tag's ratio, projection, memory and the
    per-stage decomposition that explains the missed goal, as the record has them."""
    tag = record_sections((ROOT / "benchmarks" / "RESULTS.md").read_text()).get("tag", "")
    readme = " ".join((ROOT / "README.md").read_text().split())  # one line: quotes may wrap
    ratio = re.search(r"tag / floor = [\d.]+ wall clock, ([\d.]+) CPU time", tag)
    hours = re.search(r"16-core node .* = ([\d.]+) h", tag)
    peak = re.search(r"peak RSS of one tag job over this archive \(.*?\): (\d+) MB", tag)
    budget = re.search(r"the rest (\d+) us per document together \(now (\d+)\)", tag)
    stages = re.search(r"floor (\d+) = read \(zstd \+ tar\) (\d+) \+ orjson.loads (\d+); tag "
                       r"(\d+) = floor \+ flatten (\d+) \+ forward passes (\d+) \+ the rest "
                       r"\(writing, decoding\) (\d+)", tag)
    ceiling = re.search(r"floor / \(floor \+ forward passes\) = ([\d.]+)", tag)
    assert ratio and hours and peak and stages and ceiling and budget, \
        "benchmarks/RESULTS.md: the tag section lacks a figure the README quotes"
    floor, read, parse, total, flatten, forward, rest = stages.groups()
    for quoted in (f"tag / floor = {ratio.group(1)} in CPU time", f"about {hours.group(1)} h",
                   f"peak RSS {peak.group(1)} MB", f"the floor is {floor} ({read} reading",
                   f"+ {parse} `orjson.loads`",
                   f"tag is {total} = the floor + {flatten} flattening",
                   f"+ {forward} for the eight forward passes", f"+ {rest} for the rest",
                   f"could not pass {ceiling.group(1)}",
                   f"those two to cost {budget.group(1)} µs instead of {budget.group(2)}"):
        assert quoted in readme, f"README.md, tag speed: the record says `{quoted}`"


def test_readme_demo_run_time_is_the_records() -> None:
    """The Quick start's demo run time is bench_demo's, with the load of the run that made it.

    Until the record has a demo section the Quick start states no run time at all; once
    `make bench` writes one, this test asks the README to quote it.
    """
    demo = record_sections((ROOT / "benchmarks" / "RESULTS.md").read_text()).get("demo", "")
    quick = readme_section((ROOT / "README.md").read_text(), "Quick start")
    assert "bench_demo.py" in quick, "README.md, Quick start: name the demo's benchmark"
    if not demo:
        stated = re.search(r"\d+\s*(?:min|minutes)\b|\b(?:one|two|three|four|five|six|seven|"
                           r"eight|nine|ten) minutes\b", quick)
        assert not stated, f"README.md, Quick start: `{stated and stated.group(0)}` is in no record"
        return
    figure = re.search(r"current wall (\d+) s \((\d+) min (\d+) s\), (\d+) jobs", demo)
    load = re.search(r"^Run: .*load average ([\d.]+) at start", demo, flags=re.M)
    assert figure and load, "benchmarks/RESULTS.md: the demo section has no wall time"
    wall, minutes, seconds, jobs = (int(g) for g in figure.groups())
    for quoted in (f"about {round(wall / 60)} minutes", f"{minutes} min {seconds} s",
                   f"{jobs} jobs", f"load average {load.group(1)}", "bench_demo.py"):
        assert quoted in quick, f"README.md, Quick start: the record says `{quoted}`"
