"""A fingerprint of the code a step runs, so that editing it reruns the step's jobs.

Snakemake reruns a job when its `shell:` text changes, but every rule's text is
`python -m abgd.<step> ...`: the step's code is not in it. The workflow therefore passes each
rule, as a `params:` value, the hash of its step module (every file of it, for a package step
such as `abgd.demo`) and of every `abgd` module that module imports, directly or not (found by
reading the `import` statements, also those inside functions, with `ast`; nothing is imported).

What counts is the code as Python sees it: each module is parsed and its `ast.dump` hashed, with
docstrings removed. Editing comments, blank lines, formatting or docstrings changes nothing;
editing a statement, a constant or an argument default changes the hash of every step that
imports the module. Modules that read the package's data files (`importlib.resources`) also
hash `abgd/data/`. Only the standard library is used, so the Snakefile can import this module
before any dependency is known to be installed.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "abgd"


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    """Drop the docstring of the module and of every class and function (they do not run)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
    return tree


def module_path(src: Path, module: str) -> Path | None:
    """The file of an `abgd` module under `src`, or None when there is none (not ours)."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    base = src.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(module: str) -> list[str]:
    """`abgd.x.y` imports `abgd` and `abgd.x` first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(tree: ast.AST, module: str, is_package: bool = False) -> set[str]:
    """Every module named by an import statement of `tree` (absolute names; relative resolved)."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            # `from abgd import io` names a module, `from abgd.io import md5_file` does not.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def package_modules(src: Path, module: str) -> list[str]:
    """Every module of package `module` (its `__init__`, `__main__` and submodules, at any
    depth); none when `module` is a plain module."""
    path = module_path(src, module)
    if path is None or path.name != "__init__.py":
        return []
    found = []
    for file in sorted(path.parent.rglob("*.py")):
        parts = file.relative_to(path.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append(".".join([module, *parts]))
    return found


def closure(src: Path, module: str) -> list[str]:
    """`module` and every `abgd` module it imports, transitively, sorted.

    A package run with `python -m` runs its `__main__`, which its `__init__` need not import:
    for a package, every file of it counts (and what those import).
    """
    src = Path(src)
    seen: set[str] = set()
    todo = [module, *package_modules(src, module)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_path(src, name)
        if path is None:
            continue
        seen.add(name)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found = imported_modules(tree, name, path.name == "__init__.py")
        for imported in found:
            todo.extend([*_parents(imported), imported])
        todo.extend(_parents(name))
    return sorted(seen)


def code_hash(src: Path | str, module: str) -> str:
    """Hash of the code `python -m <module>` runs from the package under `src`."""
    src = Path(src)
    if module_path(src, module) is None:
        raise ValueError(f"{module}: no such module under {src}")
    digest = hashlib.sha256()
    reads_data = False
    for name in closure(src, module):
        path = module_path(src, name)
        assert path is not None
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        digest.update(f"{name}\0".encode())
        digest.update(ast.dump(_strip_docstrings(tree)).encode())
        reads_data = reads_data or _uses_resources(tree)
    if reads_data:
        data = src / PACKAGE / "data"
        for path in sorted(p for p in data.rglob("*") if p.is_file()):
            digest.update(f"{path.relative_to(src).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _uses_resources(tree: ast.AST) -> bool:
    """Whether a module imports `importlib.resources` (then it may read `abgd/data/`)."""
    return "importlib.resources" in imported_modules(tree, "")
