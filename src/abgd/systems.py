"""The grammar of system names, shared by the workflow (``common.smk``) and ``abgd.summarize``.

A reported system is named ``<base>[-global][-consistent][-seed<N>]``:

* ``base``: a trained system (``single``, ``fusion``, ``lgbm_single``, ``lgbm_fusion``,
  ``multitask`` or a plug-in's name from ``custom_systems:``) or a baseline (``random``,
  ``popularity``);
* ``-global``: one global threshold instead of per-label thresholds (the paper's decoding);
* ``-consistent``: hierarchy-consistent decoding (no subgenre without its parent);
* ``-seed<N>``: every seed after the first of ``seeds:``; the first seed keeps the plain name.

A trained run (models, scores, thresholds) is named ``<base>[-seed<N>]``. Plug-in names may not
contain hyphens (they separate the variant tokens) and may not shadow a built-in name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

BASELINES = ("random", "popularity")
BUILTIN_TRAINED = ("single", "fusion", "lgbm_single", "lgbm_fusion", "multitask")
RESERVED = (*BASELINES, *BUILTIN_TRAINED, "union", "all")
VARIANT_TOKENS = ("per_label", "global", "consistent")
PLUGIN_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def check_plugin_name(name: str) -> str:
    """A plug-in's name, or a ValueError saying why it cannot name a system."""
    if not PLUGIN_NAME_RE.match(name):
        raise ValueError(f"custom system {name!r}: a name is lower-case letters, digits and "
                         "underscores, starting with a letter (hyphens separate variants)")
    if name in RESERVED:
        raise ValueError(f"custom system {name!r}: the name is taken by a built-in system")
    return name


def alternation(names: Iterable[str]) -> str:
    """``a|b`` for a regular expression; a pattern matching nothing when there are no names."""
    names = list(names)
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


def system_regex(bases: Iterable[str]) -> re.Pattern[str]:
    return re.compile(rf"^(?P<base>{alternation(bases)})"
                      r"(?P<glob>-global)?(?P<consistent>-consistent)?(?:-seed(?P<seed>\d+))?$")


def seed_suffix(seed: int | str, seeds: Sequence[int]) -> str:
    return "" if int(seed) == int(seeds[0]) else f"-seed{seed}"


def parse_system(name: str, bases: Iterable[str], seeds: Sequence[int]) -> dict[str, Any]:
    """Base, decoding, hierarchy, seed, trained-run name and reported name of ``name``."""
    match = system_regex(bases).match(name)
    if match is None:
        raise ValueError(f"not a system name: {name}")
    seed = int(match.group("seed")) if match.group("seed") else int(seeds[0])
    return {
        "base": match.group("base"),
        "decoding": "global" if match.group("glob") else "per_label",
        "hierarchy": "consistent" if match.group("consistent") else "none",
        "seed": seed,
        "trained": f"{match.group('base')}{seed_suffix(seed, seeds)}",
        "reported": name.split("-seed")[0],
    }


def reported_systems(trained: Sequence[str], seeds: Sequence[int], decodings: Sequence[str],
                     hierarchies: Sequence[str]) -> list[str]:
    """Every system a study evaluates: baselines, then each trained base × decoding × hierarchy,
    once per seed (popularity is deterministic and runs once)."""
    systems = []
    for seed in seeds:
        suffix = seed_suffix(seed, seeds)
        systems.append(f"random{suffix}")
        if not suffix:
            systems.append("popularity")
        for base in trained:
            for decoding in decodings:
                for hierarchy in hierarchies:
                    glob = "-global" if decoding == "global" else ""
                    consistent = "-consistent" if hierarchy == "consistent" else ""
                    systems.append(f"{base}{glob}{consistent}{suffix}")
    return systems


def split_system(name: str) -> tuple[str, tuple[str, ...]]:
    """``(family, variant tokens)``: ``single-global-consistent`` → ``single``, (global, ...)."""
    parts = name.split("-")
    tokens: list[str] = []
    while len(parts) > 1 and parts[-1] in VARIANT_TOKENS:
        tokens.insert(0, parts.pop())
    return "-".join(parts), tuple(tokens)
