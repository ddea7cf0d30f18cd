"""No code path turns downloaded or configured bytes into code.

Grep tests over ``src/`` and the workflow files: YAML only through ``safe_load``; no ``pickle``,
``marshal``, ``shelve``, ``eval`` or ``exec``; ``torch.load`` only with ``weights_only=True``.
Checkpoints are read by ``abgd.inference.load_network`` (``torch.load`` with
``weights_only=True``) or Lightning's ``load_from_checkpoint`` (``abgd.training.load_model``,
which passes ``weights_only=True`` too): the behavioural test below proves a checkpoint
carrying a pickled callable is refused by both.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch

from abgd.inference import load_network
from abgd.training import load_model
from conftest import ROOT

SOURCES = sorted((ROOT / "src" / "abgd").rglob("*.py"))
WORKFLOW = sorted([ROOT / "Snakefile", *(ROOT / "workflow").rglob("*.smk")])


def code_lines(paths: list[Path]) -> list[tuple[str, int, str]]:
    """(file, line number, text without comments) for every line of ``paths``."""
    lines = []
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = line.split("#", 1)[0]
            if text.strip():
                lines.append((str(path.relative_to(ROOT)), number, text))
    return lines


def offending(pattern: str, paths: list[Path]) -> list[str]:
    regex = re.compile(pattern)
    return [f"{f}:{n}: {t.strip()}" for f, n, t in code_lines(paths) if regex.search(t)]


def test_the_grep_sees_the_code():
    assert len(SOURCES) > 20 and len(WORKFLOW) >= 5
    assert offending(r"\batomic_path\b", SOURCES)  # a known pattern is found


def test_yaml_is_only_safe_loaded():
    assert offending(r"yaml\.(load|unsafe_load|full_load|load_all|unsafe_load_all)\s*\(",
                     SOURCES + WORKFLOW) == []
    assert offending(r"\b(Unsafe|Full)?Loader\b", SOURCES + WORKFLOW) == []


def test_no_pickle_marshal_eval_or_exec():
    assert offending(r"^\s*(import|from)\s+(pickle|cPickle|dill|marshal|shelve|joblib)\b",
                     SOURCES + WORKFLOW) == []
    assert offending(r"(?<![.\w])(eval|exec)\s*\(", SOURCES + WORKFLOW) == []
    assert offending(r"\b(np|numpy)\.load\s*\([^)]*allow_pickle\s*=\s*True", SOURCES) == []
    assert offending(r"\bpd\.read_pickle\b|\.read_pickle\s*\(", SOURCES) == []


def test_torch_load_only_with_weights_only():
    calls = offending(r"\btorch\.load\s*\(", SOURCES)
    unsafe = [c for c in calls if "weights_only=True" not in c]
    assert unsafe == []


class _Payload:
    """Unpickling this would create a directory: proof that code ran."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.mkdir, (self.target,))


def test_a_checkpoint_that_carries_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    sentinel = tmp_path / "code-ran"
    (tmp_path / "model").mkdir()
    torch.save({"state_dict": {}, "hyper_parameters": {"x": _Payload(str(sentinel))}},
               tmp_path / "model" / "model.ckpt")
    with pytest.raises(ValueError, match="Weights only load failed") as error:
        load_network(tmp_path / "model")
    assert "model.ckpt" in str(error.value)
    assert isinstance(error.value.__cause__, pickle.UnpicklingError)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_model(tmp_path / "model")
    assert not sentinel.exists()
