"""A step module never imports another step module, directly or through a library module.

A step is a module some rule runs as ``python -m abgd.<step>`` (found in workflow/rules/*.smk).
Shared formats and helpers belong in library modules, so that changing one step's command line
or ``main`` cannot change another step, and each step's code hash (``abgd.codehash``) covers only
what it runs. The check reads the sources with ``ast``, imports inside functions included, so
it also catches the lazy imports that keep start-up cheap.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import abgd

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(abgd.__file__).resolve().parent
#: Dispatches to the steps by name with importlib: the one module allowed to know them all.
DISPATCHER = "cli"


def workflow_steps() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "workflow" / "rules").glob("*.smk"):
        found.update(re.findall(r"-m abgd\.(\w+)", path.read_text()))
    return found


def abgd_imports(source: str) -> set[str]:
    """Top-level abgd module names a module's source imports, anywhere in the file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from . import x / from .x import y
                base = node.module or ""
                names.update(f"abgd.{base}" if base else f"abgd.{a.name}" for a in node.names)
            elif node.module == "abgd":
                names.update(f"abgd.{alias.name}" for alias in node.names)
            elif node.module:
                names.add(node.module)
    return {name.split(".")[1] for name in names
            if name.startswith("abgd.") and len(name.split(".")) > 1}


def step_imports(steps: set[str]) -> dict[str, list[str]]:
    """Module → the step modules it imports that are not itself (a package's files count as
    the package: ``abgd.demo.world`` may import ``abgd.demo.documents``)."""
    found: dict[str, list[str]] = {}
    for path in sorted([*PACKAGE.glob("*.py"), *PACKAGE.glob("*/*.py")]):
        owner = path.stem if path.parent == PACKAGE else path.parent.name
        if owner == DISPATCHER:
            continue
        bad = sorted((abgd_imports(path.read_text()) & steps) - {owner})
        if bad:
            found[str(path.relative_to(PACKAGE))] = bad
    return found


def test_the_workflow_runs_the_steps_this_test_expects():
    steps = workflow_steps()
    assert {"train_single", "train_fusion", "split", "decode", "threshold", "evaluate"} <= steps
    assert all((PACKAGE / f"{step}.py").exists() or (PACKAGE / step / "__main__.py").exists()
               for step in steps)


def test_the_console_script_offers_every_step():
    from abgd.cli import STEPS, TOOLS

    assert workflow_steps() - set(STEPS) - set(TOOLS) == set()


def test_no_module_imports_a_step_module():
    """Library modules may not import steps either: a step importing them would import the step."""
    assert step_imports(workflow_steps()) == {}


@pytest.mark.parametrize("source", [
    "from abgd.split import read_split_tsv",
    "import abgd.split",
    "from abgd import labels, split",
    "def f():\n    from abgd.split import PARTS\n    return PARTS",
    "from .split import PARTS",
    "from . import split",
])
def test_the_scanner_sees_every_form_of_import(source):
    assert "split" in abgd_imports(source)


def test_the_scanner_ignores_other_packages():
    assert abgd_imports("import splitter\nfrom os import path\nimport abgdx") == set()
