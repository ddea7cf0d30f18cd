"""The 2669-name schema and the flattening, checked against the spec table and real documents.

Expected values come from a brute-force recursive flatten written here (not the module's plan),
and the expected names from the dataset spec's descriptor table (§3.3) and count rules (§4).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abgd import features as F

SHARED = Path(__file__).resolve().parents[2] / "shared"
JSON_DIR = SHARED / "data" / "lowlevel_json"
SPEC = SHARED / "reference" / "dataset-spec.md"
REAL_FILES = sorted(JSON_DIR.glob("*.json")) if JSON_DIR.is_dir() else []
KEYS = ["A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#"]
STATS9 = ["mean", "var", "median", "min", "max", "dmean", "dmean2", "dvar", "dvar2"]

needs_real = pytest.mark.skipif(not REAL_FILES, reason="../shared/data/lowlevel_json absent")


def brute_flatten(node, prefix=""):
    """Independent reference: every leaf by dotted name, list items by index."""
    out = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(brute_flatten(value, f"{prefix}.{key}" if prefix else key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.update(brute_flatten(value, f"{prefix}.{i}"))
    else:
        out[prefix] = node
    return out


def expected_vector(doc) -> np.ndarray:
    flat = brute_flatten(doc)
    values = []
    for name in F.FEATURE_NAMES:
        match = re.fullmatch(r"(tonal\.(?:key|chords)_(?:key|scale))_(.+)", name)
        if match:
            values.append(1.0 if flat[match.group(1)] == match.group(2) else 0.0)
        elif name == "rhythm.beats_loudness.median" and name not in flat:
            values.append(flat["rhythm.beats_loudness.mean"])
        else:
            values.append(flat[name])
    return np.array(values, dtype=np.float64).astype(np.float32)


def set_leaf(doc, dotted: str, value) -> None:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


@pytest.fixture(scope="module")
def base_doc():
    if not REAL_FILES:
        pytest.skip("../shared/data/lowlevel_json absent")
    return json.loads((JSON_DIR / "be9e01e5-8f93-494d-bbaa-ddcc5a52f629.json").read_text())


# ----------------------------------------------------------------------------- names


def names_from_spec_table(text: str) -> list[str]:
    """Build the names from the markdown table of spec §3.3 and the rules of §4."""
    section = text.split("### 3.3")[1].split("### 3.4")[0]
    leaves: list[str] = []
    strings: list[str] = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        name, kind, shape = cells[0].strip("`"), cells[1], cells[2]
        if kind == "scalar":
            leaves.append(name)
        elif kind == "stat-scalar":
            leaves += [f"{name}.{s}" for s in STATS9]
        elif kind == "stat-vector":
            leaves += [f"{name}.{s}.{i}" for s in STATS9 for i in range(int(shape))]
        elif kind == "mean+cov+icov":
            leaves += [f"{name}.mean.{i}" for i in range(13)]
            leaves += [f"{name}.{m}.{i}.{j}" for m in ("cov", "icov")
                       for i in range(13) for j in range(13)]
        elif kind == "vector (no stats)":
            if shape.startswith("variable"):
                continue  # beats_position: excluded
            leaves += [f"{name}.{i}" for i in range(int(shape))]
        elif kind == "string":
            strings.append(name)
        else:
            raise AssertionError(f"unexpected kind {kind!r} in spec table")
    leaves = [n for n in leaves if not n.startswith("rhythm.beats_loudness_band_ratio.median.")]
    names: list[str] = []
    for name in sorted(leaves + strings):
        if name in strings:
            values = KEYS if name.endswith("_key") else ["major", "minor"]
            names += [f"{name}_{v}" for v in values]
        else:
            names.append(name)
    return names


@pytest.mark.skipif(not SPEC.is_file(), reason="../shared/reference/dataset-spec.md absent")
def test_names_match_spec_table():
    names = names_from_spec_table(SPEC.read_text(encoding="utf-8"))
    assert len(names) == 2669
    assert tuple(names) == F.FEATURE_NAMES


def test_names_file_properties():
    names = F.FEATURE_NAMES
    assert len(names) == F.N_FEATURES == 2669 and len(set(names)) == 2669
    assert F.FEATURE_SCHEMA_VERSION == 1
    assert not any(n.startswith(("metadata.", "rhythm.beats_position")) for n in names)
    assert not any(n.startswith("rhythm.beats_loudness_band_ratio.median") for n in names)
    assert "rhythm.beats_loudness.median" in names
    assert "lowlevel.mfcc.cov.3.7" in names
    # lexicographic order of the dotted names: ".10" sorts before ".2"
    i10 = names.index("lowlevel.barkbands.mean.10")
    assert names.index("lowlevel.barkbands.mean.1") < i10 < names.index("lowlevel.barkbands.mean.2")
    # the one-hot block sits where the string column sorted
    start = names.index("tonal.key_key_A")
    assert names[start:start + 12] == tuple(f"tonal.key_key_{k}" for k in KEYS)
    assert names[start - 1] < "tonal.key_key" < names[start + 12 + 2]
    assert names[start + 12:start + 14] == ("tonal.key_scale_major", "tonal.key_scale_minor")


@needs_real
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name[:8])
def test_names_regenerate_from_every_real_json(path, tmp_path):
    doc = json.loads(path.read_text())
    assert tuple(F.derive_feature_names(doc)) == F.FEATURE_NAMES
    out = tmp_path / "names.txt"
    F.write_feature_names(path, out)
    assert F.read_feature_names(out.read_text()) == F.FEATURE_NAMES


# ----------------------------------------------------------------------------- values


@needs_real
@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name[:8])
def test_every_real_file_gives_2669_finite_values(path):
    vector, imputed = F.parse_document(path.read_bytes())
    assert vector.dtype == np.float32 and vector.shape == (2669,)
    assert np.isfinite(vector).all()
    assert not imputed
    np.testing.assert_array_equal(vector, expected_vector(json.loads(path.read_text())))
    for start in ("tonal.key_key_A", "tonal.chords_key_A"):
        i = F.FEATURE_NAMES.index(start)
        assert vector[i:i + 12].sum() == 1.0


def test_integers_are_read_as_floats(base_doc):
    doc = copy.deepcopy(base_doc)
    doc["lowlevel"]["spectral_spread"]["mean"] = 5486277
    doc["tonal"]["chords_strength"]["min"] = -1
    doc["lowlevel"]["barkbands"]["mean"][3] = 2
    vector, _ = F.parse_document(json.dumps(doc).encode())
    assert vector[F.FEATURE_NAMES.index("lowlevel.spectral_spread.mean")] == np.float32(5486277.0)
    assert vector[F.FEATURE_NAMES.index("tonal.chords_strength.min")] == -1.0
    assert vector[F.FEATURE_NAMES.index("lowlevel.barkbands.mean.3")] == 2.0
    as_float = json.dumps(doc).replace(": 5486277,", ": 5486277.0,").encode()
    np.testing.assert_array_equal(F.parse_document(as_float)[0], vector)


def test_booleans_read_as_numbers_on_both_paths(base_doc):
    doc = copy.deepcopy(base_doc)
    set_leaf(doc, "lowlevel.hfc.mean", True)
    set_leaf(doc, "lowlevel.hfc.max", False)
    fast, _ = F.flatten_document(doc)
    del doc["rhythm"]["beats_loudness"]["median"]  # forces the checked path
    slow, imputed = F.flatten_document(doc)
    assert imputed
    for vector in (fast, slow):
        assert vector[F.FEATURE_NAMES.index("lowlevel.hfc.mean")] == 1.0
        assert vector[F.FEATURE_NAMES.index("lowlevel.hfc.max")] == 0.0


def test_missing_beats_loudness_median_is_imputed_with_mean(base_doc):
    doc = copy.deepcopy(base_doc)
    doc["rhythm"]["beats_loudness"] = {s: 0 for s in STATS9 if s != "median"}
    doc["rhythm"]["beats_loudness"]["mean"] = 0.25
    del doc["rhythm"]["beats_loudness_band_ratio"]["median"]
    vector, imputed = F.parse_document(json.dumps(doc).encode())
    assert imputed
    assert vector[F.FEATURE_NAMES.index("rhythm.beats_loudness.median")] == 0.25
    assert vector[F.FEATURE_NAMES.index("rhythm.beats_loudness.var")] == 0.0


def test_missing_band_ratio_median_alone_changes_nothing(base_doc):
    doc = copy.deepcopy(base_doc)
    del doc["rhythm"]["beats_loudness_band_ratio"]["median"]
    doc["lowlevel"]["spectral_flux"]["stdev"] = 1.0  # a newer-extractor extra: ignored
    vector, imputed = F.flatten_document(doc)
    assert not imputed
    np.testing.assert_array_equal(vector, F.flatten_document(base_doc)[0])


def _mutated(doc, edit):
    doc = copy.deepcopy(doc)
    edit(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("edit", "error", "where"), [
    (lambda d: d["lowlevel"].pop("hfc"), F.MissingDescriptor, "lowlevel.hfc"),
    (lambda d: d["lowlevel"]["hfc"].pop("dvar"), F.MissingDescriptor, "lowlevel.hfc.dvar"),
    (lambda d: d.pop("tonal"), F.MissingDescriptor, "tonal"),
    (lambda d: d["tonal"].pop("key_scale"), F.MissingDescriptor, "tonal.key_scale"),
    (lambda d: d["lowlevel"]["barkbands"]["mean"].pop(), F.WrongLength, "lowlevel.barkbands.mean"),
    (lambda d: d["tonal"]["thpcp"].append(0.5), F.WrongLength, "tonal.thpcp"),
    (lambda d: d["lowlevel"]["mfcc"]["cov"][3].pop(), F.WrongLength, "lowlevel.mfcc.cov.3"),
    (lambda d: d["lowlevel"]["gfcc"]["icov"].pop(), F.WrongLength, "lowlevel.gfcc.icov"),
    (lambda d: set_leaf(d, "lowlevel.hfc.mean", "1.5"), F.WrongType, "lowlevel.hfc.mean"),
    (lambda d: set_leaf(d, "lowlevel.hfc.mean", None), F.WrongType, "lowlevel.hfc.mean"),
    (lambda d: set_leaf(d, "lowlevel.hfc.mean", [1.0]), F.WrongType, "lowlevel.hfc.mean"),
    (lambda d: set_leaf(d, "tonal.thpcp.4", "x"), F.WrongType, "tonal.thpcp.4"),
    (lambda d: set_leaf(d, "lowlevel.average_loudness", 1e39), F.NonFiniteValue,
     "lowlevel.average_loudness"),
    (lambda d: set_leaf(d, "tonal.key_key", "H"), F.UnknownCategory, "tonal.key_key"),
    (lambda d: set_leaf(d, "tonal.chords_key", "Bb"), F.UnknownCategory, "tonal.chords_key"),
    (lambda d: set_leaf(d, "tonal.chords_scale", "dorian"), F.UnknownCategory,
     "tonal.chords_scale"),
    (lambda d: set_leaf(d, "tonal.key_key", 3), F.UnknownCategory, "tonal.key_key"),
])
def test_bad_documents_raise_specific_errors(base_doc, edit, error, where):
    with pytest.raises(error) as info:
        F.parse_document(_mutated(base_doc, edit))
    assert where in info.value.reason
    assert info.value.reason.startswith(error.kind)
    assert "\n" not in info.value.reason and "\t" not in info.value.reason


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_tokens_name_the_descriptor(base_doc, token):
    text = json.dumps(_set_marker(base_doc)).replace("123456.789", token)
    with pytest.raises(F.NonFiniteValue) as info:
        F.parse_document(text.encode())
    assert "lowlevel.spectral_rms.dvar" in info.value.reason


def _set_marker(doc):
    doc = copy.deepcopy(doc)
    doc["lowlevel"]["spectral_rms"]["dvar"] = 123456.789
    return doc


@pytest.mark.parametrize(("data", "error"), [
    (b"", F.TruncatedJSON),
    (b'{"lowlevel": {"hfc": [1, 2', F.TruncatedJSON),
    (b'{"lowlevel": }', F.InvalidJSON),
    (b"\xff\xfe not json", F.InvalidJSON),
    (b"[1, 2, 3]", F.WrongType),
    (b'"text"', F.WrongType),
])
def test_invalid_json(data, error):
    with pytest.raises(error):
        F.parse_document(data)


def test_parse_fills_a_given_row_in_place(base_doc):
    batch = np.full((2, 2669), 7.0, dtype=np.float32)
    vector, _ = F.flatten_document(base_doc, batch[1])
    assert np.shares_memory(vector, batch)
    np.testing.assert_array_equal(batch[1], expected_vector(base_doc))
    assert (batch[0] == 7.0).all()


NUMERIC = [n for n in F.FEATURE_NAMES if not re.match(r"tonal\.(key|chords)_(key|scale)_", n)]
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(min_value=-(2**40), max_value=2**40),
)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.sampled_from(NUMERIC), numbers), max_size=25),
       key=st.sampled_from(KEYS), chords_key=st.sampled_from(KEYS),
       scale=st.sampled_from(["major", "minor"]))
def test_any_finite_values_flatten_like_brute_force(base_doc, edits, key, chords_key, scale):
    doc = copy.deepcopy(base_doc)
    for name, value in edits:
        set_leaf(doc, name, value)
    doc["tonal"]["key_key"], doc["tonal"]["chords_key"] = key, chords_key
    doc["tonal"]["key_scale"] = doc["tonal"]["chords_scale"] = scale
    vector, imputed = F.parse_document(json.dumps(doc).encode())
    assert not imputed
    np.testing.assert_array_equal(vector, expected_vector(doc))
    onehot = [n for n in F.FEATURE_NAMES if n not in NUMERIC]
    assert vector[[F.FEATURE_NAMES.index(n) for n in onehot]].sum() == 4.0


def test_cli_checks_documents(tmp_path, base_doc, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(base_doc))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"lowlevel": {}}))
    assert F.main([str(good)]) == 0
    assert F.main([str(good), str(bad)]) == 1
    with pytest.raises(SystemExit) as exit_info:
        F.main(["--help"])
    assert exit_info.value.code == 0
