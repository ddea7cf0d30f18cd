"""The paper's 2669 input features: their names, their order, and a fast JSON → float32 flattening.

Why this order: the authors flattened every JSON with an Essentia ``json_to_csv``-style script
whose header is the *lexicographically sorted* list of dotted leaf names (list items named by
index, so ``…mean.10`` sorts before ``…mean.2``), then replaced each of the four key/scale string
columns *in place* by a one-hot block (dataset spec §4.2). Column order does not matter to an MLP,
but it must be identical for every split, model and reader, so it is frozen in a versioned package
file, ``data/feature_names-v1.txt``, which :func:`derive_feature_names` generated once from a real
document::

    python -m abgd.features --derive-from DOC.json --out src/abgd/data/feature_names-v1.txt

What is excluded (spec §4.3): all of ``metadata`` (label leakage, absent in the test set),
``rhythm.beats_position`` (variable length) and ``rhythm.beats_loudness_band_ratio.median.*``
(the Essentia 2.1-beta extractor omits it for tracks with one beat or none; dropping these 6 is
what makes the count 2669). ``rhythm.beats_loudness.median`` is kept; when a track has no beat
the extractor omits it too, and it is imputed with ``rhythm.beats_loudness.mean`` of the same
document (in that case the extractor wrote every other stat as 0, so the mean is 0 as well).
Descriptors that are not in the names file (e.g. the ``stdev`` statistic of newer Essentia
builds) are ignored by design.

Speed: parsing ~70 kB documents dominates conversion. The fast path uses orjson and a plan
compiled from ``FEATURE_NAMES`` (section → descriptor → statistics, with the expected shapes),
extends one Python list in the JSON's nesting order, packs it with one precompiled ``struct``
(which, unlike ``np.array``, refuses strings, and is 3× faster) and scatters it into the sorted
order with one precomputed index array. Anything unusual (a missing key, a wrong type or length,
a non-finite number) falls back to a slow, fully checked walk that either imputes or raises a
:class:`FeatureError` naming the descriptor.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import struct
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from abgd.io import atomic_open

log = logging.getLogger("abgd.features")

FEATURE_SCHEMA_VERSION = 1
N_FEATURES = 2669
NAMES_RESOURCE = f"feature_names-v{FEATURE_SCHEMA_VERSION}.txt"

#: Essentia's ``Key`` algorithm writes sharps only (spec §3.4); this is also the one-hot order.
KEYS: tuple[str, ...] = ("A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#")
SCALES: tuple[str, ...] = ("major", "minor")
CATEGORICAL: dict[str, tuple[str, ...]] = {
    "tonal.chords_key": KEYS,
    "tonal.chords_scale": SCALES,
    "tonal.key_key": KEYS,
    "tonal.key_scale": SCALES,
}
#: ``--ignore`` patterns in json_to_csv's wildcard syntax, applied to dotted leaf names.
EXCLUDED_PATTERNS: tuple[str, ...] = (
    "metadata.*",
    "rhythm.beats_position.*",
    "rhythm.beats_loudness_band_ratio.median.*",
)
#: (missing path, path whose value replaces it): the only descriptor that is imputed.
IMPUTATIONS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("rhythm", "beats_loudness", "median"): ("rhythm", "beats_loudness", "mean"),
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)


# ----------------------------------------------------------------------------- errors


class FeatureError(ValueError):
    """A document that cannot give the 2669 features; ``reason`` is one line for the errors file."""

    kind = "invalid document"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        self.reason = f"{self.kind}: {detail}"
        super().__init__(self.reason)


class InvalidJSON(FeatureError):
    kind = "invalid JSON"


class TruncatedJSON(InvalidJSON):
    kind = "truncated member"


class MissingDescriptor(FeatureError):
    kind = "missing descriptor"


class WrongLength(FeatureError):
    kind = "wrong length"


class WrongType(FeatureError):
    kind = "wrong type"


class NonFiniteValue(FeatureError):
    kind = "non-finite value"


class UnknownCategory(FeatureError):
    kind = "unknown category"


# ----------------------------------------------------------------------------- names


def _leaves(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Yield (dotted name, value) like json_to_csv: dicts by key, lists by index (empty: none)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves(value, f"{prefix}.{index}")
    else:
        yield prefix, node


def _excluded(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in EXCLUDED_PATTERNS)


def derive_feature_names(document: Mapping[str, Any]) -> list[str]:
    """Rebuild the authors' column list from one complete document (how the names file was made).

    The document must have the full layout (a track with at least two beats); the result is checked
    to hold exactly ``N_FEATURES`` names.
    """
    flat = dict(_leaves(dict(document), ""))
    names: list[str] = []
    for name in sorted(n for n in flat if not _excluded(n)):
        if name in CATEGORICAL:
            names.extend(f"{name}_{value}" for value in CATEGORICAL[name])
            continue
        value = flat[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise WrongType(f"{name} is {type(value).__name__}, expected a number")
        names.append(name)
    if len(names) != N_FEATURES:
        raise WrongLength(f"document gives {len(names)} feature names, expected {N_FEATURES}")
    return names


def write_feature_names(document_path: str | Path, out_path: str | Path) -> list[str]:
    """Generate the versioned names file from a real document (run once, by hand)."""
    with open(document_path, "rb") as handle:
        names = derive_feature_names(orjson.loads(handle.read()))
    with atomic_open(out_path) as handle:
        handle.write(
            f"# abgd feature names, schema version {FEATURE_SCHEMA_VERSION}: {len(names)} float32 "
            "columns in this order.\n# Generated by abgd.features.derive_feature_names from "
            f"{Path(document_path).name}; do not edit by hand.\n"
        )
        handle.writelines(f"{name}\n" for name in names)
    return names


def read_feature_names(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip() and line[0] != "#")


def _load_feature_names() -> tuple[str, ...]:
    text = resources.files("abgd").joinpath("data", NAMES_RESOURCE).read_text(encoding="utf-8")
    names = read_feature_names(text)
    if len(names) != N_FEATURES or len(set(names)) != N_FEATURES:
        raise RuntimeError(f"package file {NAMES_RESOURCE} is corrupt: {len(names)} names")
    return names


FEATURE_NAMES: tuple[str, ...] = _load_feature_names()


# ----------------------------------------------------------------------------- compiled plan

# A leaf is (statistic key or None for a bare descriptor, ndim, rows, cols).
_Leaf = tuple[str | None, int, int, int]


def _compile(names: Sequence[str]) -> tuple[
    list[tuple[str, list[tuple[str, list[_Leaf]]]]], np.ndarray, list[str], dict[str, int]
]:
    """Turn the names into a nested read plan, the scatter index and the one-hot block starts.

    Returns (plan, dest, natural_names, onehot_start): ``dest[i]`` is the output column of the i-th
    value read in plan order; ``natural_names[i]`` is its name (for error messages).
    """
    onehot_names = {f"{field}_{v}": field for field, values in CATEGORICAL.items() for v in values}
    groups: dict[tuple[str, ...], dict[tuple[int, ...], int]] = {}
    onehot_start: dict[str, int] = {}
    for column, name in enumerate(names):
        if name in onehot_names:
            onehot_start.setdefault(onehot_names[name], column)
            continue
        parts = name.split(".")
        split = next((i for i, p in enumerate(parts) if p.isdigit()), len(parts))
        if not all(p.isdigit() for p in parts[split:]) or not 2 <= split <= 3:
            raise RuntimeError(f"feature name {name!r} does not fit the descriptor schema")
        index = tuple(int(p) for p in parts[split:])
        groups.setdefault(tuple(parts[:split]), {})[index] = column

    sections: dict[str, dict[str, list[_Leaf]]] = {}
    leaf_columns: dict[tuple[str, str, str | None], list[int]] = {}
    for key, cells in groups.items():
        ndim = len(next(iter(cells)))
        if any(len(index) != ndim for index in cells) or ndim > 2:
            raise RuntimeError(f"inconsistent indices under {'.'.join(key)}")
        shape = tuple(max(index[d] for index in cells) + 1 for d in range(ndim))
        cols = [cells[index] for index in np.ndindex(*shape)] if ndim else [cells[()]]
        if len(cols) != len(cells):
            raise RuntimeError(f"missing indices under {'.'.join(key)}")
        stat = key[2] if len(key) == 3 else None
        rows, width = (*shape, 0, 0)[:2]
        sections.setdefault(key[0], {}).setdefault(key[1], []).append((stat, ndim, rows, width))
        leaf_columns[(key[0], key[1], stat)] = cols

    plan = [(s, list(descs.items())) for s, descs in sections.items()]
    dest: list[int] = []
    natural: list[str] = []
    for section, descs in plan:
        for descriptor, leaves in descs:
            for stat, *_ in leaves:
                cols = leaf_columns[(section, descriptor, stat)]
                dest.extend(cols)
                natural.extend(names[c] for c in cols)
    if set(onehot_start) != set(CATEGORICAL):
        raise RuntimeError("feature names lack a one-hot block")
    return plan, np.asarray(dest, dtype=np.intp), natural, onehot_start


_PLAN, _DEST, _NATURAL_NAMES, _ONEHOT_START = _compile(FEATURE_NAMES)
N_NUMERIC = len(_DEST)
_PACK = struct.Struct(f"<{N_NUMERIC}d")
_ONEHOT = tuple(
    (field.split(".")[1], field, {v: _ONEHOT_START[field] + i for i, v in enumerate(values)},
     _ONEHOT_START[field], len(values))
    for field, values in CATEGORICAL.items()
)

# Descriptor kinds of the fast plan: one Python-level step per descriptor where the layout allows.
_SCALAR, _VECTOR, _SCALARS, _VECTORS, _MIXED = range(5)


def _fast_op(name: str, leaves: list[_Leaf]) -> tuple[int, str, Any, int, int]:
    stats = [leaf[0] for leaf in leaves]
    dims = {leaf[1:] for leaf in leaves}
    if stats == [None]:
        ndim, rows, width = leaves[0][1:]
        if ndim < 2:
            return (_VECTOR if ndim else _SCALAR), name, None, rows, width
    elif len(stats) > 1 and len(dims) == 1:
        ndim, rows, width = next(iter(dims))
        if ndim < 2:
            return (_VECTORS if ndim else _SCALARS), name, itemgetter(*stats), rows, width
    return _MIXED, name, leaves, 0, 0


_FAST_PLAN = [(section, [_fast_op(*d) for d in descriptors]) for section, descriptors in _PLAN]


class _Irregular(Exception):
    """Internal: the fast path met something it does not check; take the slow path."""


def _fast_values(doc: Any) -> list[Any]:
    """Read the values in plan order with only the checks needed to keep them aligned.

    Types are not checked here: a string, list or ``None`` where a number belongs makes the
    ``struct`` packing fail, which sends the document to the slow path.
    """
    values: list[Any] = []
    append = values.append
    extend = values.extend
    for section_name, descriptors in _FAST_PLAN:
        section = doc[section_name]
        for kind, name, getter, rows, width in descriptors:
            descriptor = section[name]
            if kind == _SCALARS:
                extend(getter(descriptor))
            elif kind == _VECTORS:
                for value in getter(descriptor):
                    if len(value) != rows:
                        raise _Irregular
                    extend(value)
            elif kind == _SCALAR:
                append(descriptor)
            elif kind == _VECTOR:
                if len(descriptor) != rows:
                    raise _Irregular
                extend(descriptor)
            else:
                for stat, ndim, rows, width in getter:
                    value = descriptor if stat is None else descriptor[stat]
                    if ndim == 0:
                        append(value)
                        continue
                    if len(value) != rows:
                        raise _Irregular
                    if ndim == 1:
                        extend(value)
                        continue
                    for row in value:
                        if len(row) != width:
                            raise _Irregular
                        extend(row)
    return values


def _number(value: Any, name: str) -> float:
    # JSON true/false is read as 1/0 here as in the fast path: telling a bool from an int there
    # would cost a type check per value, and no extractor writes booleans into descriptors.
    if not isinstance(value, int | float):
        raise WrongType(f"{name} is {type(value).__name__}, expected a number")
    try:
        return float(value)
    except OverflowError:
        raise NonFiniteValue(f"{name} = {value} is out of range") from None


def _numbers(value: Any, length: int, name: str) -> list[float]:
    if not isinstance(value, list):
        raise WrongType(f"{name} is {type(value).__name__}, expected a list of {length}")
    if len(value) != length:
        raise WrongLength(f"{name} has {len(value)} values, expected {length}")
    return [_number(v, f"{name}.{i}") for i, v in enumerate(value)]


def _child(node: Any, key: str, path: tuple[str, ...]) -> Any:
    if not isinstance(node, dict):
        raise WrongType(f"{'.'.join(path)} is {type(node).__name__}, expected an object")
    if key not in node:
        raise MissingDescriptor(".".join((*path, key)))
    return node[key]


def _lacks(node: Any, key: str) -> bool:
    return isinstance(node, dict) and key not in node


def _checked_values(doc: Any) -> tuple[list[float], bool]:
    """The slow path: every step checked, the one known omission imputed."""
    values: list[float] = []
    imputed = False
    for section_name, descriptors in _PLAN:
        section = _child(doc, section_name, ())
        for descriptor_name, leaves in descriptors:
            descriptor = _child(section, descriptor_name, (section_name,))
            for stat, ndim, rows, width in leaves:
                path = (section_name, descriptor_name) + ((stat,) if stat else ())
                name = ".".join(path)
                if stat is None:
                    value = descriptor
                elif path in IMPUTATIONS and _lacks(descriptor, stat):
                    source = IMPUTATIONS[path]
                    value = _child(descriptor, source[-1], source[:-1])
                    imputed = True
                else:
                    value = _child(descriptor, stat, path[:-1])
                if ndim == 0:
                    values.append(_number(value, name))
                elif ndim == 1:
                    values.extend(_numbers(value, rows, name))
                else:
                    if not isinstance(value, list) or len(value) != rows:
                        got = len(value) if isinstance(value, list) else type(value).__name__
                        raise WrongLength(f"{name} has {got} rows, expected {rows}")
                    for r, row in enumerate(value):
                        values.extend(_numbers(row, width, f"{name}.{r}"))
    return values, imputed


def _check_finite(values: np.ndarray) -> None:
    # max and min propagate NaN: two reductions clear a good document (the usual case)
    if values.max() <= _FLOAT32_MAX and values.min() >= -_FLOAT32_MAX:
        return
    bad = ~np.isfinite(values) | (np.abs(values) > _FLOAT32_MAX)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        value = float(values[i])  # a Python float: numpy 2 would print np.float64(nan)
        what = "out of float32 range" if math.isfinite(value) else ""
        raise NonFiniteValue(f"{_NATURAL_NAMES[i]} = {value!r} {what}".rstrip())


def _one_hot(doc: Mapping[str, Any], out: np.ndarray) -> None:
    tonal = doc["tonal"]
    for key, field, positions, start, width in _ONEHOT:
        value = _child(tonal, key, ("tonal",))
        position = positions.get(value) if isinstance(value, str) else None
        if position is None:
            raise UnknownCategory(f"{field} = {value!r} (expected one of {', '.join(positions)})")
        out[start:start + width] = 0.0
        out[position] = 1.0


def flatten_document(doc: Any, out: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Fill a float32 vector (``out`` if given, e.g. a row of a batch) in ``FEATURE_NAMES`` order.

    Returns (vector, imputed); raises a :class:`FeatureError` subclass for a bad document.
    """
    if out is None:
        out = np.empty(N_FEATURES, dtype=np.float32)
    imputed = False
    try:
        raw = _fast_values(doc)
        if len(raw) != N_NUMERIC:
            raise _Irregular
        values = np.frombuffer(_PACK.pack(*raw), dtype=np.float64)
    except (_Irregular, KeyError, IndexError, TypeError, OverflowError, AttributeError,
            struct.error):
        checked, imputed = _checked_values(doc)
        values = np.asarray(checked, dtype=np.float64)
    _check_finite(values)
    out[_DEST] = values
    _one_hot(doc, out)
    return out, imputed


def parse_document(data: bytes, out: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Parse one JSON document's bytes and flatten it (see :func:`flatten_document`).

    orjson refuses the bare ``NaN``/``Infinity`` tokens that some JSON writers emit; such a
    document is re-read with the tolerant standard parser so the error names the descriptor.
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):
            if error.pos >= len(data.rstrip()):
                raise TruncatedJSON(f"document ends after {len(data)} bytes: {error}") from None
            raise InvalidJSON(str(error)) from None
    return flatten_document(doc, out)


# ----------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    from abgd.progress import parse_step_args, step_parser

    parser = step_parser(
        "python -m abgd.features",
        "Check JSON documents against the 2669-feature schema, or regenerate the "
        "versioned names file from one complete real document.",
    )
    parser.add_argument("documents", nargs="*", type=Path, help="JSON files to check")
    parser.add_argument("--derive-from", type=Path, help="derive the names from this document")
    parser.add_argument("--out", type=Path, help="with --derive-from: write the names file here")
    args = parse_step_args(parser, argv)
    if args.derive_from:
        if args.out is None:
            parser.error("--derive-from needs --out")
        names = write_feature_names(args.derive_from, args.out)
        same = tuple(names) == FEATURE_NAMES
        log.info("wrote %d names to %s (%s the packaged v%d file)", len(names), args.out,
                 "identical to" if same else "DIFFERENT from", FEATURE_SCHEMA_VERSION)
    failed = 0
    for path in args.documents:
        try:
            _, imputed = parse_document(path.read_bytes())
        except FeatureError as error:
            failed += 1
            log.error("%s: %s", path, error.reason)
        else:
            log.info("%s: ok%s", path, " (imputed beats_loudness.median)" if imputed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
