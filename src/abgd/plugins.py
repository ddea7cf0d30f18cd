"""Plug-in systems: loading a user's module, fingerprinting its source, checking what it returns.

A plug-in is a Python module (an installed import path such as ``mypkg.mysystem``, or a ``.py``
file) with two functions; the contract is in ``docs/plugins.md``::

    train(x_fit, y_fit, x_holdout, y_holdout, labels, params, seed, model_dir) -> dict | None
    predict(x, labels, params, model_dir) -> array of shape (len(x), len(labels))

The workflow calls them through ``abgd.custom``; everything here is plain Python so that the
Snakefile can fingerprint a plug-in at parse time without importing it (a plug-in that fails
to import must fail its own job with a clear message, not the whole DAG).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REQUIRED = ("train", "predict")


class PluginError(RuntimeError):
    """A plug-in misbehaved; the message names the plug-in and the problem."""


def is_file_spec(spec: str) -> bool:
    return spec.endswith(".py") or os.sep in spec or "/" in spec


def resolve(spec: str, search_dirs: Sequence[str | os.PathLike[str]] = ()) -> str:
    """An absolute file path for a file spec (first hit in the working directory, then in
    ``search_dirs``), or the import path unchanged."""
    if not is_file_spec(spec):
        return spec
    path = Path(spec)
    if path.is_absolute():
        return str(path)
    for base in (Path.cwd(), *map(Path, search_dirs)):
        if (base / path).exists():
            return str((base / path).resolve())
    return str(path.resolve())


def source_file(spec: str) -> Path | None:
    """The file holding the plug-in's code, found without running it (None if not found)."""
    if is_file_spec(spec):
        return Path(spec) if Path(spec).is_file() else None
    try:
        found = importlib.util.find_spec(spec)
    except (ImportError, ValueError):
        return None
    if found is None or not found.origin or not Path(found.origin).is_file():
        return None
    return Path(found.origin)


def source_hash(spec: str) -> str:
    """SHA-256 of the plug-in's source file, so that editing it reruns its jobs; ``missing``
    when it cannot be found (the job then fails with the import error)."""
    path = source_file(spec)
    if path is None:
        return "missing"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(name: str, spec: str) -> ModuleType:
    """Import the plug-in and check it has ``train`` and ``predict``."""
    try:
        if is_file_spec(spec):
            path = Path(spec)
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            module_name = f"abgd_plugin_{name}"
            loader_spec = importlib.util.spec_from_file_location(module_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise ImportError(f"{path} is not a Python module")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[module_name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
    except Exception as error:
        raise PluginError(f"custom system {name!r}: cannot import {spec!r}: "
                          f"{type(error).__name__}: {error}") from error
    missing = [f for f in REQUIRED if not callable(getattr(module, f, None))]
    if missing:
        raise PluginError(f"custom system {name!r}: module {spec!r} has no function "
                          f"{' or '.join(missing)}")
    return module


def check_scores(name: str, scores: Any, n_rows: int, labels: Sequence[str]) -> np.ndarray:
    """The plug-in's scores as float32, or a PluginError saying what is wrong with them."""
    try:
        array = np.asarray(scores, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise PluginError(f"custom system {name!r}: predict() returned something that is not "
                          f"a numeric array: {error}") from error
    expected = (n_rows, len(labels))
    if array.shape != expected:
        raise PluginError(f"custom system {name!r}: predict() returned shape {array.shape}, "
                          f"expected {expected} (recordings × labels)")
    bad = ~np.isfinite(array)
    if bad.any():
        rows, cols = np.nonzero(bad)
        raise PluginError(f"custom system {name!r}: predict() returned {int(bad.sum())} NaN or "
                          f"infinite scores, first at row {int(rows[0])}, label "
                          f"{labels[int(cols[0])]!r}")
    if array.size and (array.min() < 0.0 or array.max() > 1.0):
        raise PluginError(f"custom system {name!r}: predict() returned scores outside [0, 1] "
                          f"(min {float(array.min()):g}, max {float(array.max()):g})")
    return array
