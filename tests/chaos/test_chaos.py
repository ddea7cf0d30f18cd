"""Chaos: interrupt the whole study at seeded moments, resume as documented, get the same science.

A study on the real release runs for hours on shared machines where jobs are pre-empted, nodes
die and people press Ctrl-C. This test runs the smallest complete study (``chaos.yaml``: every
stage from the generated mirror to the archive) once unbroken, then again from scratch while
interrupting it at seeded moments, resuming each time with the command the README gives:

* ``sigkill``: SIGKILL to Snakemake's whole process group (node loss, OOM killer, ``kill -9``).
  Nothing can clean up; the lock stays, so a plain resume must be refused with Snakemake's
  lock message, and ``--unlock`` then ``--rerun-incomplete`` must finish the study.
* ``sigterm``: SIGTERM to the whole group (pre-emption, ``scancel``): resume with
  ``--rerun-incomplete``.
* ``job``: SIGKILL to one running job's process while Snakemake lives: the job must be
  reported as failed, and ``--rerun-incomplete`` finishes the study.
* ``lock``: a second ``snakemake`` in the same folder while the first runs (held with SIGSTOP
  so nothing moves meanwhile): it must stop with the lock message and change no file.

Moments are chosen from the job sequence, not wall time, so they cover every stage: each
interruption waits until a job of its rule has started (rules taken in the order of the DAG,
``STAGES``), then a seeded fraction of a second more. The rules running at that instant are
printed ("moments covered"; run with ``-s`` to see them).

After the last resume, every file under ``results/`` and ``resources/`` must exist in the
unbroken run too (no temporary, partial or stray file), every science file must be byte-identical
(``tests/cluster/compare_outputs.py`` names the few files that record timings and may differ),
and Snakemake must hold no lock and no incomplete marker.

``make test`` runs the plan below (2 runs, 10 SIGKILLs, 1 SIGTERM, 1 job kill, 1 lock check).
The longer variant draws its own plan (kinds and stages at random):
``ABGD_CHAOS_RUNS=6 ABGD_CHAOS_EVENTS=6 python -m pytest -s tests/chaos`` (``ABGD_CHAOS_SEED``
shifts the seeds).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CONFIG = ROOT / "tests" / "chaos" / "chaos.yaml"
DATASET = "chaos"
TIMEOUT = 1800  # seconds for one invocation; generous because CI machines are shared

KILL, TERM, JOB, LOCK = "sigkill", "sigterm", "job", "lock"
LOCK_MESSAGE = "Directory cannot be locked"

# Rules in DAG order: each has a job that depends on a job of the one before, so once a job of
# one rule has been interrupted, a job of every later rule is still ahead.
STAGES = ["demo_mirror", "download", "convert", "features_manifest", "groundtruth", "split",
          "train_single", "embed", "train_fusion", "predict", "threshold", "decode", "evaluate",
          "summarize", "archive"]

# (seed, [(interruption, rule whose job start triggers it), ...]) for `make test`:
# 10 SIGKILLs over two runs, one of each other kind; mirror, download, conversion, ground truth,
# training, embedding, fusion, prediction, thresholds, evaluation and archive each interrupted.
CI_PLAN: list[tuple[int, list[tuple[str, str]]]] = [
    (1, [(KILL, "demo_mirror"), (KILL, "download"), (KILL, "convert"), (KILL, "train_single"),
         (KILL, "threshold"), (KILL, "archive")]),
    (2, [(LOCK, "demo_mirror"), (KILL, "features_manifest"), (TERM, "groundtruth"),
         (KILL, "embed"), (JOB, "train_fusion"), (KILL, "predict"), (KILL, "evaluate")]),
]

pytestmark = pytest.mark.slow


def _plan() -> list[tuple[int, list[tuple[str, str]]]]:
    runs = int(os.environ.get("ABGD_CHAOS_RUNS", "0"))
    if runs <= 0:
        return CI_PLAN
    events = min(int(os.environ.get("ABGD_CHAOS_EVENTS", "5")), len(STAGES))
    first = int(os.environ.get("ABGD_CHAOS_SEED", "100"))
    kinds = [KILL, KILL, KILL, TERM, JOB, LOCK]
    plan = []
    for seed in range(first, first + runs):
        rng = np.random.default_rng(seed)
        stages = sorted(rng.choice(len(STAGES), events, replace=False))
        plan.append((seed, [(str(rng.choice(kinds)), STAGES[i]) for i in stages]))
    return plan


def _load_compare_outputs():
    spec = importlib.util.spec_from_file_location(
        "compare_outputs", ROOT / "tests" / "cluster" / "compare_outputs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare_outputs = _load_compare_outputs()


# ----------------------------------------------------------------------------- running snakemake


def command(workdir: Path, *args: str) -> list[str]:
    return [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), "--directory",
            str(workdir), "--configfile", str(CONFIG), "--cores", "2", *args]


def environment() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def run_once(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(workdir, *args), capture_output=True, text=True,
                          env=environment(), cwd=ROOT, check=False, timeout=TIMEOUT)


class Invocation:
    """A snakemake in its own session (so its process group can be signalled), log kept live."""

    def __init__(self, workdir: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            command(workdir, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env=environment(), cwd=ROOT, start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def signal_group(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)

    def wait(self) -> int:
        rc = self.proc.wait(timeout=TIMEOUT)
        self._reader.join(timeout=60)
        return rc

    def log(self) -> str:
        return "\n".join(self.lines)


_RULE = re.compile(r"^(?:local)?rule (\w+):$")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) ")


def job_states(lines: list[str]) -> tuple[dict[int, str], set[int]]:
    """(jobid -> rule of every job started, jobids finished) from a Snakemake log."""
    started: dict[int, str] = {}
    finished: set[int] = set()
    rule = None
    for line in lines:
        if match := _RULE.match(line):
            rule = match.group(1)
        elif (match := _JOBID.match(line)) and rule is not None:
            started[int(match.group(1))] = rule
            rule = None
        elif match := _FINISHED.match(line):
            finished.add(int(match.group(1)))
    return started, finished


def running_rules(lines: list[str]) -> list[str]:
    started, finished = job_states(lines)
    running = sorted(rule for job, rule in started.items() if job not in finished)
    return running or ["(between jobs)"]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def job_processes(pid: int) -> list[tuple[int, str]]:
    """(pid, abgd module) of the step processes Snakemake is running now."""
    jobs = []
    for child in descendants(pid):
        try:
            argv = (Path("/proc") / str(child) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [word.decode(errors="replace") for word in argv]
        if "-m" in words[:-1] and words[words.index("-m") + 1].startswith("abgd."):
            jobs.append((child, words[words.index("-m") + 1]))
    return sorted(jobs)


# ----------------------------------------------------------------------------- what a run left


def files(root: Path) -> dict[str, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every file: enough to see that nothing was touched."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def stray_files(workdir: Path) -> list[str]:
    """Temporary names the writers use (abgd.io's ``.NAME.XXXXXXXX.tmp``, download's ``.part``)."""
    return sorted(str(p.relative_to(workdir)) for folder in ("results", "resources")
                  for p in (workdir / folder).rglob("*")
                  if p.name.endswith((".tmp", ".part")) or p.name.startswith("."))


def snakemake_state(workdir: Path) -> list[str]:
    """Files in Snakemake's lock and incomplete-marker folders (both must be empty)."""
    return sorted(str(p.relative_to(workdir)) for folder in ("locks", "incomplete")
                  for p in (workdir / ".snakemake" / folder).rglob("*") if p.is_file())


def differences(reference: Path, resumed: Path) -> list[str]:
    """Problems between two study folders: results as compare_outputs judges, resources exact."""
    with contextlib.redirect_stderr(io.StringIO()):  # its list of tolerated timing files
        problems = compare_outputs.compare(reference / "results" / DATASET,
                                           resumed / "results" / DATASET)
    a = compare_outputs.tree(reference / "resources")
    b = compare_outputs.tree(resumed / "resources")
    for rel in sorted(a.keys() ^ b.keys()):
        side = "unbroken" if rel in a else "resumed"
        problems.append(f"only in the {side} run: resources/{rel}")
    problems += [f"differs: resources/{rel}" for rel in sorted(a.keys() & b.keys())
                 if compare_outputs.digest(a[rel]) != compare_outputs.digest(b[rel])]
    return problems


# ----------------------------------------------------------------------------- the study


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The unbroken run and the number of jobs it ran."""
    workdir = tmp_path_factory.mktemp("unbroken")
    started = time.monotonic()
    result = run_once(workdir)
    if result.returncode != 0:
        pytest.fail(f"unbroken study failed:\n{result.stderr[-6000:]}")
    jobs = len(job_states(result.stderr.splitlines())[1])
    print(f"\nunbroken study: {jobs} jobs in {time.monotonic() - started:.0f} s")
    assert jobs > 20, "the chaos study should have every stage"
    assert stray_files(workdir) == [] and snakemake_state(workdir) == []
    return workdir, jobs


@dataclass
class Moment:
    kind: str
    stage: str
    rules: list[str] = field(default_factory=list)


def wait_for(invocation: Invocation, rule: str) -> bool:
    """Wait until this invocation has started a job of ``rule``; False if Snakemake exits first.

    Waiting for a job start puts every interruption inside the scheduling loop (lock taken,
    signal handlers set), never in Snakemake's start-up.
    """
    while True:
        if rule in job_states(invocation.lines)[0].values():
            return True
        if invocation.proc.poll() is not None:
            return False
        time.sleep(0.05)


def interrupt(kind: str, invocation: Invocation, workdir: Path, rng: np.random.Generator,
              moment: Moment) -> list[str]:
    """Do one interruption; return the arguments the documented resume needs after it."""
    if kind == LOCK:
        invocation.signal_group(signal.SIGSTOP)
        try:
            moment.rules = running_rules(invocation.lines)
            before = {d: files(workdir / d) for d in ("results", "resources")}
            second = run_once(workdir, "--rerun-incomplete")
            after = {d: files(workdir / d) for d in ("results", "resources")}
        finally:
            invocation.signal_group(signal.SIGCONT)
        assert second.returncode != 0, second.stderr[-3000:]
        assert LOCK_MESSAGE in second.stderr, second.stderr[-3000:]
        assert after == before, "a refused second snakemake changed files"
        return []
    if kind == JOB:
        deadline = time.monotonic() + TIMEOUT
        while not (jobs := job_processes(invocation.proc.pid)):
            assert invocation.proc.poll() is None, "Snakemake ended before a job could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        ours = [job for job in jobs if job[1] == f"abgd.{moment.stage}"] or jobs
        pid, module = ours[int(rng.integers(len(ours)))]
        moment.rules = [f"{module} (killed)", *running_rules(invocation.lines)]
        os.kill(pid, signal.SIGKILL)
        rc = invocation.wait()
        log = invocation.log()
        assert rc != 0 and "Error in rule" in log, log[-3000:]
        return ["--rerun-incomplete"]
    time.sleep(float(rng.uniform(0.0, 1.0)))
    moment.rules = running_rules(invocation.lines)
    invocation.signal_group(signal.SIGKILL if kind == KILL else signal.SIGTERM)
    rc = invocation.wait()
    assert rc != 0, f"{kind}: snakemake exited 0\n{invocation.log()[-3000:]}"
    return ["--rerun-incomplete"]


def _plan_id(value: object) -> str:
    if isinstance(value, int):
        return f"seed{value}"
    return "-".join(f"{kind}@{stage}" for kind, stage in value)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("seed", "events"), _plan(), ids=_plan_id)
def test_interrupted_study_resumes_to_identical_results(
        seed: int, events: list[tuple[str, str]], reference: tuple[Path, int],
        tmp_path_factory: pytest.TempPathFactory) -> None:
    unbroken, total = reference
    workdir = tmp_path_factory.mktemp(f"chaos{seed}")
    rng = np.random.default_rng(seed)
    moments: list[Moment] = []
    started = time.monotonic()
    stale_lock_seen = False
    invocation = Invocation(workdir)
    for kind, stage in events:
        moment = Moment(kind, stage)
        assert wait_for(invocation, stage), (
            f"the study ended before a {stage} job\n{invocation.log()[-3000:]}")
        resume = interrupt(kind, invocation, workdir, rng, moment)
        moments.append(moment)
        if kind == LOCK:
            continue
        if kind == KILL:
            if not stale_lock_seen:
                # What a user sees first after a killed run: the lock it could not remove.
                refused = run_once(workdir, "--rerun-incomplete")
                assert refused.returncode != 0 and LOCK_MESSAGE in refused.stderr, (
                    refused.stderr[-3000:])
                assert "--unlock" in refused.stderr
                stale_lock_seen = True
            unlocked = run_once(workdir, "--unlock")
            assert unlocked.returncode == 0, unlocked.stderr[-3000:]
        invocation = Invocation(workdir, *resume)
    rc = invocation.wait()
    assert rc == 0, invocation.log()[-6000:]
    elapsed = time.monotonic() - started

    print(f"\nseed {seed}: {len(moments)} interruptions, {total} jobs, finished in {elapsed:.0f} s")
    for moment in moments:
        print(f"  {moment.kind:8} once {moment.stage:17} started; running: "
              f"{', '.join(moment.rules)}")
    assert stray_files(workdir) == []
    assert snakemake_state(workdir) == []
    assert differences(unbroken, workdir) == []
