"""The study's configuration: its schema, typed values, one short message for bad keys (library).

Snakemake validates a config against ``workflow/schemas/config.schema.yaml`` itself, but its
message for a bad key is a page long, and ``--config`` hands nested values over as strings
(``fusion={'dropout': '0.3'}`` may arrive as text). ``workflow/rules/common.smk`` therefore reads
the values as the schema's types first and names every bad key in one line each, here, where it
is unit-tested. jsonschema and PyYAML are imported where used.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def load_schema(path: Path | str) -> dict[str, Any]:
    import yaml

    with open(path) as handle:
        return yaml.safe_load(handle)


def coerce(value: Any, schema: dict[str, Any]) -> Any:
    """``value`` with strings read as the schema's types ("0.3" -> 0.3); mappings in place."""
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if isinstance(value, dict):
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                value[key] = coerce(item, sub)
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [coerce(item, schema["items"]) for item in value]
    if isinstance(value, str):
        if "integer" in kinds and _INTEGER.fullmatch(value):
            return int(value)
        if "number" in kinds and _NUMBER.fullmatch(value):
            return float(value)
        if "boolean" in kinds and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        if "null" in kinds and value.lower() in {"null", "none", "~"}:
            return None
    return value


def problems(config: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """One line per schema violation of ``config`` (coerced in place first), sorted."""
    import jsonschema

    coerce(config, schema)
    return sorted(
        f"  config key '{'.'.join(str(p) for p in error.absolute_path) or '<top>'}': "
        f"{error.message}"
        for error in jsonschema.Draft202012Validator(schema).iter_errors(config)
    )


def section_keys(schema: dict[str, Any], section: str) -> list[str]:
    """The keys of a config section, in the schema's order."""
    return list(schema["properties"][section]["properties"])
