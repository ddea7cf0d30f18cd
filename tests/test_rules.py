"""What every rule's shell command promises: the project's interpreter, honest threads, code hash.

The rules are read as text (the directives snakefmt writes), so these checks cost no Snakemake
start-up; test_workflow.py runs the same rules for real.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
RULE_FILES = sorted((ROOT / "workflow" / "rules").glob("*.smk"))
# Flags through which a step uses more than one CPU.
THREAD_FLAGS = ("--threads", "--workers")


def _rules() -> dict[str, str]:
    """Rule name -> its block of text, with a shell held in a variable substituted."""
    rules: dict[str, str] = {}
    for path in RULE_FILES:
        text = path.read_text()
        constants = dict(re.findall(r'(?ms)^([A-Z_]+) = \((.*?)^\)', text))
        for name, body in re.findall(r"(?ms)^rule (\w+):\n(.*?)(?=^\S|\Z)", text):
            shell = re.search(r"(?ms)^    shell:\n(.*)", body)
            assert shell, f"{path.name}: rule {name} has no shell:"
            held = shell.group(1).strip()
            rules[name] = body.replace(held, constants[held]) if held in constants else body
    return rules


RULES = _rules()


def _shell(body: str) -> str:
    shell = body.split("    shell:\n", 1)[1]
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', shell))


def _step(body: str) -> str:
    match = re.search(r"-m abgd\.(\w+)", _shell(body))
    assert match, body
    return match.group(1)


def _added_flags(node: ast.AST) -> set[str]:
    """The `--x` of every `parser.add_argument("--x", ...)` call inside `node`."""
    return {
        arg.value
        for call in ast.walk(node)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
        and call.func.attr == "add_argument"
        for arg in call.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
        and arg.value.startswith("--")
    }


def _flags(step: str) -> set[str]:
    """The step's options, read from its code (and from parser helpers it imports), not run;
    a package step (``abgd.demo``) from every file of it."""
    package = SRC / "abgd" / step
    files = sorted(package.glob("*.py")) if package.is_dir() else [SRC / "abgd" / f"{step}.py"]
    flags: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text())
        flags |= _added_flags(tree) | _helper_flags(tree)
    return flags


def _helper_flags(tree: ast.AST, depth: int = 3) -> set[str]:
    """Flags added by the abgd functions ``tree`` imports, and by the helpers those import."""
    flags: set[str] = set()
    for node in ast.walk(tree):
        if depth and isinstance(node, ast.ImportFrom) and (node.module or "").startswith("abgd."):
            module = ast.parse((SRC / Path(*node.module.split("."))).with_suffix(".py").read_text())
            names = {alias.name for alias in node.names}
            local = {f.name: f for f in module.body if isinstance(f, ast.FunctionDef)}
            for name in names & set(local):
                flags |= _local_flags(local[name], local) | _helper_flags(module, depth - 1)
    return flags


def _local_flags(function: ast.FunctionDef, local: dict[str, ast.FunctionDef],
                 seen: frozenset[str] = frozenset()) -> set[str]:
    """Flags ``function`` adds itself or through the functions of its own module it calls."""
    flags = _added_flags(function)
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            callee = node.func.id
            if callee in local and callee not in seen | {function.name}:
                flags |= _local_flags(local[callee], local, seen | {function.name})
    return flags


def test_the_rules_were_found() -> None:
    assert {"convert", "train_single", "embed", "predict", "archive"} <= set(RULES)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_steps_run_with_the_workflow_interpreter(rule: str) -> None:
    """No bare `python`: which one that is depends on the caller's PATH (docs/environments.md)."""
    shell = _shell(RULES[rule])
    assert re.search(r"(^|[\s;])\$ABGD_PYTHON -m abgd\.\w+", shell), shell
    assert not re.search(r"(^|[\s;=])python3?\s", shell), shell


@pytest.mark.parametrize("rule", sorted(RULES))
def test_a_step_that_can_use_threads_gets_the_rules_threads(rule: str) -> None:
    body = RULES[rule]
    step = _step(body)
    shell = _shell(body)
    accepted = [flag for flag in THREAD_FLAGS if flag in _flags(step)]
    for flag in accepted:
        assert f"{flag} {{threads}}" in shell, f"rule {rule}: abgd.{step} takes {flag}"
    if not accepted:
        threads = re.search(r"^    threads: (\S+)", body, flags=re.M)
        assert threads is None or threads.group(1) == "1", (
            f"rule {rule} reserves threads that abgd.{step} cannot use")


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_carries_the_hash_of_the_code_it_runs(rule: str) -> None:
    body = RULES[rule]
    assert f'code=step_code("{_step(body)}")' in body, f"rule {rule}"


def test_gpu_is_asked_for_only_by_steps_that_use_it() -> None:
    """A job that reserves a GPU must be able to run on it (`--accelerator`, default auto)."""
    for rule, body in RULES.items():
        if "gpu=GPU" in body:
            assert "--accelerator" in _flags(_step(body)), rule
