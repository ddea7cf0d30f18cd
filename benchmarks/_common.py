"""Helpers the benchmarks share: real-shaped documents made from the real low-level JSONs.

Imported by the benchmark scripts as ``_common`` (a script's own folder is on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

#: The real AcousticBrainz low-level documents kept beside the checkout (never committed).
REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "lowlevel_json"


def perturb(node: Any, rng: np.random.Generator) -> Any:
    """Scale every number by (1 + 5 % noise), kept to the 12 significant digits Essentia writes.

    ``metadata`` is left alone (no feature comes from it); the layout never changes, so a
    perturbed document takes the same code paths as the real one it came from.
    """
    if isinstance(node, dict):
        return {k: v if k == "metadata" else perturb(v, rng) for k, v in node.items()}
    if isinstance(node, list):
        return [perturb(v, rng) for v in node]
    if isinstance(node, float):
        return float(f"{node * (1.0 + 0.05 * rng.standard_normal()):.12g}")
    return node


def real_documents(n_distinct: int, seed: int, real: Path = REAL,
                   dumps: Callable[[Any], bytes] = orjson.dumps) -> list[bytes]:
    """``n_distinct`` perturbed copies of the real documents (cycled), serialised by ``dumps``.

    Empty when ``real`` holds no ``*.json``: the caller decides what to do without them.
    """
    bases = [orjson.loads(p.read_bytes()) for p in sorted(real.glob("*.json"))]
    if not bases:
        return []
    rng = np.random.default_rng(seed)
    return [dumps(perturb(bases[i % len(bases)], rng)) for i in range(n_distinct)]
