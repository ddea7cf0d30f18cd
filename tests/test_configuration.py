"""Config values arrive typed, and bad keys are named one per line (abgd.configuration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from abgd.configuration import coerce, load_schema, problems, section_keys

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml")


@pytest.mark.parametrize(("value", "schema", "expected"), [
    ("0.3", {"type": "number"}, 0.3),
    ("1e-3", {"type": "number"}, 0.001),
    ("7", {"type": "integer"}, 7),
    ("7", {"type": "number"}, 7.0),
    ("True", {"type": "boolean"}, True),
    ("none", {"type": ["string", "null"]}, None),
    ("abc", {"type": "number"}, "abc"),         # left for the validator to name
    ("0.3", {"type": "string"}, "0.3"),
    (["1", "2"], {"type": "array", "items": {"type": "integer"}}, [1, 2]),
])
def test_strings_are_read_as_the_schemas_type(value, schema, expected):
    assert coerce(value, schema) == expected


def test_mappings_are_coerced_in_place_through_properties_and_additional_properties():
    config = {"fusion": {"dropout": "0.3"}, "download": {"md5": {"f": "x"}}, "other": "1"}
    schema = {"properties": {
        "fusion": {"properties": {"dropout": {"type": "number"}}},
        "download": {"properties": {"md5": {"additionalProperties": {"type": "string"}}}}}}
    assert coerce(config, schema) is config
    assert config == {"fusion": {"dropout": 0.3}, "download": {"md5": {"f": "x"}}, "other": "1"}


def test_every_bad_key_is_named_on_its_own_line():
    config = {"dataset": "demo", "sources": ["allmusic"], "download": {}, "features": {
        "archives": {"train": ["x"], "validation": []}}, "fusion": {"dropout": "high"},
        "nonsense": 1}
    lines = problems(config, SCHEMA)
    assert any("'fusion.dropout'" in line for line in lines)
    assert any("'features.archives.train.0'" in line for line in lines)
    assert any("nonsense" in line for line in lines)
    assert lines == sorted(lines)


def test_a_valid_config_has_no_problems():
    import yaml

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    assert problems(config, SCHEMA) == []


def test_section_keys_keep_the_schemas_order():
    assert section_keys(SCHEMA, "fusion") == ["dropout", "lr", "batch_size", "max_epochs",
                                              "patience"]
