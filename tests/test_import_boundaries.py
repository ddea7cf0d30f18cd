"""Each workflow step imports at start only what its command needs.

Every Snakemake job pays its step's start-up once, and the demo runs about 185 jobs: a step that
imports scikit-learn (1.3 s), LightGBM (1.9 s), torch (2 s), matplotlib (0.7 s) or pandas
(0.5 s) at start, without using it for every command, pays that on every job and on ``--help``.
Each step is imported in a fresh interpreter (in parallel) and the heavy top-level packages in
``sys.modules`` are compared with what the step may load. A control import shows the probe sees
a package when it is loaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import abgd

ROOT = Path(__file__).resolve().parents[1]
SOURCE = str(Path(abgd.__file__).resolve().parents[1])  # the code under test, not a copy
HEAVY = frozenset({"torch", "lightning", "pytorch_lightning", "lightning_fabric", "lightgbm",
                   "sklearn", "matplotlib", "pandas"})
#: What a step may load at start because its command uses it at once (training, inference).
ALLOWED = {
    "train_single": HEAVY - {"lightgbm"},
    "train_fusion": HEAVY - {"lightgbm"},
    "train_multitask": HEAVY - {"lightgbm"},
    "tag": {"torch"},
    "predict": {"torch"},
    "embed": {"torch"},
    "train_lgbm": {"lightgbm"},
}
PROBE = """
import sys
import abgd.{step}
{control}
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}} & {heavy!r})) or "-")
"""


def workflow_steps() -> list[str]:
    found: set[str] = set()
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        found.update(re.findall(r"-m abgd\.(\w+)", path.read_text()))
    return sorted(found)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (SOURCE, os.environ.get("PYTHONPATH")) if p)}


def _start(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


def test_every_step_imports_only_the_heavy_libraries_it_needs():
    steps = workflow_steps()
    assert {"convert", "evaluate", "figures", "merge_scores", "threshold"} <= set(steps)
    procs = {step: _start(PROBE.format(step=step, control="", heavy=set(HEAVY))) for step in steps}
    unexpected = {}
    for step, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"import abgd.{step} failed:\n{err}"
        loaded = set(out.split()) - {"-"}
        extra = loaded - set(ALLOWED.get(step, ()))
        if extra:
            unexpected[step] = sorted(extra)
    assert unexpected == {}, f"steps import libraries they do not need at start: {unexpected}"


@pytest.mark.parametrize(("step", "control", "package"), [
    ("merge_scores", "import lightgbm", "lightgbm"),
    ("figures", "abgd.figures._pyplot()", "matplotlib"),
])
def test_the_probe_sees_a_library_once_it_is_loaded(step, control, package):
    code = PROBE.format(step=step, control=control, heavy=set(HEAVY))
    out, err = _start(code).communicate(timeout=300)
    assert package in out.split(), err
